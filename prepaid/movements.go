package prepaid

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/internal/decsum"
	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/money"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
	"github.com/tally-ledger/tally/notify"
	"github.com/tally-ledger/tally/rules"
)

// MoneyInput is a deposit, charge or withdrawal to record.
type MoneyInput struct {
	ID         string
	CustomerID string
	Amount     decimal.Decimal
	// OccurredAt is when it happened; zero means when it is recorded.
	OccurredAt time.Time
	// ShipmentID is what a charge paid for.
	ShipmentID string
	// Space is the space the id lives in (ledger.APIKey.Space of the key
	// that records it): ids are unique per space and kind.
	Space string
	// Preview asks what recording it would answer now, writing nothing
	// (ledger.Preview): the movement is priced and posted by the same code,
	// and the transaction is rolled back. Its answer's EntryID is an entry
	// that was never committed; a movement already recorded answers as a
	// replay, with its real entry.
	Preview bool
}

// MoneyMovement is a recorded deposit, charge or withdrawal.
type MoneyMovement struct {
	Kind        string    `json:"kind"`
	ID          string    `json:"id"`
	Space       string    `json:"space"` // whose id it is: see MoneyInput.Space
	CustomerID  string    `json:"customer_id"`
	Amount      money.CNY `json:"amount"`
	OccurredAt  time.Time `json:"occurred_at"`
	ShipmentID  *string   `json:"shipment_id,omitempty"`
	RuleVersion int       `json:"rule_version"`
	// Deposit: the rate of the schedule and the rebate it granted.
	Rate   *decimal.Decimal `json:"rate,omitempty"`
	Rebate *money.CNY       `json:"rebate,omitempty"`
	// Charge: what came from principal and what from rebate.
	FromPrincipal *money.CNY `json:"from_principal,omitempty"`
	FromRebate    *money.CNY `json:"from_rebate,omitempty"`
	// Withdrawal: the rebate clawed back.
	Clawback        *money.CNY `json:"clawback,omitempty"`
	EntryID         int64      `json:"entry_id"`
	ReversalEntryID *int64     `json:"reversal_entry_id"`
	// Principal and rebate balances when answered: after the movement (or
	// its reversal); on a replay, as they are now.
	Principal     money.CNY `json:"principal"`
	RebateBalance money.CNY `json:"rebate_balance"`
}

