package catalog

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
)

// Redemption is points exchanged for a product.
type Redemption struct {
	ID            string     `json:"redemption_id"`
	CustomerID    string     `json:"customer_id"`
	SKU           string     `json:"sku"`
	Quantity      int        `json:"quantity"`
	Points        int64      `json:"points,string"`
	Status        string     `json:"status"` // redeemed or cancelled
	EntryID       int64      `json:"entry_id"`
	CreatedAt     time.Time  `json:"created_at"`
	CancelledAt   *time.Time `json:"cancelled_at"`
	CancelEntryID *int64     `json:"cancel_entry_id"`
}

// RedemptionInput asks to redeem.
type RedemptionInput struct {
	ID         string `json:"redemption_id"`
	CustomerID string `json:"customer_id"`
	SKU        string `json:"sku"`
	Quantity   int    `json:"quantity"`
}

// Redemption ids travel in URL paths: no '/', '%', '?' or '#'.
var redemptionIDPattern = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,128}$`)

const maxQuantity = 1000

// Redeem exchanges the customer's points for q units of a product, once per
// redemption id: a retry answers the first redemption with replayed = true;
// the same id for another request is fault.IdempotencyConflict. Stock
// never goes below zero and per-customer limits hold under concurrency (the
// product's row is locked). Refused: nothing is written.
//
// Errors: fault.Invalid, fault.UnknownCustomer, fault.UnknownProduct,
// fault.NotEligible, fault.OutsideWindow, fault.OutOfStock, fault.LimitReached,
// fault.InsufficientPoints, fault.IdempotencyConflict.
func (s *Service) Redeem(ctx context.Context, in RedemptionInput, actor string) (Redemption, bool, error) {
	bad := map[string]string{}
	if !redemptionIDPattern.MatchString(in.ID) {
		bad["redemption_id"] = "1 to 128 letters, digits, '_', '.', ':' or '-'"
	}
	if !ledger.ValidCustomerID(in.CustomerID) {
		bad["customer_id"] = "1 to 64 letters, digits, '_', '.' or '-'"
	}
	if !ledger.ValidCustomerID(in.SKU) {
		bad["sku"] = "1 to 64 letters, digits, '_', '.' or '-'"
	}
	if in.Quantity < 1 || in.Quantity > maxQuantity {
		bad["quantity"] = "a whole number from 1 to 1000"
	}
	if len(bad) > 0 {
		return Redemption{}, false, &fault.Error{Code: fault.Invalid, Message: "the redemption is invalid", Fields: bad}
	}
	canon, _ := json.Marshal(in)
	hash := sha256.Sum256(canon)
	var (
		out      Redemption
		replayed bool
	)
	err := s.ledger.InTx(ctx, func(tx *ledger.Tx) error {
		replayed = false
		now := tx.Now()
		// Locks: the customer (its redemptions are serialised: limits), then
		// the product (stock), then the claim on the id, which a concurrent
		// twin waits on and then replays. The product is locked before the
		// claim's foreign key takes its share lock, never upgraded after.
		if _, err := loyalty.LockCustomer(ctx, tx, in.CustomerID); err != nil {
			return err
		}
		p, err := product(ctx, tx, in.SKU, true)
		if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `INSERT INTO redemptions (id, customer_id, sku, quantity, request_hash, created_at)
VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING`, in.ID, in.CustomerID, in.SKU, in.Quantity, hash[:], now)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			if out, err = redemption(ctx, tx, in.ID, false); err != nil {
				return err
			}
			replayed = true
			return sameRedemption(ctx, tx, in.ID, hash[:])
		}
		if !p.Active {
			return &fault.Error{Code: fault.UnknownProduct, Message: "product " + in.SKU + " is not in the catalogue"}
		}
		tier, err := s.customers.TierAt(ctx, tx, in.CustomerID, now)
		if err != nil {
			return err
		}
		redeemed, err := redeemedBy(ctx, tx, in.CustomerID, in.SKU)
		if err != nil {
			return err
		}
		points := p.PointsPrice * int64(in.Quantity)
		// Points are checked by the ledger's draw on the lots, in the same
		// transaction; here everything else.
		if err := eligible(p, in.Quantity, tier.Level, redeemed, math.MaxInt64, now); err != nil {
			return err
		}
		meta, _ := json.Marshal(map[string]any{"redemption_id": in.ID, "sku": in.SKU, "product": p.Name,
			"quantity": in.Quantity, "customer_id": in.CustomerID})
		entry, err := tx.Post(ctx, ledger.EntryInput{Kind: KindRedemption, Actor: actor, Metadata: meta,
			Postings: []ledger.PostingInput{
				{Account: ledger.CustomerAccount(in.CustomerID, "points"), Amount: decimal.NewFromInt(-points)},
				{Account: "platform:points:redeemed", Amount: decimal.NewFromInt(points)},
			}})
		if fault.CodeOf(err) == fault.InsufficientFunds {
			return &fault.Error{Code: fault.InsufficientPoints, Account: ledger.CustomerAccount(in.CustomerID, "points"),
				Message: fmt.Sprintf("%d points needed; the customer has fewer available (pending and expired points cannot be spent)", points)}
		}
		if err != nil {
			return err
		}
		if p.Stock != nil {
			if _, err := tx.Exec(ctx, `UPDATE products SET stock = stock - $2 WHERE sku = $1`, in.SKU, in.Quantity); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE redemptions SET points = $2, entry_id = $3 WHERE id = $1`, in.ID, points, entry.ID); err != nil {
			return err
		}
		out, err = redemption(ctx, tx, in.ID, false)
		return err
	})
	return out, replayed, err
}

