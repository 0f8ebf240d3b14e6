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
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
	"github.com/tally-ledger/tally/notify"
)

// Redemption is points exchanged for a product.
type Redemption struct {
	ID            string     `json:"redemption_id"`
	Space         string     `json:"space"` // whose id it is: see RedemptionInput.Space
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
	// Space is the space the id lives in (ledger.APIKey.Space of the key
	// that redeems): ids are unique per space.
	Space string `json:"-"`
	// Preview asks what redeeming would answer now, writing nothing
	// (ledger.Preview): the redemption runs as it would and its
	// transaction is rolled back. Its answer's EntryID is an entry that was
	// never committed; an id already redeemed answers as a replay.
	Preview bool `json:"-"`
}

// Redemption ids travel in URL paths: no '/', '%', '?' or '#'.
var redemptionIDPattern = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,128}$`)

const maxQuantity = 1000

// Redeem exchanges the customer's points for q units of a product, once per
// space and redemption id: a retry answers the first redemption with replayed = true;
// the same id for another request is fault.IdempotencyConflict. Stock
// never goes below zero and per-customer limits hold under concurrency (the
// product's row is locked). Refused: nothing is written. A redemption is
// announced (redemption.created) in its transaction; a replay announces
// nothing again. Redemptions are made in groups (groups.go), one
// transaction for those that queued meanwhile, each refused alone; a
// preview runs alone, in a transaction rolled back.
//
// Errors: fault.Invalid, fault.UnknownCustomer, fault.UnknownProduct,
// fault.NotEligible, fault.OutsideWindow, fault.OutOfStock, fault.LimitReached,
// fault.InsufficientPoints, fault.IdempotencyConflict.
func (s *Service) Redeem(ctx context.Context, in RedemptionInput, actor string) (Redemption, bool, error) {
	bad := map[string]string{}
	if !redemptionIDPattern.MatchString(in.ID) || ledger.DotSegment(in.ID) {
		bad["redemption_id"] = "1 to 128 letters, digits, '_', '.', ':' or '-'; not . or .."
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
	j := newRedeemJob(in, actor)
	if !in.Preview {
		r, err := s.redemptions.Submit([]redeemJob{j})[0].Wait(ctx)
		if err == nil {
			err = r.err
		}
		return r.r, r.replayed, err
	}
	// A featured product is locked for its stock (lockForRedemption):
	// its previews take turns too.
	keys := []string{loyalty.PreviewKey(in.CustomerID)}
	var featured bool
	err := s.db.QueryRow(ctx, `SELECT kind = 'featured' FROM products WHERE sku = $1`, in.SKU).Scan(&featured)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return Redemption{}, false, err
	}
	if featured {
		keys = append(keys, "product:"+in.SKU)
	}
	var r redeemResult
	err = s.ledger.Preview(ctx, keys, func(tx *ledger.Tx) (err error) {
		r, err = s.redeemTx(ctx, tx, j, false)
		return err
	})
	return r.r, r.replayed, err
}

// redeemJob is a checked redemption to make.
type redeemJob struct {
	in    RedemptionInput
	actor string
	hash  [sha256.Size]byte // of the request: its replays must match it
}

func newRedeemJob(in RedemptionInput, actor string) redeemJob {
	canon, _ := json.Marshal(in)
	return redeemJob{in: in, actor: actor, hash: sha256.Sum256(canon)}
}

// redeemResult is what redeeming answered: the redemption, whether it
// was a replay, or its refusal.
type redeemResult struct {
	r        Redemption
	replayed bool
	err      error
}

// redeemTx makes the redemption j in tx, or answers the one made earlier
// with its id; a refusal is its error. It locks the customer first, unless
// tx holds their lock already (locked).
func (s *Service) redeemTx(ctx context.Context, tx *ledger.Tx, j redeemJob, locked bool) (redeemResult, error) {
	in, actor, hash := j.in, j.actor, j.hash
	// Locks: the customer (its redemptions are serialised: limits), then
	// the product (lockForRedemption: its stock, or its terms), then the
	// claim on the id, which a concurrent twin waits on and then replays.
	// The product is locked before the claim's foreign key takes its key
	// share lock, never upgraded after.
	if !locked {
		if _, err := loyalty.LockCustomer(ctx, tx, in.CustomerID); err != nil {
			return redeemResult{}, err
		}
	}
	// The customer is locked (here, or by the group): their points are what
	// they hold now, and the redemption is made, and dated, from now
	// (ledger.Tx.Restamp).
	tx.Restamp()
	now := tx.Now()
	if s.afterRestamp != nil {
		s.afterRestamp()
	}
	p, err := lockForRedemption(ctx, tx, in.SKU)
	if err != nil {
		return redeemResult{}, err
	}
	// The claim, and the units of the product the customer holds (read
	// whether the claim is new or not), in one round trip.
	var (
		b        pgx.Batch
		claimed  bool
		redeemed int
	)
	b.Queue(`INSERT INTO redemptions (space, id, customer_id, sku, quantity, request_hash, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (space, id) DO NOTHING`, in.Space, in.ID, in.CustomerID, in.SKU, in.Quantity, hash[:], now).
		Exec(func(tag pgconn.CommandTag) error {
			claimed = tag.RowsAffected() > 0
			return nil
		})
	queueRedeemedBy(&b, in.CustomerID, in.SKU, &redeemed)
	if err := tx.SendBatch(ctx, &b).Close(); err != nil {
		return redeemResult{}, err
	}
	if !claimed {
		out, err := redemption(ctx, tx, in.Space, in.ID, false)
		if err != nil {
			return redeemResult{}, err
		}
		return redeemResult{r: out, replayed: true}, sameRedemption(ctx, tx, in.Space, in.ID, hash[:])
	}
	if !p.Active {
		return redeemResult{}, &fault.Error{Code: fault.UnknownProduct, Message: "product " + in.SKU + " is not in the catalogue"}
	}
	tier, err := s.customers.TierAt(ctx, tx, in.CustomerID, now)
	if err != nil {
		return redeemResult{}, err
	}
	points := p.PointsPrice * int64(in.Quantity)
	// Points are checked by the ledger's draw on the lots, in the same
	// transaction; here everything else.
	if err := eligible(p, in.Quantity, tier.Level, redeemed, math.MaxInt64, now); err != nil {
		return redeemResult{}, err
	}
	// What the customer owes is settled before they spend.
	if _, err := loyalty.SettleOwed(ctx, tx, in.CustomerID, actor); err != nil {
		return redeemResult{}, err
	}
	meta, _ := json.Marshal(map[string]any{"redemption_id": in.ID, "sku": in.SKU, "product": p.Name,
		"quantity": in.Quantity, "customer_id": in.CustomerID})
	entry, err := tx.Post(ctx, ledger.EntryInput{Kind: KindRedemption, Actor: actor, Metadata: meta,
		Postings: []ledger.PostingInput{
			{Account: ledger.CustomerAccount(in.CustomerID, "points"), Amount: decimal.NewFromInt(-points)},
			{Account: "platform:points:redeemed", Amount: decimal.NewFromInt(points)},
		}})
	if fault.CodeOf(err) == fault.InsufficientFunds {
		return redeemResult{}, &fault.Error{Code: fault.InsufficientPoints, Account: ledger.CustomerAccount(in.CustomerID, "points"),
			Message: fmt.Sprintf("%d points needed; the customer has fewer available (pending and expired points cannot be spent)", points)}
	}
	if err != nil {
		return redeemResult{}, err
	}
	// The stock taken, the claim completed and read back as a replay
	// reads it, in one round trip.
	var (
		done pgx.Batch
		out  Redemption
	)
	if p.Stock != nil {
		done.Queue(`UPDATE products SET stock = stock - $2 WHERE sku = $1`, in.SKU, in.Quantity)
	}
	done.Queue(`UPDATE redemptions SET points = $3, entry_id = $4 WHERE space = $1 AND id = $2`, in.Space, in.ID, points, entry.ID)
	done.Queue(qRedemption, spaceArg(in.Space), in.ID).Query(func(rows pgx.Rows) (err error) {
		out, err = collectRedemption(rows, in.ID)
		return err
	})
	if err := tx.SendBatch(ctx, &done).Close(); err != nil {
		return redeemResult{}, err
	}
	_, err = notify.Emit(ctx, tx, notify.Event{Type: notify.RedemptionCreated, Customer: out.CustomerID,
		OccurredAt: out.CreatedAt, Payload: noticeOf(out, "")})
	return redeemResult{r: out}, err
}

// RedemptionNotice is the payload of the redemption.created and
// redemption.cancelled notifications, written in the transaction of the
// redemption or of its cancellation: the redemption as answered, and for a
// cancellation when, by which entry and why.
type RedemptionNotice struct {
	ID            string     `json:"redemption_id"`
	Space         string     `json:"space"`
	SKU           string     `json:"sku"`
	Quantity      int        `json:"quantity"`
	Points        int64      `json:"points,string"`
	EntryID       int64      `json:"entry_id"`
	CreatedAt     time.Time  `json:"created_at"`
	CancelledAt   *time.Time `json:"cancelled_at,omitempty"`
	CancelEntryID *int64     `json:"cancel_entry_id,omitempty"`
	Reason        string     `json:"reason,omitempty"`
}

// noticeOf is what r announces; reason is a cancellation's.
func noticeOf(r Redemption, reason string) RedemptionNotice {
	n := RedemptionNotice{ID: r.ID, Space: r.Space, SKU: r.SKU, Quantity: r.Quantity, Points: r.Points, EntryID: r.EntryID,
		CreatedAt: r.CreatedAt.UTC(), CancelEntryID: r.CancelEntryID, Reason: reason}
	if r.CancelledAt != nil {
		at := r.CancelledAt.UTC()
		n.CancelledAt = &at
	}
	return n
}

func sameRedemption(ctx context.Context, tx pgx.Tx, space, id string, hash []byte) error {
	var stored []byte
	if err := tx.QueryRow(ctx, `SELECT request_hash FROM redemptions WHERE space = $1 AND id = $2`, space, id).Scan(&stored); err != nil {
		return err
	}
	return sameHash(id, stored, hash)
}

// sameHash refuses redemption id, made with the request whose hash is
// stored, asked again with the request whose hash is hash, when they
// differ.
func sameHash(id string, stored, hash []byte) error {
	if string(stored) != string(hash) {
		return &fault.Error{Code: fault.IdempotencyConflict, Message: "redemption " + id + " was already made with other details"}
	}
	return nil
}

// redemption reads redemption id of the space; of any space when space is
// AnySpace, provided only one holds it.
func redemption(ctx context.Context, tx pgx.Tx, space, id string, lock bool) (Redemption, error) {
	q := qRedemption
	if lock {
		q += ` FOR UPDATE`
	}
	rows, err := tx.Query(ctx, q, spaceArg(space), id)
	if err != nil {
		return Redemption{}, err
	}
	return collectRedemption(rows, id)
}

const qRedemption = `SELECT space, id, customer_id, sku, quantity, points, coalesce(entry_id, 0), created_at, cancelled_at, cancel_entry_id
FROM redemptions WHERE id = $2 AND (space = $1 OR $1 IS NULL) LIMIT 2`

// spaceArg is qRedemption's $1 for the space: NULL for AnySpace.
func spaceArg(space string) *string {
	if space == ledger.AnySpace {
		return nil
	}
	return &space
}

// collectRedemption reads the rows of qRedemption: the one redemption id.
func collectRedemption(rows pgx.Rows, id string) (Redemption, error) {
	found, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Redemption, error) {
		var r Redemption
		err := row.Scan(redemptionFields(&r)...)
		return r, err
	})
	if err != nil {
		return Redemption{}, err
	}
	switch len(found) {
	case 0:
		return Redemption{}, fault.Errorf(fault.NotFound, "no redemption %s", id)
	case 2:
		return Redemption{}, fault.Errorf(fault.AmbiguousID, "redemption %s is held by several spaces: name one", id)
	}
	return found[0].status(), nil
}

// redemptionFields are the fields of r that the columns of qRedemption
// scan into, in their order.
func redemptionFields(r *Redemption) []any {
	return []any{&r.Space, &r.ID, &r.CustomerID, &r.SKU, &r.Quantity, &r.Points, &r.EntryID, &r.CreatedAt,
		&r.CancelledAt, &r.CancelEntryID}
}

// status is r, read back, with its status set: cancelled or redeemed.
func (r Redemption) status() Redemption {
	r.Status = "redeemed"
	if r.CancelledAt != nil {
		r.Status = "cancelled"
	}
	return r
}

// CancelRedemption returns the points to the lots they came from (with their
// original expiry) and restores the stock; the points returned settle what
// the customer owes first (loyalty.SettleOwed), and announces the
// cancellation (redemption.cancelled) with its reason. A redemption is
// cancelled once. It is redemption id of the space (ledger.AnySpace: of any space,
// provided only one holds it).
//
// Errors: fault.NotFound, fault.AmbiguousID, fault.AlreadyCancelled.
func (s *Service) CancelRedemption(ctx context.Context, space, id, reason, actor string) (Redemption, error) {
	return s.cancelRedemption(ctx, space, id, reason, actor, "", nil)
}

// CancelRedemptionWithKey is CancelRedemption made safe to retry: the
// cancellation records the idempotency key and the hash of the request, and
// a later request with both (a retry, or a twin racing the original) answers
// the cancellation it made with replayed = true. Any other request on a
// cancelled redemption is fault.AlreadyCancelled.
//
// Errors: as CancelRedemption, and fault.IdempotencyConflict (the key was
// used for another request).
func (s *Service) CancelRedemptionWithKey(ctx context.Context, space, id, reason, actor, key string, hash []byte) (Redemption, bool, error) {
	r, err := s.cancelRedemption(ctx, space, id, reason, actor, key, hash)
	if key == "" || fault.CodeOf(err) != fault.AlreadyCancelled {
		return r, false, err
	}
	e, found, rerr := s.ledger.Replay(ctx, key, hash)
	if rerr != nil || !found {
		return Redemption{}, false, cmp.Or(rerr, err)
	}
	// The redemption the key's entry cancelled, as it is now.
	err = s.ledger.InTx(ctx, func(tx *ledger.Tx) error {
		var sp string
		err := tx.QueryRow(ctx, `SELECT space FROM redemptions WHERE id = $1 AND cancel_entry_id = $2`, id, e.ID).Scan(&sp)
		if errors.Is(err, pgx.ErrNoRows) {
			return fault.Errorf(fault.IdempotencyConflict, "this idempotency key was already used for a different request (entry %d)", e.ID)
		}
		if err != nil {
			return err
		}
		r, err = redemption(ctx, tx, sp, id, false)
		return err
	})
	if err != nil {
		return Redemption{}, false, err
	}
	return r, true, nil
}

func (s *Service) cancelRedemption(ctx context.Context, space, id, reason, actor, key string, hash []byte) (Redemption, error) {
	reason = strings.TrimSpace(reason)
	if reason == "" {
		reason = "redemption cancelled"
	}
	var out Redemption
	err := s.ledger.InTx(ctx, func(tx *ledger.Tx) error {
		r, err := redemption(ctx, tx, space, id, true)
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
		// The customer is locked: the points returned and what they
		// settle are dated from now, after whatever reached the customer
		// while this waited (ledger.Tx.Restamp), as a redemption is.
		tx.Restamp()
		if _, err := lockForRedemption(ctx, tx, r.SKU); err != nil {
			return err
		}
		entry, err := tx.Reverse(ctx, r.EntryID, ledger.ReversalInput{Actor: actor, Reason: reason, Kind: KindCancelled,
			IdempotencyKey: key, RequestHash: hash})
		if err != nil {
			return err
		}
		// The points returned settle what the customer owes first, those
		// returned expired too where the redemption left the debt.
		if _, err := loyalty.SettleOwedOnReturn(ctx, tx, r.CustomerID, actor, r.EntryID, entry.ID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE products SET stock = stock + $2 WHERE sku = $1 AND stock IS NOT NULL`, r.SKU, r.Quantity); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE redemptions SET cancelled_at = $3, cancel_entry_id = $4 WHERE space = $1 AND id = $2`,
			r.Space, id, tx.Now(), entry.ID); err != nil {
			return err
		}
		if out, err = redemption(ctx, tx, r.Space, id, false); err != nil {
			return err
		}
		_, err = notify.Emit(ctx, tx, notify.Event{Type: notify.RedemptionCancelled, Customer: out.CustomerID,
			OccurredAt: *out.CancelledAt, Payload: noticeOf(out, reason)})
		return err
	})
	return out, err
}

// Why a redemption listed by CustomerRedemptions may not be cancelled.
const (
	// NotCancellableCancelled: it is cancelled already.
	NotCancellableCancelled = "already_cancelled"
	// NotCancellableOtherSpace: it was made by a key of another space (a
	// partner's, for a customer who asks): only that space, or an admin,
	// cancels it.
	NotCancellableOtherSpace = "other_space"
)

// MaxRedemptionsPage is the most redemptions CustomerRedemptions answers at
// once.
const MaxRedemptionsPage = 500

// CustomerRedemption is a redemption as the space that lists it sees it:
// whether it may cancel it now, and if not why.
type CustomerRedemption struct {
	Redemption
	Product     string `json:"product"` // the product's name
	Cancellable bool   `json:"cancellable"`
	// Reason is why it may not be cancelled: NotCancellableCancelled or
	// NotCancellableOtherSpace; empty when it may.
	Reason string `json:"reason,omitempty"`
}

// CustomerRedemptions lists the customer's redemptions in every space,
// newest (the latest recorded) first, at most limit of them, those recorded
// before the redemption whose entry is before when it is not 0. next is the
// cursor of the following page (the entry id of this page's last
// redemption), 0 on the last page. Each says whether space may cancel it:
// a redemption not cancelled of space itself, or of any space when space is
// ledger.AnySpace.
//
// Errors: fault.Invalid (limit outside 1 to MaxRedemptionsPage, a negative
// cursor), fault.UnknownCustomer.
func (s *Service) CustomerRedemptions(ctx context.Context, customerID, space string, before int64, limit int) (
	[]CustomerRedemption, int64, error) {
	if limit < 1 || limit > MaxRedemptionsPage || before < 0 {
		return nil, 0, fault.Errorf(fault.Invalid, "a page is 1 to %d redemptions, from a cursor of an earlier page", MaxRedemptionsPage)
	}
	var (
		out  []CustomerRedemption
		next int64
	)
	err := s.ledger.InTx(ctx, func(tx *ledger.Tx) error {
		out, next = []CustomerRedemption{}, 0
		if _, err := loyalty.ReadCustomer(ctx, tx, customerID); err != nil {
			return err
		}
		// Every redemption committed has its entry (Redeem sets it in the
		// transaction that inserts it); entry ids order them as recorded.
		rows, err := tx.Query(ctx, `SELECT r.space, r.id, r.customer_id, r.sku, r.quantity, r.points, r.entry_id, r.created_at,
	r.cancelled_at, r.cancel_entry_id, p.name