var moneyIDPattern = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,128}$`)

var maxMoney = decimal.NewFromInt(1_000_000_000_000)

func (s *Service) checkMoney(kind string, in *MoneyInput) error {
	bad := map[string]string{}
	if !moneyIDPattern.MatchString(in.ID) || ledger.DotSegment(in.ID) {
		bad[kind+"_id"] = "1 to 128 letters, digits, '_', '.', ':' or '-'; not . or .."
	}
	if !ledger.ValidCustomerID(in.CustomerID) {
		bad["customer_id"] = "1 to 64 letters, digits, '_', '.' or '-'"
	}
	if !in.Amount.IsPositive() || in.Amount.GreaterThan(maxMoney) {
		bad["amount"] = "a positive CNY amount"
	} else if err := ledger.CNY.CheckScale(in.Amount); err != nil {
		return &fault.Error{Code: fault.InvalidAmount, Message: "amount " + in.Amount.String() + " is finer than the fen",
			Fields: map[string]string{"amount": "at most 2 decimals"}}
	}
	if in.OccurredAt.After(s.ledger.Now().Add(loyalty.ClockSkew)) {
		bad["occurred_at"] = "must not be in the future"
	}
	in.OccurredAt = in.OccurredAt.UTC().Truncate(time.Microsecond)
	if kind == Charge && in.ShipmentID != "" && !loyalty.ValidShipmentID(in.ShipmentID) {
		bad["shipment_id"] = "1 to 64 letters, digits, '_', '.', ':' or '-'"
	}
	if len(bad) > 0 {
		return &fault.Error{Code: fault.Invalid, Message: "the " + kind + " is invalid", Fields: bad}
	}
	return nil
}

// Deposit records prepaid money and its proportional rebate in one entry:
// Dr platform:cash / Cr the customer's prepaid, and Dr platform:rebate:expense
// / Cr the customer's rebate. The rate comes from the rule set in effect when
// the deposit occurred and is recorded even when the rebate rounds to zero.
// Idempotent on the deposit id.
//
// Errors: fault.Invalid, fault.InvalidAmount, fault.UnknownCustomer,
// fault.IdempotencyConflict, fault.OccurredAtTooOld.
func (s *Service) Deposit(ctx context.Context, in MoneyInput, actor string) (MoneyMovement, bool, error) {
	return s.move(ctx, Deposit, in, actor)
}

func priceDeposit(m *MoneyMovement, rs rules.RuleSet, _, _ decimal.Decimal) ([]ledger.PostingInput, error) {
	rate, rebate := rs.Rebate(m.Amount.Decimal)
	m.Rate, m.Rebate = &rate, money.Ptr(&rebate)
	postings := []ledger.PostingInput{
		{Account: "platform:cash", Amount: m.Amount.Neg()},
		{Account: ledger.CustomerAccount(m.CustomerID, "prepaid"), Amount: m.Amount.Decimal},
	}
	if rebate.IsPositive() {
		postings = append(postings,
			ledger.PostingInput{Account: "platform:rebate:expense", Amount: rebate.Neg()},
			ledger.PostingInput{Account: ledger.CustomerAccount(m.CustomerID, "rebate"), Amount: rebate})
	}
	return postings, nil
}

// Charge pays for a shipment from prepaid: principal first, then rebate. A
// charge larger than both together is refused whole, without saying the
// balances (a partner may not read them). Idempotent on the charge id.
//
// Errors: fault.Invalid, fault.InvalidAmount, fault.UnknownCustomer,
// fault.InsufficientFunds, fault.IdempotencyConflict, fault.OccurredAtTooOld.
func (s *Service) Charge(ctx context.Context, in MoneyInput, actor string) (MoneyMovement, bool, error) {
	return s.move(ctx, Charge, in, actor)
}

func priceCharge(m *MoneyMovement, _ rules.RuleSet, principal, rebate decimal.Decimal) ([]ledger.PostingInput, error) {
	if m.Amount.GreaterThan(principal.Add(rebate)) {
		return nil, &fault.Error{Code: fault.InsufficientFunds, Account: ledger.CustomerAccount(m.CustomerID, "prepaid"),
			Message: "a charge of " + m.Amount.StringFixed(2) + " exceeds the customer's principal and rebate together"}
	}
	fromPrincipal := decimal.Min(m.Amount.Decimal, principal)
	fromRebate := m.Amount.Sub(fromPrincipal)
	m.FromPrincipal, m.FromRebate = money.Ptr(&fromPrincipal), money.Ptr(&fromRebate)
	postings := []ledger.PostingInput{{Account: "platform:revenue:shipping", Amount: m.Amount.Decimal}}
	if fromPrincipal.IsPositive() {
		postings = append(postings, ledger.PostingInput{Account: ledger.CustomerAccount(m.CustomerID, "prepaid"), Amount: fromPrincipal.Neg()})
	}
	if fromRebate.IsPositive() {
		postings = append(postings, ledger.PostingInput{Account: ledger.CustomerAccount(m.CustomerID, "rebate"), Amount: fromRebate.Neg()})
	}
	return postings, nil
}

// Withdraw pays principal back to the customer and claws back rebate in
// proportion in the same entry (rules.Clawback: the rebate left is
// rebate * (principal - W) / principal rounded down to the fen, so no split
// of a withdrawal keeps more rebate than one). More than the principal is
// refused.
//
// Errors: fault.Invalid, fault.InvalidAmount, fault.UnknownCustomer,
// fault.InsufficientFunds, fault.IdempotencyConflict, fault.OccurredAtTooOld.
func (s *Service) Withdraw(ctx context.Context, in MoneyInput, actor string) (MoneyMovement, bool, error) {
	return s.move(ctx, Withdrawal, in, actor)
}

func priceWithdrawal(m *MoneyMovement, _ rules.RuleSet, principal, rebate decimal.Decimal) ([]ledger.PostingInput, error) {
	if m.Amount.GreaterThan(principal) {
		return nil, &fault.Error{Code: fault.InsufficientFunds, Account: ledger.CustomerAccount(m.CustomerID, "prepaid"),
			Message: "a withdrawal of " + m.Amount.StringFixed(2) + " exceeds the customer's principal"}
	}
	claw := rules.Clawback(rebate, principal, m.Amount.Decimal)
	m.Clawback = money.Ptr(&claw)
	postings := []ledger.PostingInput{
		{Account: ledger.CustomerAccount(m.CustomerID, "prepaid"), Amount: m.Amount.Neg()},
		{Account: "platform:cash", Amount: m.Amount.Decimal},
	}
	if claw.IsPositive() {
		postings = append(postings,
			ledger.PostingInput{Account: ledger.CustomerAccount(m.CustomerID, "rebate"), Amount: claw.Neg()},
			ledger.PostingInput{Account: "platform:rebate:expense", Amount: claw})
	}
	return postings, nil
}

// pricer prices a movement m (its kind, customer and amount set) from the
// rule set in effect when it occurred and the customer's balances before
// it: it fills in what it decided and answers the postings, or refuses.
type pricer func(m *MoneyMovement, rs rules.RuleSet, principal, rebate decimal.Decimal) ([]ledger.PostingInput, error)

// pricers price each kind of movement.
var pricers = map[string]pricer{Deposit: priceDeposit, Charge: priceCharge, Withdrawal: priceWithdrawal}

// move is the shape of every money movement: lock the customer (which
// serialises their movements and makes a concurrent twin wait, then
// replay), price it from the balances, post it, keep it, announce it
// (notices). A replay announces nothing again. Movements are written in
// groups (groups.go), one transaction for those that queued meanwhile; a
// preview runs alone, in a transaction rolled back.
func (s *Service) move(ctx context.Context, kind string, in MoneyInput, actor string) (MoneyMovement, bool, error) {
	j, err := s.newJob(kind, in, actor)
	if err != nil {
		return MoneyMovement{}, false, err
	}
	if !in.Preview {
		r, err := s.movements.Submit([]moneyJob{j})[0].Wait(ctx)
		if err == nil {
			err = r.err
		}
		return r.m, r.replayed, err
	}
	var r moneyResult
	err = s.ledger.Preview(ctx, []string{loyalty.PreviewKey(in.CustomerID)}, func(tx *ledger.Tx) (err error) {
		r, err = s.moveTx(ctx, tx, j, false)
		return err
	})
	return r.m, r.replayed, err
}

// moneyJob is a checked movement to record.
type moneyJob struct {
	kind  string
	in    MoneyInput
	actor string
	hash  [sha256.Size]byte // of the request: its replays must match it
}

// newJob checks a movement of the kind and makes a job of it.
func (s *Service) newJob(kind string, in MoneyInput, actor string) (moneyJob, error) {
	if err := s.checkMoney(kind, &in); err != nil {
		return moneyJob{}, err
	}
	// OccurredAt is zero when the caller sent no time: a retry without one
	// is the same request.
	canon, _ := json.Marshal(struct {
		C, S string
		A    decimal.Decimal
		T    time.Time
	}{in.CustomerID, in.ShipmentID, in.Amount.Round(2), in.OccurredAt})
	return moneyJob{kind: kind, in: in, actor: actor, hash: sha256.Sum256(canon)}, nil
}

// moneyResult is what recording a movement answered: the movement,
// whether it was a replay, or its refusal.
type moneyResult struct {
	m        MoneyMovement
	replayed bool
	err      error
}

// moveTx records j in tx, or answers the movement recorded earlier with
// its id; a refusal is its error. It locks the customer first, unless tx
// holds their lock already (locked).
func (s *Service) moveTx(ctx context.Context, tx *ledger.Tx, j moneyJob, locked bool) (moneyResult, error) {
	kind, in, hash := j.kind, j.in, j.hash
	if !locked {
		if _, err := loyalty.LockCustomer(ctx, tx, in.CustomerID); err != nil {
			return moneyResult{}, err
		}
	}
	var stored []byte
	err := tx.QueryRow(ctx, `SELECT request_hash FROM money_movements WHERE space = $1 AND kind = $2 AND id = $3`,
		in.Space, kind, in.ID).Scan(&stored)
	if err == nil {
		if string(stored) != string(hash[:]) {
			return moneyResult{}, idConflict(kind, in.ID)
		}
		out, err := moneyMovement(ctx, tx, kind, in.Space, in.ID)
		return moneyResult{m: out, replayed: true}, err
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return moneyResult{}, err
	}
	at := in.OccurredAt // when it happened: when it is recorded, unless the caller said
	if at.IsZero() {
		at = tx.Now().UTC().Truncate(time.Microsecond)
	}
	// Locked as read: a manual entry (which takes no customer lock) cannot
	// move them between the pricing and the posting.
	held, err := tx.LockBalances(ctx, ledger.CustomerAccount(in.CustomerID, "prepaid"), ledger.CustomerAccount(in.CustomerID, "rebate"))
	if err != nil {
		return moneyResult{}, err
	}
	principal, rebate := held[0], held[1]
	m, postings, err := s.price(ctx, tx, j, at, principal, rebate)
	if err != nil {
		return moneyResult{}, err
	}
	effective, err := fundedFrom(ctx, tx, &m, held, postings)
	if err != nil {
		return moneyResult{}, err
	}
	version := m.RuleVersion
	meta, _ := json.Marshal(map[string]any{kind + "_id": in.ID, "customer_id": in.CustomerID, "rate": m.Rate,
		"shipment_id": m.ShipmentID})
	entry, err := tx.Post(ctx, ledger.EntryInput{Kind: kind, EffectiveAt: effective, Actor: j.actor, Metadata: meta,
		Postings: postings, RuleVersion: &version})
	if err != nil {
		return moneyResult{}, err
	}
	// In one round trip: the movement kept, read back as a replay reads
	// it, and the partners to tell of a low balance.
	var (
		b   pgx.Batch
		out MoneyMovement
		low []notify.Event
	)
	b.Queue(`INSERT INTO money_movements (kind, id, customer_id, amount, occurred_at, shipment_id,
    rate, rebate, from_principal, from_rebate, clawback, rule_version, request_hash, entry_id, created_at, space)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`, kind, in.ID, in.CustomerID, in.Amount, at,
		m.ShipmentID, m.Rate, m.Rebate, m.FromPrincipal, m.FromRebate, m.Clawback, m.RuleVersion, hash[:], entry.ID, tx.Now(),
		in.Space)
	b.Queue(qMoneyMovement, in.Space, kind, in.ID).QueryRow(func(row pgx.Row) error { return scanMoneyMovement(row, &out) })
	// The balances after it: while tx holds the customer's lock, nothing
	// else moves their prepaid money.
	principalAfter, rebateAfter := balancesAfter(in.CustomerID, principal, rebate, postings)
	queueLowBalance(&b, &m, entry.ID, principal.Add(rebate), principalAfter, rebateAfter, &low)
	if err := tx.SendBatch(ctx, &b).Close(); err != nil {
		if fault.UniqueViolation(err, "") {
			// Taken meanwhile by a request for another customer (one for
			// the same customer would have waited on its lock).
			return moneyResult{}, idConflict(kind, in.ID)
		}
		return moneyResult{}, err
	}
	out.Principal, out.RebateBalance = money.Of(principalAfter), money.Of(rebateAfter)
	_, err = notify.Emit(ctx, tx, append(notices(out), low...)...)
	return moneyResult{m: out}, err
}

// fundedFrom answers the instant the entry of movement m takes effect at,
// m priced from the customer's principal and rebate now (held) into
// postings: its date (m.OccurredAt), unless its debits of principal or
// rebate are more than those accounts held from then on
// (ledger.Tx.BalancesSince), as for a charge or a withdrawal dated before
// the money it takes came in (a deposit recorded earlier but dated later),
// or before a charge dated later took it. Taken as of its date, it would
// leave the account below zero as of an instant between then and now,
// though not now, in the books finance reads as of any instant and closes
// by month. Such a movement takes effect at the earliest instant from which
// the accounts held what it takes, when that is within the clock skew
// allowed (loyalty.ClockSkew: a partner's clock and ours may disagree
// about which came first); later than that, it is refused. Its pricing is
// that of now whatever its date (no other share of principal and rebate,
// no other clawback), and its movement keeps the date it was sent with. A
// movement dated no earlier than everything on the accounts (nearly all)
// finds them holding their balances now.
func fundedFrom(ctx context.Context, tx *ledger.Tx, m *MoneyMovement, held []decimal.Decimal, postings []ledger.PostingInput) (time.Time, error) {
	codes, debits := moneyDebits(m.CustomerID, postings)
	if debits == nil {
		return m.OccurredAt, nil
	}
	var moved [][]ledger.Dated
	var b pgx.Batch
	ledger.QueuePostedAfter(&b, &moved, codes, []time.Time{m.OccurredAt, m.OccurredAt})
	if err := tx.SendBatch(ctx, &b).Close(); err != nil {
		return time.Time{}, err
	}
	return datedFrom(m, debits, held, moved)
}

// moneyDebits are the customer's prepaid and rebate accounts, and what the
// postings debit each; debits is nil when they debit neither.
func moneyDebits(customerID string, postings []ledger.PostingInput) (codes []string, debits []decimal.Decimal) {
	codes = []string{ledger.CustomerAccount(customerID, "prepaid"), ledger.CustomerAccount(customerID, "rebate")}
	for _, p := range postings {
		if i := slices.Index(codes, p.Account); i >= 0 && p.Amount.IsNegative() {
			if debits == nil {
				debits = make([]decimal.Decimal, len(codes))
			}
			debits[i] = p.Amount.Neg()
		}
	}
	return codes, debits
}

// datedFrom is fundedFrom's answer from the accounts' balances now (held)
// and what their postings dated after some instant up to m's date moved,
// instant by instant, oldest first (moved, ledger.QueuePostedAfter), and
// what m debits each: the earliest instant from m's date on (the date, or
// an instant a posting is dated at) from which every account holds its
// debit at every later instant, if that is within the clock skew allowed.
//
// The least balance an account holds from an instant on only grows with
// the instant, so each account's earliest such instant is found by one
// walk of its postings from the newest back (fundedSince), and the
// movement's is the latest of them. The walk adds in 64-bit integers of
// fen (every CNY amount is to the fen), without allocating: a customer
// whose accounts hold many postings dated after a charge's date (a
// partner may send many small deposits) costs a group one pass of them
// per debit, not a copy of their history.
func datedFrom(m *MoneyMovement, debits, held []decimal.Decimal, moved [][]ledger.Dated) (time.Time, error) {
	at := m.OccurredAt
	from := at
	for i := range debits {
		c, ok := fundedSince(at, held[i], debits[i], moved[i])
		if !ok {
			// Not reached: priced from held, the movement is covered as of the last date, where the balances are held.
			return time.Time{}, fmt.Errorf("prepaid: %s %s is not covered by the balances it was priced from", m.Kind, m.ID)
		}
		if c.After(from) {
			from = c
		}
	}
	if from.Sub(at) > loyalty.ClockSkew {
		// As every refusal of a movement, it names the principal and
		// says no balance (nor which one fell short, nor when), which
		// a partner may not read.
		return time.Time{}, &fault.Error{Code: fault.InsufficientFunds, Account: ledger.CustomerAccount(m.CustomerID, "prepaid"),
			Message: fmt.Sprintf("a %s dated %s takes more than the customer's principal and rebate held from then on: a movement may take money dated at most %s after it",
				m.Kind, at.UTC().Format(time.RFC3339Nano), loyalty.ClockSkew)}
	}
	return from, nil
}

// fundedSince is the earliest instant, at or an instant of moved after it,
// from which an account whose balance now is held, and whose postings
// dated after some instant up to at moved moved, holds debit at every
// later instant; ok is false when it does not even now.
func fundedSince(at time.Time, held, debit decimal.Decimal, moved []ledger.Dated) (from time.Time, ok bool) {
	first, _ := slices.BinarySearchFunc(moved, at, func(d ledger.Dated, at time.Time) int {
		if d.At.After(at) {
			return 1
		}
		return -1
	})
	after := moved[first:] // dated after at
	if from, ok, exact := fundedSinceInFen(at, held, debit, after); exact {
		return from, ok
	}
	// An amount not to the fen, or past an int64 of fen: the same walk in
	// decimals.
	// From the newest instant back, the balance as of each: the first
	// below the debit ends the walk (the least from any earlier instant
	// on is below it too).
	balance := held
	for j := len(after) - 1; j >= 0; j-- {
		if debit.GreaterThan(balance) {
			return from, ok
		}
		from, ok = after[j].At, true
		balance = balance.Sub(after[j].Balance) // as of the instant before
	}
	if !debit.GreaterThan(balance) {
		return at, true
	}
	return from, ok
}

// fundedSinceInFen is fundedSince in 64-bit integers of fen; exact is
// false, and nothing else is answered, when an amount is not to the fen
// or a balance leaves an int64.
func fundedSinceInFen(at time.Time, held, debit decimal.Decimal, after []ledger.Dated) (from time.Time, ok, exact bool) {
	h, ok1 := fen(held)
	d, ok2 := fen(debit)
	if !ok1 || !ok2 || d < 0 {
		return from, false, false
	}
	balance := h
	for j := len(after) - 1; j >= 0; j-- {
		if d > balance {
			return from, ok, true
		}
		from, ok = after[j].At, true
		// balance is at least d, which is not negative here: taking off
		// a credit cannot pass below an int64; adding back a debit can
		// pass above it.
		a, exact := fen(after[j].Balance)
		if !exact || (a < 0 && balance > math.MaxInt64+a) {
			return time.Time{}, false, false
		}
		balance -= a
	}
	if d <= balance {
		return at, true, true
	}
	return from, ok, true
}

// fen is d in fen, false when d is not a whole number of fen or does not
// fit an int64.
func fen(d decimal.Decimal) (int64, bool) { return decsum.Units(d, -2) }

// idConflict is the refusal of a movement whose id was recorded with
// other details.
func idConflict(kind, id string) error {
	return &fault.Error{Code: fault.IdempotencyConflict, Message: kind + " " + id + " was already recorded with other details"}
}

// price prices the movement j, dated at, for a customer whose balances
// before it are principal and rebate, as moveTx and moveTogether record it:
// the movement (without its entry or the balances after it) and its
// entry's postings. A refusal is a *fault.Error: dated before the
// back-dating window, or what the kind's pricer refuses.
func (s *Service) price(ctx context.Context, tx *ledger.Tx, j moneyJob, at time.Time, principal, rebate decimal.Decimal) (
	MoneyMovement, []ledger.PostingInput, error) {
	in := j.in
	if err := s.customers.CheckBackdating(ctx, tx, at); err != nil {
		return MoneyMovement{}, nil, err
	}
	rs, err := s.customers.RulesAtIn(ctx, tx, at)
	if err != nil {
		return MoneyMovement{}, nil, err
	}
	m := MoneyMovement{Kind: j.kind, ID: in.ID, Space: in.Space, CustomerID: in.CustomerID, Amount: money.Of(in.Amount), OccurredAt: at,
		RuleVersion: rs.Version}
	if in.ShipmentID != "" {
		m.ShipmentID = &in.ShipmentID
	}
	postings, err := pricers[j.kind](&m, rs, principal, rebate)
	return m, postings, err
}

// DepositNotice is the payload of a deposit.received notification.
type DepositNotice struct {
	DepositID   string          `json:"deposit_id"`
	Amount      money.CNY       `json:"amount"`
	Rebate      money.CNY       `json:"rebate"`
	Rate        decimal.Decimal `json:"rate"`
	EntryID     int64           `json:"entry_id"`
	RuleVersion int             `json:"rule_version"`
}

// WithdrawalNotice is the payload of a withdrawal.completed notification.
type WithdrawalNotice struct {
	WithdrawalID string    `json:"withdrawal_id"`
	Amount       money.CNY `json:"amount"`
	Clawback     money.CNY `json:"clawback"`
	EntryID      int64     `json:"entry_id"`
}

// notices are what a movement just recorded announces, in its
// transaction: a deposit with its rebate and rate, a withdrawal with its
// clawback; a charge nothing.
func notices(m MoneyMovement) []notify.Event {
	n := notify.Event{Customer: m.CustomerID, OccurredAt: m.OccurredAt}
	switch m.Kind {
	case Deposit:
		n.Type = notify.DepositReceived
		n.Payload = DepositNotice{DepositID: m.ID, Amount: m.Amount, Rebate: *m.Rebate, Rate: *m.Rate, EntryID: m.EntryID,
			RuleVersion: m.RuleVersion}
	case Withdrawal:
		n.Type = notify.WithdrawalCompleted
		n.Payload = WithdrawalNotice{WithdrawalID: m.ID, Amount: m.Amount, Clawback: *m.Clawback, EntryID: m.EntryID}
	default:
		return nil
	}
	return []notify.Event{n}
}

func prepaidBalances(ctx context.Context, tx *ledger.Tx, customerID string) (principal, rebate decimal.Decimal, err error) {
	b, err := tx.Balances(ctx, ledger.CustomerAccount(customerID, "prepaid"), ledger.CustomerAccount(customerID, "rebate"))
	if err != nil {
		return principal, rebate, err
	}
	return b[0], b[1], nil
}

const qMoneyMovement = `SELECT kind, space, id, customer_id, amount, occurred_at, shipment_id, rule_version, rate, rebate,
    from_principal, from_rebate, clawback, entry_id, reversal_entry_id