func sameRedemption(ctx context.Context, tx pgx.Tx, id string, hash []byte) error {
	var stored []byte
	if err := tx.QueryRow(ctx, `SELECT request_hash FROM redemptions WHERE id = $1`, id).Scan(&stored); err != nil {
		return err
	}
	if string(stored) != string(hash) {
		return &fault.Error{Code: fault.IdempotencyConflict, Message: "redemption " + id + " was already made with other details"}
	}
	return nil
}

func redemption(ctx context.Context, tx pgx.Tx, id string, lock bool) (Redemption, error) {
	q := `SELECT id, customer_id, sku, quantity, points, coalesce(entry_id, 0), created_at, cancelled_at, cancel_entry_id
FROM redemptions WHERE id = $1`
	if lock {
		q += ` FOR UPDATE`
	}
	var r Redemption
	err := tx.QueryRow(ctx, q, id).Scan(&r.ID, &r.CustomerID, &r.SKU, &r.Quantity, &r.Points, &r.EntryID, &r.CreatedAt,
		&r.CancelledAt, &r.CancelEntryID)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, fault.Errorf(fault.NotFound, "no redemption %s", id)
	}
	r.Status = "redeemed"
	if r.CancelledAt != nil {
		r.Status = "cancelled"
	}
	return r, err
}

// Redemption reads one.
//
// Errors: fault.NotFound.
func (s *Service) Redemption(ctx context.Context, id string) (Redemption, error) {
	var r Redemption
	err := s.ledger.InTx(ctx, func(tx *ledger.Tx) error {
		var err error
		r, err = redemption(ctx, tx, id, false)
		return err
	})
	return r, err
}

// CancelRedemption returns the points to the lots they came from (with their
// original expiry) and restores the stock. A redemption is cancelled once.
//
// Errors: fault.NotFound, fault.AlreadyCancelled.
func (s *Service) CancelRedemption(ctx context.Context, id, reason, actor string) (Redemption, error) {
	return s.cancelRedemption(ctx, id, reason, actor, "", nil)
}

// CancelRedemptionWithKey is CancelRedemption made safe to retry: the
// cancellation records the idempotency key and the hash of the request, and
// a later request with both (a retry, or a twin racing the original) answers
// the cancellation it made with replayed = true. Any other request on a
// cancelled redemption is fault.AlreadyCancelled.
//
// Errors: as CancelRedemption, and fault.IdempotencyConflict (the key was
// used for another request).
func (s *Service) CancelRedemptionWithKey(ctx context.Context, id, reason, actor, key string, hash []byte) (Redemption, bool, error) {
	r, err := s.cancelRedemption(ctx, id, reason, actor, key, hash)
	if key == "" || fault.CodeOf(err) != fault.AlreadyCancelled {
		return r, false, err
	}
	e, found, rerr := s.ledger.Replay(ctx, key, hash)
	if rerr != nil || !found {
		return Redemption{}, false, cmp.Or(rerr, err)
	}
	if r, err = s.Redemption(ctx, id); err != nil {
		return Redemption{}, false, err
	}
	if r.CancelEntryID == nil || *r.CancelEntryID != e.ID {
		return Redemption{}, false, fault.Errorf(fault.IdempotencyConflict,
			"this idempotency key was already used for a different request (entry %d)", e.ID)
	}
	return r, true, nil
}

func (s *Service) cancelRedemption(ctx context.Context, id, reason, actor, key string, hash []byte) (Redemption, error) {
	reason = strings.TrimSpace(reason)
	if reason == "" {
		reason = "redemption cancelled"
	}
	var out Redemption
	err := s.ledger.InTx(ctx, func(tx *ledger.Tx) error {
		r, err := redemption(ctx, tx, id, true)
		if err != nil {
			return err
		}
		if r.CancelledAt != nil {
			return &fault.Error{Code: fault.AlreadyCancelled, Message: "redemption " + id + " was cancelled at " +
				r.CancelledAt.Format(time.RFC3339)}
		}
		// The same order as Redeem: customer, product, then the books.
		if _, err := loyalty.LockCustomer(ctx, tx, r.CustomerID); err != nil {
			return err
		}
		if _, err := product(ctx, tx, r.SKU, true); err != nil {
			return err
		}
		entry, err := tx.Reverse(ctx, r.EntryID, ledger.ReversalInput{Actor: actor, Reason: reason, Kind: KindCancelled,
			IdempotencyKey: key, RequestHash: hash})
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE products SET stock = stock + $2 WHERE sku = $1 AND stock IS NOT NULL`, r.SKU, r.Quantity); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE redemptions SET cancelled_at = $2, cancel_entry_id = $3 WHERE id = $1`,
			id, tx.Now(), entry.ID); err != nil {
			return err
		}
		out, err = redemption(ctx, tx, id, false)
		return err
	})
	return out, err
}