FROM redemptions r JOIN products p ON p.sku = r.sku
WHERE r.customer_id = $1 AND r.entry_id IS NOT NULL AND ($2::bigint = 0 OR r.entry_id < $2)
ORDER BY r.entry_id DESC LIMIT $3`, customerID, before, limit+1)
		if err != nil {
			return err
		}
		found, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (CustomerRedemption, error) {
			var cr CustomerRedemption
			r := &cr.Redemption
			err := row.Scan(&r.Space, &r.ID, &r.CustomerID, &r.SKU, &r.Quantity, &r.Points, &r.EntryID, &r.CreatedAt,
				&r.CancelledAt, &r.CancelEntryID, &cr.Product)
			return cr, err
		})
		if err != nil {
			return err
		}
		if len(found) > limit {
			found = found[:limit]
			next = found[limit-1].EntryID
		}
		for _, cr := range found {
			cr.Status = "redeemed"
			switch {
			case cr.CancelledAt != nil:
				cr.Status, cr.Reason = "cancelled", NotCancellableCancelled
			case space != ledger.AnySpace && cr.Space != space:
				cr.Reason = NotCancellableOtherSpace
			default:
				cr.Cancellable = true
			}
			out = append(out, cr)
		}
		return nil
	})
	return out, next, err
}

// Redemption reads redemption id of the space (ledger.AnySpace: of any
// space, provided only one holds it).
//
// Errors: fault.NotFound, fault.AmbiguousID.
func (s *Service) Redemption(ctx context.Context, space, id string) (Redemption, error) {
	var out Redemption
	err := s.ledger.InTx(ctx, func(tx *ledger.Tx) error {
		var err error
		out, err = redemption(ctx, tx, space, id, false)
		return err
	})
	return out, err
}