FROM money_movements WHERE space = $1 AND kind = $2 AND id = $3`

// scanMoneyMovement scans a row of qMoneyMovement into m (its balances
// aside).
func scanMoneyMovement(row pgx.Row, m *MoneyMovement) error {
	return row.Scan(movementFields(m)...)
}

// movementFields are the fields of m that the columns of qMoneyMovement
// scan into, in their order.
func movementFields(m *MoneyMovement) []any {
	return []any{&m.Kind, &m.Space, &m.ID, &m.CustomerID, &m.Amount, &m.OccurredAt, &m.ShipmentID, &m.RuleVersion, &m.Rate,
		&m.Rebate, &m.FromPrincipal, &m.FromRebate, &m.Clawback, &m.EntryID, &m.ReversalEntryID}
}

// moneyMovement reads the movement, with its customer's balances now.
func moneyMovement(ctx context.Context, tx *ledger.Tx, kind, space, id string) (MoneyMovement, error) {
	var m MoneyMovement
	err := scanMoneyMovement(tx.QueryRow(ctx, qMoneyMovement, space, kind, id), &m)
	if errors.Is(err, pgx.ErrNoRows) {
		return m, fault.Errorf(fault.NotFound, "no %s %s", kind, id)
	}
	if err != nil {
		return m, err
	}
	principal, rebate, err := prepaidBalances(ctx, tx, m.CustomerID)
	m.Principal, m.RebateBalance = money.Of(principal), money.Of(rebate)
	return m, err
}

// ReverseMoney reverses a deposit (with its rebate), a charge or a
// withdrawal (with its clawback), once, with a reason. A deposit whose money
// or rebate has been spent cannot be reversed, nor a movement a later one of
// the customer was priced on (refusePricedSince). It is the movement id of
// the space (ledger.AnySpace: of any space, provided only one holds it).
//
// Errors: fault.NotFound, fault.AmbiguousID, fault.Invalid,
// fault.AlreadyReversed, fault.InsufficientFunds, fault.WithdrawnSince,
// fault.RebateDrawnSince.
func (s *Service) ReverseMoney(ctx context.Context, kind, space, id, reason, actor string) (MoneyMovement, error) {
	return s.reverseMoney(ctx, kind, space, id, reason, actor, "", nil)
}

// ReverseMoneyWithKey is ReverseMoney made safe to retry: the reversal
// records the idempotency key and the hash of the request, and a later
// request with both (a retry, or a twin racing the original) answers the
// reversal it made with replayed = true. Any other request on a reversed
// movement is fault.AlreadyReversed.
//
// Errors: as ReverseMoney, and fault.IdempotencyConflict (the key was used
// for another request).
func (s *Service) ReverseMoneyWithKey(ctx context.Context, kind, space, id, reason, actor, key string, hash []byte) (MoneyMovement, bool, error) {
	// A key already recorded answers first: a retry is a replay, another
	// request a conflict, whatever would refuse the movement's reversal.
	if m, replayed, err := s.replayMoneyReversal(ctx, kind, space, id, key, hash); replayed || err != nil {
		return m, replayed, err
	}
	m, err := s.reverseMoney(ctx, kind, space, id, reason, actor, key, hash)
	// A twin racing with the key committed meanwhile (the customer's lock
	// held this one back): the movement is reversed.
	if c := fault.CodeOf(err); key != "" && (c == fault.AlreadyReversed || c == fault.IdempotencyConflict) {
		if m, replayed, rerr := s.replayMoneyReversal(ctx, kind, space, id, key, hash); replayed || rerr != nil {
			return m, replayed, rerr
		}
	}
	return m, false, err
}

// replayMoneyReversal answers the movement kind id of the space
// (ledger.AnySpace: of any), as it is now, when key recorded its reversal
// (replayed), fault.IdempotencyConflict when the key recorded another
// entry (another space's movement of that id included) or the request
// differs, and nothing when the key is new (or none is given).
func (s *Service) replayMoneyReversal(ctx context.Context, kind, space, id, key string, hash []byte) (MoneyMovement, bool, error) {
	if key == "" {
		return MoneyMovement{}, false, nil
	}
	e, found, err := s.ledger.Replay(ctx, key, hash)
	if err != nil || !found {
		return MoneyMovement{}, false, err
	}
	// The movement the key's entry reversed, as it is now.
	var m MoneyMovement
	err = s.ledger.InTx(ctx, func(tx *ledger.Tx) error {
		var sp string
		var named *string
		if space != ledger.AnySpace {
			named = &space
		}
		err := tx.QueryRow(ctx, `SELECT space FROM money_movements
