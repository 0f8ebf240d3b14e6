package loyalty

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/money"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/rules"
)

// Customer is a registered customer.
type Customer struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	ReferredBy *string   `json:"referred_by"`
	CreatedAt  time.Time `json:"created_at"`
}

// CreateCustomer registers a customer, optionally referred by an existing
// one, and opens their points account. Registering the same customer again with the same data is a no-op
// that reports created = false.
//
// Errors: fault.Invalid, fault.SelfReferral, fault.UnknownReferrer,
// fault.ReferrerImmutable, fault.CustomerConflict.
func (s *Service) CreateCustomer(ctx context.Context, c Customer) (Customer, bool, error) {
	c.Name = strings.TrimSpace(c.Name)
	switch {
	case !ledger.ValidCustomerID(c.ID):
		return c, false, fault.InvalidField("id", "1 to 64 letters, digits, '_', '.' or '-'")
	case c.Name == "" || len(c.Name) > 200:
		return c, false, fault.InvalidField("name", "required, at most 200 characters")
	case c.ReferredBy != nil && *c.ReferredBy == c.ID:
		return c, false, &fault.Error{Code: fault.SelfReferral, Message: "a customer cannot refer themself"}
	case c.ReferredBy != nil && !ledger.ValidCustomerID(*c.ReferredBy):
		return c, false, &fault.Error{Code: fault.UnknownReferrer, Message: "no customer " + *c.ReferredBy + " to refer"}
	}
	created := false
	err := s.ledger.InTx(ctx, func(tx *ledger.Tx) error {
		created = false
		if c.ReferredBy != nil {
			var ok bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM customers WHERE id = $1)`, *c.ReferredBy).Scan(&ok); err != nil {
				return err
			}
			if !ok {
				return &fault.Error{Code: fault.UnknownReferrer, Message: "referrer " + *c.ReferredBy + " must be registered first"}
			}
		}
		tag, err := tx.Exec(ctx, `INSERT INTO customers (id, name, referred_by, created_at) VALUES ($1, $2, $3, $4)
ON CONFLICT (id) DO NOTHING`, c.ID, c.Name, c.ReferredBy, tx.Now())
		if err != nil {
			return err
		}
		created = tag.RowsAffected() == 1
		if created {
			// Opened now, so that the customer's first event need not.
			if err := tx.OpenAccounts(ctx, ledger.CustomerAccount(c.ID, "points")); err != nil {
				return err
			}
		}
		existing, err := customer(ctx, tx, c.ID, false)
		if err != nil {
			return err
		}
		if !created {
			if !sameReferrer(existing.ReferredBy, c.ReferredBy) {
				return &fault.Error{Code: fault.ReferrerImmutable, Message: "customer " + c.ID + "'s referrer is set once and never changes"}
			}
			if existing.Name != c.Name {
				return &fault.Error{Code: fault.CustomerConflict, Message: "customer " + c.ID + " is already registered with other data"}
			}
		}
		c = existing
		return nil
	})
	return c, created, err
}

func sameReferrer(a, b *string) bool {
	return (a == nil) == (b == nil) && (a == nil || *a == *b)
}

// LockCustomer reads the customer and locks their row until tx ends. Every
// write that concerns a customer (an event, a redemption, a money movement)
// takes this lock first, so that one customer's writes are serialised and
// each prices from settled state. The lock is FOR NO KEY UPDATE: the
// writers exclude each other, while a row that only refers to the customer
// (a portal session, a portal link: their foreign key's check takes KEY
// SHARE) is written without waiting for them, even for the length of an
// expiry run's undo, which holds every one of its customers.
//
// A transaction that wrote or locked a row before (so holds its
// transaction id already) and waited for the customer's lock is refused,
// for its caller to retry, when a notification of the customer committed
// meanwhile with a later id (queueNoticesFollow): the customer's
// notifications follow the order they committed in.
//
// Errors: fault.UnknownCustomer.
func LockCustomer(ctx context.Context, tx *ledger.Tx, id string) (Customer, error) {
	var (
		b   pgx.Batch
		c   Customer
		err error
	)
	b.Queue(qCustomer+` FOR NO KEY UPDATE`, id).QueryRow(func(row pgx.Row) error {
		err = row.Scan(&c.ID, &c.Name, &c.ReferredBy, &c.CreatedAt)
		return nil // the scan's error is read below; the check after it runs either way (an unknown customer has no notices)
	})
	queueNoticesFollow(&b, []string{id}, false)
	if berr := tx.SendBatch(ctx, &b).Close(); berr != nil {
		return c, berr
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return c, &fault.Error{Code: fault.UnknownCustomer, Message: "no customer " + id}
	}
	return c, err
}

// ReadCustomer reads the customer in tx without locking them.
//
// Errors: fault.UnknownCustomer.
func ReadCustomer(ctx context.Context, tx *ledger.Tx, id string) (Customer, error) {
	return customer(ctx, tx, id, false)
}

const qCustomer = `SELECT id, name, referred_by, created_at FROM customers WHERE id = $1`

// customer reads a customer, locking the row for the transaction when lock:
// every event of a customer holds this lock, so that contribution, tier and
// points are computed from settled state.
func customer(ctx context.Context, tx pgx.Tx, id string, lock bool) (Customer, error) {
	q := qCustomer
	if lock {
		q += ` FOR NO KEY UPDATE`
	}
	var c Customer
	err := tx.QueryRow(ctx, q, id).Scan(&c.ID, &c.Name, &c.ReferredBy, &c.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return c, &fault.Error{Code: fault.UnknownCustomer, Message: "no customer " + id}
	}
	return c, err
}

// Profile is a customer with their tier, contribution and progress.
type Profile struct {
	Customer
	RuleVersion int           `json:"rule_version"`
	Segment     string        `json:"segment"`
	Level       int           `json:"level"`
	TierBasis   rules.Basis   `json:"tier_basis"`
	LastMonth   Contribution  `json:"last_month"`
	ThisMonth   Contribution  `json:"this_month"`
	NextLevel   *rules.Target `json:"next_level"`
	NextSegment *rules.Target `json:"next_segment"`
	Points      PointsSummary `json:"points"`
	// Lifecycle is the customer's stage at the end of last month, the last
	// whole one (rules.Lifecycle.StageOf).
	Lifecycle rules.Stage `json:"lifecycle"`
}

// Contribution is a month's CNY spent on shipments, net of refunds.
type Contribution struct {
	Month  rules.Month `json:"month"`
	Amount money.CNY   `json:"amount"`
}

// PointsSummary splits a customer's points balance by its lots: pending
// points (referral bonuses inside their return window) and expired points
// (awaiting the expiry run) cannot be spent. Owed are the points refunds
// could not take back (owed.go); the customer's next write settles them
// from their available points first, so Available is net of them.
type PointsSummary struct {
	Balance   int64 `json:"balance,string"`
	Available int64 `json:"available,string"`
	Pending   int64 `json:"pending,string"`
	// ExpiringSoon are available points that expire within 30 days.
	ExpiringSoon int64 `json:"expiring_soon,string"`
	Owed         int64 `json:"owed,string"`
}

// summarise is the summary of the customer's lots and what they owe.
func summarise(l ledger.LotSummary, owed int64) PointsSummary {
	return PointsSummary{Balance: l.Balance, Available: max(0, l.Available-owed), Pending: l.Pending,
		ExpiringSoon: l.Expiring, Owed: owed}
}

// expiringSoon is the horizon of PointsSummary.ExpiringSoon.
const expiringSoon = 30 * 24 * time.Hour

// Profile reads a customer's tier and progress now.
//
// Errors: fault.UnknownCustomer.
func (s *Service) Profile(ctx context.Context, id string) (Profile, error) {
	var p Profile
	err := s.ledger.InTxGeneric(ctx, func(tx *ledger.Tx) error {
		now := tx.Now()
		c, err := customer(ctx, tx, id, false)
		if err != nil {
			return err
		}
		rs, err := s.rulesAt(ctx, tx, now)
		if err != nil {
			return err
		}
		st, err := monthState(ctx, tx, rs, id, now)
		if err != nil {
			return err
		}
		points, err := PointsSummaryIn(ctx, tx, id)
		if err != nil {
			return err
		}
		tier, basis := rs.TierInEffect(st.last.Amount.Decimal, st.this.Amount.Decimal)
		p = Profile{Customer: c, RuleVersion: rs.Version, Segment: tier.Segment, Level: tier.Level, TierBasis: basis,
			LastMonth: st.last, ThisMonth: st.this, Points: points}
		p.NextLevel, p.NextSegment = rs.Progress(tier, st.this.Amount.Decimal)
		p.Lifecycle, err = s.stageOf(ctx, tx, id, st.last.Month)
		return err
	})
	return p, err
}

// TierAt is the customer's tier in effect at t, by the rules in effect at
// t: the higher of last month's and this month's so far.
func (s *Service) TierAt(ctx context.Context, tx *ledger.Tx, customerID string, t time.Time) (rules.Tier, error) {
	rs, err := s.rulesAt(ctx, tx, t)
	if err != nil {
		return rules.Tier{}, err
	}
	st, err := monthState(ctx, tx, rs, customerID, t)
	if err != nil {
		return rules.Tier{}, err
	}
	tier, _ := rs.TierInEffect(st.last.Amount.Decimal, st.this.Amount.Decimal)
	return tier, nil
}

type months struct{ last, this Contribution }

// monthState reads the contribution of the month of t and of the month
// before.
func monthState(ctx context.Context, tx pgx.Tx, rs rules.RuleSet, customerID string, t time.Time) (months, error) {
	this := rs.MonthOf(t)
	st := months{last: Contribution{Month: this.Prev()}, this: Contribution{Month: this}}
	rows, err := tx.Query(ctx, `SELECT month, contribution FROM customer_months
WHERE customer_id = $1 AND month IN ($2, $3)`, customerID, string(st.last.Month), string(this))
	if err != nil {
		return st, err
	}
	defer rows.Close()
	for rows.Next() {
		var m string
		var c decimal.Decimal
		if err := rows.Scan(&m, &c); err != nil {
			return st, err
		}
		if rules.Month(m) == this {
			st.this.Amount = money.Of(c)
		} else {
			st.last.Amount = money.Of(c)
		}
	}
	return st, rows.Err()
}

// PointsSummaryIn is the customer's points by the state of their lots at
// the transaction's Now, Available net of what they owe: what a
// redemption may spend (it settles what is owed first).
func PointsSummaryIn(ctx context.Context, tx *ledger.Tx, customerID string) (PointsSummary, error) {
	l, err := tx.LotSummary(ctx, ledger.CustomerAccount(customerID, "points"), tx.Now().Add(expiringSoon))
	if err != nil {
		return PointsSummary{}, err
	}
	owed, err := tx.Balances(ctx, ledger.CustomerAccount(customerID, "points_owed"))
	if err != nil {
		return PointsSummary{}, err
	}
	return summarise(l, -owed[0].IntPart()), nil
}

// RankedContribution is one customer's contribution in a month, ranked
// among the customers counted: Rank 1 contributed the most (ties by
// customer id) of Of customers.
type RankedContribution struct {
	Amount   decimal.Decimal
	Rank, Of int
}

// RankContributions emits, highest first, the month's contribution (0 for
// none) of every customer of the month: registered before registeredBefore,
// or registered later with shipments dated in it or before (a shipment
// recorded late counts in the month it occurred in), read in tx.
func RankContributions(ctx context.Context, tx *ledger.Tx, month rules.Month, registeredBefore time.Time,
	emit func(RankedContribution) error) error {
	rows, err := tx.Query(ctx, `WITH c AS (
    SELECT cu.id, coalesce(m.contribution, 0) AS contribution
    FROM customers cu LEFT JOIN customer_months m ON m.customer_id = cu.id AND m.month = $1
    WHERE cu.created_at < $2 OR `+shippedThrough+`)
SELECT contribution, row_number() OVER (ORDER BY contribution DESC, id), count(*) OVER ()
FROM c ORDER BY contribution DESC, id`, string(month), registeredBefore)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var c RankedContribution
		if err := rows.Scan(&c.Amount, &c.Rank, &c.Of); err != nil {
			return err
		}
		if err := emit(c); err != nil {
			return err
		}
	}
	return rows.Err()
}