WHERE kind = $1 AND id = $2 AND reversal_entry_id = $3 AND (space = $4 OR $4 IS NULL)`,
			kind, id, e.ID, named).Scan(&sp)
		if errors.Is(err, pgx.ErrNoRows) {
			return fault.Errorf(fault.IdempotencyConflict, "this idempotency key was already used for a different request (entry %d)", e.ID)
		}
		if err != nil {
			return err
		}
		m, err = moneyMovement(ctx, tx, kind, sp, id)
		return err
	})
	if err != nil {
		return MoneyMovement{}, false, err
	}
	return m, true, nil
}

func (s *Service) reverseMoney(ctx context.Context, kind, space, id, reason, actor, key string, hash []byte) (MoneyMovement, error) {
	var out MoneyMovement
	err := s.ledger.InTx(ctx, func(tx *ledger.Tx) error {
		var customerID string
		var entryID int64
		var reversed *int64
		var sp *string
		if space != ledger.AnySpace {
			sp = &space
		}
		rows, err := tx.Query(ctx, `SELECT space, customer_id, entry_id FROM money_movements
WHERE kind = $2 AND id = $3 AND (space = $1 OR $1 IS NULL) LIMIT 2`, sp, kind, id)
		if err != nil {
			return err
		}
		n := 0
		_, err = pgx.ForEachRow(rows, []any{&space, &customerID, &entryID}, func() error { n++; return nil })
		switch {
		case err != nil:
			return err
		case n == 0:
			return fault.Errorf(fault.NotFound, "no %s %s", kind, id)
		case n > 1:
			return fault.Errorf(fault.AmbiguousID, "%s %s is held by several spaces: name one", kind, id)
		}
		if _, err := loyalty.LockCustomer(ctx, tx, customerID); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT reversal_entry_id FROM money_movements WHERE space = $1 AND kind = $2 AND id = $3`,
			space, kind, id).Scan(&reversed); err != nil {
			return err
		}
		if reversed != nil {
			return fault.Errorf(fault.AlreadyReversed, "%s %s was reversed by entry %d", kind, id, *reversed)
		}
		if kind == Deposit {
			if err := refuseSpentSince(ctx, tx, customerID, kind+" "+id, entryID); err != nil {
				return err
			}
		}
		entry, err := tx.Reverse(ctx, entryID, ledger.ReversalInput{Actor: actor, Reason: reason, IdempotencyKey: key, RequestHash: hash})
		if fault.CodeOf(err) == fault.InsufficientFunds {
			return &fault.Error{Code: fault.InsufficientFunds, Message: "the " + kind + "'s money or rebate has been spent since: it cannot be reversed"}
		}
		if err != nil {
			return err
		}
		if err := refusePricedSince(ctx, tx, kind, customerID, kind+" "+id, entryID); err != nil {
			return err // (and rolls the reversal back)
		}
		if _, err := tx.Exec(ctx, `UPDATE money_movements SET reversal_entry_id = $4 WHERE space = $1 AND kind = $2 AND id = $3`,
			space, kind, id, entry.ID); err != nil {
			return err
		}
		out, err = moneyMovement(ctx, tx, kind, space, id)
		return err
	})
	return out, err
}

// refuseSpentSince refuses the reversal of a deposit (entry entryID) whose
// money or rebate has been spent since, though the balances now hold as
// much (a later deposit refilled them): after some later debit
// (ledger.Tx.SpentSince) the account held less than the deposit put on
// it, so without
// the deposit that debit would have been priced otherwise (a charge would
// have drawn on rebate, or been refused). Taking the deposit back then
// would take a later deposit's money and leave the rebate that should have
// paid: deposits of 50,000.00 and d of 1,000.00, a charge of 51,000.00, a
// deposit of 1,000.00; d reversed would leave no principal and 2,520.00 of
// rebate, where without d the charge took 1,000.00 of rebate and the
// customer holds 1,000.00 and 1,520.00. A manual credit's reversal by hand
// is asked the same (ReverseEntry). what names the movement ("deposit d1").
// The customer is locked.
func refuseSpentSince(ctx context.Context, tx *ledger.Tx, customerID, what string, entryID int64) error {
	account, debit, err := tx.SpentSince(ctx, entryID, []string{
		ledger.CustomerAccount(customerID, "prepaid"), ledger.CustomerAccount(customerID, "rebate")})
	if err != nil || debit == nil {
		return err
	}
	return &fault.Error{Code: fault.InsufficientFunds, Account: account, Message: fmt.Sprintf(
		"the money or rebate %s put on %s has been spent since (%s left it with less): it cannot be reversed",
		what, account, entryName(debit))}
}

// entryName names an entry as an admin reverses it: a money movement by
// its kind and id ("charge c1", through its reversal endpoint), any other
// entry by its id ("entry 12 (manual)").
func entryName(e *ledger.Entry) string {
	if e.Kind == Deposit || e.Kind == Charge || e.Kind == Withdrawal {
		var meta map[string]any
		if json.Unmarshal(e.Metadata, &meta) == nil {
			if id, ok := meta[e.Kind+"_id"].(string); ok {
				return e.Kind + " " + id
			}
		}
	}
	return fmt.Sprintf("entry %d (%s)", e.ID, e.Kind)
}

// QPricedSince is refusePricedSince's statement: the first movement of the
// customer ($1) after entry $2 that stands in the way of reversing a
// movement of kind $3: the first later withdrawal not reversed, and unless
// $3 is a deposit the first later charge that drew on rebate, each read
// from the index of such movements (migration 0049) in entry order.
const QPricedSince = `(SELECT kind, id, space, entry_id FROM money_movements
  WHERE customer_id = $1 AND kind = 'withdrawal' AND entry_id > $2 AND reversal_entry_id IS NULL
  ORDER BY entry_id LIMIT 1)
UNION ALL
(SELECT kind, id, space, entry_id FROM money_movements
  WHERE customer_id = $1 AND kind = 'charge' AND from_rebate > 0 AND entry_id > $2 AND reversal_entry_id IS NULL
    AND $3::text <> 'deposit'
  ORDER BY entry_id LIMIT 1)
ORDER BY entry_id LIMIT 1`

// refusePricedSince refuses the reversal of a movement (entry entryID) while
// a later movement of the customer, not itself reversed, was priced on the
// balances the reversal changes (docs/RULES.md, Prepaid deposits and
// rebates): reversed alone, it would keep what that pricing gave. Reverse
// the later movement first. Entry ids order a customer's movements: each
// draws its entry id while it holds the customer's lock, which is held here.
//
//   - A withdrawal's clawback took rebate back at the rate of the principal
//     and rebate before it (withdrawn_since). A deposit's reversal would keep
//     the rebate its principal diluted (999.99 at 0% beside 50,000.00 at 5%,
//     50,000.00 withdrawn: 49.01 of rebate left, then none of the
//     principal); a charge's or a withdrawal's would keep what the rates the
//     movement left, rounded, spared (a fen per withdrawal, or the rebate
//     of principal the charge had taken).
//   - A charge that drew rebate did so because the principal was gone
//     (rebate_drawn_since). A charge's or a withdrawal's reversal gives
//     principal back, and the charge would keep having spent rebate where it
//     would now spend principal (deposit 50,000.00, rebate 2,500.00; charges
//     of 50,000.00 and of 2,500.00; the first reversed: 50,000.00 of
//     principal to withdraw and no rebate to claw back). A deposit's
//     reversal is not asked this: such a charge left no principal, so the
//     deposit's money was spent (refuseSpentSince).
//
// kind is the reversed movement's kind (Deposit, or any other for a
// reversal that gives principal back); what names it ("charge c1").
func refusePricedSince(ctx context.Context, tx *ledger.Tx, kind, customerID, what string, entryID int64) error {
	var laterKind, later, space string
	var laterEntry int64
	err := tx.QueryRow(ctx, QPricedSince, customerID, entryID, kind).Scan(&laterKind, &later, &space, &laterEntry)
	// Named so that an admin can reverse it: its space, and the customer
	// (an entry by hand may move several customers' money).
	later += fmt.Sprintf(" (customer %s, space %s)", customerID, space)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil
	case err != nil:
		return err
	case laterKind == Withdrawal:
		return fault.Errorf(fault.WithdrawnSince, "withdrawal %s was recorded after %s and its clawback was priced "+
			"on the balances this reversal would change: reverse the withdrawal first", later, what)
	}
	return fault.Errorf(fault.RebateDrawnSince, "charge %s was recorded after %s and drew on rebate because the "+
		"principal was gone, which this reversal would give back: reverse the charge first", later, what)
}
