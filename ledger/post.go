package ledger

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/internal/decsum"
	"github.com/tally-ledger/tally/internal/fault"
)

// EntryInput is an entry to record.
type EntryInput struct {
	Kind string
	// EffectiveAt is when the movement happened; zero means when it is
	// recorded (the transaction's Now).
	EffectiveAt time.Time
	// IdempotencyKey makes Post safe to retry: a second Post with the same key
	// and the same request records nothing and returns the first entry.
	IdempotencyKey string
	// RequestHash identifies the request behind the key; when nil, Post
	// hashes the input itself. An entry without a key stores no hash:
	// nothing replays it.
	RequestHash []byte
	// EarlierHash is another hash the same request may have been recorded
	// under, by an earlier version of the caller that hashed it otherwise;
	// nil for none. A key recorded under either replays.
	EarlierHash []byte
	Metadata    json.RawMessage
	Actor       string
	Reason      string
	Postings    []PostingInput
	// RuleVersion is the version of the rule set that priced the entry, for
	// entries derived from loyalty rules.
	RuleVersion *int

	reversalOf *int64
}

// PostingInput is a line of an EntryInput. Asset may be left empty: it is
// taken from the chart; when given it must match it.
//
// A line on a customer's points account also moves its lots: a credit needs
// either Lot (a new lot) or RestoreOf; a debit draws from the available lots
// soonest to expire, unless DrawFrom, ExpiringBy or FromLots says otherwise.
type PostingInput struct {
	Account string          `json:"account"`
	Asset   Asset           `json:"asset,omitempty"`
	Amount  decimal.Decimal `json:"amount"`

	Lot        *Lot       `json:"-"` // credit: the lot's terms
	RestoreOf  int64      `json:"-"` // credit: undo the draws of this entry
	DrawFrom   int64      `json:"-"` // debit: only from the lot this entry credited (see Lot)
	ExpiringBy *time.Time `json:"-"` // debit: the lots expiring by then (expiry)
	FromLots   []LotTake  `json:"-"` // debit: exactly these points of these lots, available or not
}

// LotTake is a number of points of one lot, by its id.
type LotTake struct {
	LotID  int64
	Points int64
}

// Lot is when a credit of points becomes available and when it expires.
// A credit available when it is posted adds to the account's shared lot
// of its expiry instant (one per account and instant, opened by the first
// such credit; the posting names it): its points cannot be told apart
// from the others there by any draw or expiry. A credit available later
// (a pending bonus) opens a lot of its own.
//
// A debit with DrawFrom undoes a credit: it takes at most its own amount
// from the credit's lot. A shared lot does not remember how much of it
// was undone for each credit, so a credit must be undone once: Reverse
// reverses an entry once, loyalty cancels a bonus once.
type Lot struct {
	AvailableAt time.Time // zero: at once
	ExpiresAt   time.Time
}

// terms is when the lot becomes available, as of now, and whether the
// credit goes into the account's shared lot.
func (l *Lot) terms(now time.Time) (available time.Time, shared bool) {
	if l.AvailableAt.IsZero() {
		return now, true
	}
	return l.AvailableAt, !l.AvailableAt.After(now)
}

type line struct {
	code   string
	spec   AccountSpec
	amount decimal.Decimal
	in     PostingInput
}

// newLot reports whether the line credits points to a lot (its Lot's
// terms), rather than restoring draws or drawing.
func (ln line) newLot() bool {
	return ln.spec.hasLots() && ln.amount.IsPositive() && ln.in.RestoreOf == 0
}

// hasLots reports whether the account's balance is kept as lots: customer
// points.
func (s AccountSpec) hasLots() bool { return s.Asset == PTS && !s.AllowNegative }

// Post records the entry in one transaction: the entry, its postings and the
// balances commit together or not at all. It reports whether the entry is a
// replay of an earlier Post with the same idempotency key.
//
// Errors: fault.Invalid, fault.InvalidAmount, fault.Unbalanced, fault.UnknownAccount,
// fault.AssetMismatch (bad input, nothing written); fault.InsufficientFunds (an
// account that may not go negative would); fault.IdempotencyConflict (the key
// was used for a different request); fault.AlreadyReversed.
func (l *Ledger) Post(ctx context.Context, in EntryInput) (*Entry, bool, error) {
	lines, hash, err := prepare(&in)
	if err != nil {
		return nil, false, err
	}

	var (
		entry   *Entry
		applied int
	)
	err = l.retry(ctx, func() error {
		var err error
		entry, applied, err = l.postChecked(ctx, in, lines, hash)
		return err
	})
	if fault.NotNullViolation(err) {
		// An account the cache believed in does not exist (its creating
		// transaction rolled back): forget the cache and try once more.
		for _, ln := range lines {
			l.known.forget(ln.code)
		}
		entry, applied, err = l.postChecked(ctx, in, lines, hash)
	}
	if err != nil {
		// A unique violation with a key is most likely the key: a retry of a
		// request already recorded, or a concurrent twin of this one.
		if fault.UniqueViolation(err, "") && in.IdempotencyKey != "" {
			if e, err := l.replay(ctx, in.IdempotencyKey, hash, in.EarlierHash); !errors.Is(err, errUnknownKey) {
				return e, err == nil, err
			}
		}
		return nil, false, postError(err, lines, applied)
	}
	l.stats.Posted.Add(1)
	for _, ln := range lines {
		l.known.add(ln.code)
	}
	return entry, false, nil
}

// postChecked is post in one implicit transaction, or, when the entry
// debits an account that may not go below zero, in a transaction that
// checks that account by date before it commits (checkDatedFloors).
func (l *Ledger) postChecked(ctx context.Context, in EntryInput, lines []line, hash []byte) (*Entry, int, error) {
	floored := flooredDebits(in.Postings)
	if len(floored) == 0 {
		return l.post(ctx, l.pool, in, lines, hash, rand.IntN(l.buckets), l.now())
	}
	tx, err := l.pool.Begin(ctx)
	if err != nil {
		return nil, 0, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	entry, applied, err := l.post(ctx, tx, in, lines, hash, rand.IntN(l.buckets), l.now())
	if err == nil {
		err = checkDatedFloors(ctx, tx, entry.EffectiveAt, floored)
	}
	if err == nil {
		err = tx.Commit(ctx)
	}
	return entry, applied, err
}

// batcher is a pool (one implicit transaction per batch) or a transaction.
type batcher interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// Validate checks an entry as Post does before it reads or writes
// anything (its kind, actor, accounts against the chart, assets, amounts,
// balance per asset), for a caller that must refuse bad input before it
// looks up a key or takes a lock.
//
// Errors: as Post's bad input.
func Validate(in EntryInput) error {
	_, err := validate(in)
	return err
}

// validate checks the input against the chart and the assets' rules and
// returns its lines sorted by account code, the order in which rows are
// locked (so that two entries never wait for each other in a cycle).
func validate(in EntryInput) ([]line, error) {
	if in.Kind == "" {
		return nil, &fault.Error{Code: fault.Invalid, Message: "an entry needs a kind", Fields: map[string]string{"kind": "required"}}
	}
	if in.Actor == "" {
		return nil, &fault.Error{Code: fault.Invalid, Message: "an entry needs an actor", Fields: map[string]string{"actor": "required"}}
	}
	if len(in.Metadata) > 0 && (!json.Valid(in.Metadata) || bytes.TrimSpace(in.Metadata)[0] != '{') {
		return nil, &fault.Error{Code: fault.Invalid, Message: "metadata must be a JSON object", Fields: map[string]string{"metadata": "not an object"}}
	}
	if len(in.Postings) < 2 {
		return nil, &fault.Error{Code: fault.Unbalanced, Message: "an entry needs at least two postings",
			Fields: map[string]string{"postings": "fewer than two"}}
	}
	lines := make([]line, 0, len(in.Postings))
	// Each asset's postings added up, in the order the assets come (two
	// at most in the chart: no map to make for each entry).
	type assetSum struct {
		asset Asset
		sum   decsum.Sum
	}
	var sumsOf [2]assetSum
	sums := sumsOf[:0]
	// An account twice: looked for among the lines so far, by a map only
	// for a long entry (a group's writers validate two or three postings
	// an entry, thousands of entries a second).
	var seen map[string]bool
	if len(in.Postings) > 16 {
		seen = make(map[string]bool, len(in.Postings))
	}
	for _, p := range in.Postings {
		spec, err := Chart(p.Account)
		if err != nil {
			return nil, err
		}
		if p.Asset != "" && p.Asset != spec.Asset {
			return nil, &fault.Error{Code: fault.AssetMismatch, Account: p.Account,
				Message: "account " + quote(p.Account) + " holds " + string(spec.Asset) + ", not " + quote(string(p.Asset))}
		}
		if p.Amount.IsZero() {
			return nil, &fault.Error{Code: fault.InvalidAmount, Account: p.Account, Message: "a posting amount must not be zero"}
		}
		if err := spec.Asset.CheckScale(p.Amount); err != nil {
			err.(*fault.Error).Account = p.Account
			return nil, err
		}
		if seen[p.Account] || seen == nil && slices.ContainsFunc(lines, func(l line) bool { return l.code == p.Account }) {
			return nil, &fault.Error{Code: fault.Invalid, Account: p.Account,
				Message: "account " + quote(p.Account) + " appears twice in one entry"}
		}
		if seen != nil {
			seen[p.Account] = true
		}
		if err := checkLotTerms(p, spec); err != nil {
			return nil, err
		}
		i := slices.IndexFunc(sums, func(s assetSum) bool { return s.asset == spec.Asset })
		if i < 0 {
			sums, i = append(sums, assetSum{asset: spec.Asset}), len(sums)
		}
		sums[i].sum.Add(p.Amount)
		lines = append(lines, line{code: p.Account, spec: spec, amount: p.Amount, in: p})
	}
	for _, s := range sums {
		if !s.sum.IsZero() {
			return nil, fault.Errorf(fault.Unbalanced, "postings in %s sum to %s, not zero", s.asset, s.sum.Decimal())
		}
	}
	slices.SortFunc(lines, func(a, b line) int { return strings.Compare(a.code, b.code) })
	return lines, nil
}

func checkLotTerms(p PostingInput, spec AccountSpec) error {
	credit := p.Amount.IsPositive()
	switch {
	case !spec.hasLots():
		if p.Lot != nil || p.RestoreOf != 0 || p.DrawFrom != 0 || p.ExpiringBy != nil || p.FromLots != nil {
			return &fault.Error{Code: fault.Invalid, Account: p.Account, Message: "only customer points accounts have lots"}
		}
	case credit && p.Lot == nil && p.RestoreOf == 0:
		return &fault.Error{Code: fault.Invalid, Account: p.Account, Message: "a credit of points needs its lot's expiry",
			Fields: map[string]string{"postings": "points credits need an expiry"}}
	case credit && p.Lot != nil && !p.Lot.AvailableAt.IsZero() && !p.Lot.ExpiresAt.After(p.Lot.AvailableAt):
		return &fault.Error{Code: fault.Invalid, Account: p.Account, Message: "a lot must expire after it becomes available"}
	case !credit && (p.Lot != nil || p.RestoreOf != 0), credit && (p.DrawFrom != 0 || p.ExpiringBy != nil || p.FromLots != nil):
		return &fault.Error{Code: fault.Invalid, Account: p.Account, Message: "lot terms do not match the posting's direction"}
	case p.FromLots != nil:
		var sum int64
		named := map[int64]bool{}
		for _, t := range p.FromLots {
			if t.Points <= 0 || named[t.LotID] {
				return &fault.Error{Code: fault.Invalid, Account: p.Account, Message: "each lot drawn from is named once, with a positive number of points"}
			}
			named[t.LotID] = true
			sum += t.Points
		}
		if p.DrawFrom != 0 || p.ExpiringBy != nil || !p.Amount.Equal(decimal.NewFromInt(-sum)) {
			return &fault.Error{Code: fault.Invalid, Account: p.Account, Message: "the lots drawn from must make up the debit, alone"}
		}
	}
	return nil
}

// hashInput is a canonical digest of what the entry would record.
func hashInput(in EntryInput) []byte {
	canon := struct {
		Kind        string
		EffectiveAt time.Time
		Metadata    json.RawMessage
		Reason      string
		ReversalOf  *int64
		Postings    []PostingInput
	}{in.Kind, in.EffectiveAt.UTC(), in.Metadata, in.Reason, in.reversalOf, nil}
	for _, p := range in.Postings {
		canon.Postings = append(canon.Postings, PostingInput{Account: p.Account, Amount: p.Amount.Round(8)})
	}
	sort.Slice(canon.Postings, func(i, j int) bool { return canon.Postings[i].Account < canon.Postings[j].Account })
	b, _ := json.Marshal(canon)
	sum := sha256.Sum256(b)
	return sum[:]
}

// The statements of one posting, sent as one batch: one round trip, one
// implicit transaction. Locks are taken in a fixed order: new accounts (by
// code), the idempotency key (by the entry insert), then balance rows by
// account code.
const (
	// An account that may not go negative gets its one balance row with it,
	// so that a debit is a plain UPDATE that the CHECK constraint guards.
	qCreateAccount = `WITH a AS (
    INSERT INTO accounts (code, asset, allow_negative, created_at) VALUES ($1, $2, $3, $4)
    ON CONFLICT (code) DO NOTHING RETURNING id, allow_negative)
INSERT INTO balance_buckets (account_id, bucket, allow_negative, balance)
SELECT id, 0, false, 0 FROM a WHERE NOT allow_negative`
	qInsertEntry = `INSERT INTO entries (kind, effective_at, idempotency_key, request_hash, metadata, actor, reason, reversal_of, rule_version, recorded_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
RETURNING id, effective_at, recorded_at, metadata`
	qAddBalance = `UPDATE balance_buckets SET balance = balance + $2
WHERE account_id = (SELECT id FROM accounts WHERE code = $1) AND bucket = 0`
	qAddHotBalance = `INSERT INTO balance_buckets (account_id, bucket, allow_negative, balance)
SELECT id, $2, true, $3 FROM accounts WHERE code = $1
ON CONFLICT (account_id, bucket) DO UPDATE SET balance = balance_buckets.balance + excluded.balance`
	qInsertPostings = `INSERT INTO postings (entry_id, account_id, asset, amount, balance_after, effective_at, lot_id)
SELECT currval('entries_id_seq'), a.id, a.asset, u.amount,
       b.balance, $3, s.id
FROM unnest($1::text[], $2::numeric[], $4::timestamptz[]) WITH ORDINALITY AS u (code, amount, shared_expiry, ord)
-- a missing account fails NOT NULL, never drops a line; each lookup is an
-- index probe, whatever a generic plan guesses of the array (OFFSET 0)
LEFT JOIN LATERAL (SELECT id, asset, allow_negative FROM accounts WHERE code = u.code OFFSET 0) a ON true
LEFT JOIN LATERAL (SELECT balance FROM balance_buckets WHERE account_id = a.id AND bucket = 0 AND NOT a.allow_negative OFFSET 0) b ON true
` + joinSharedLot + `
ORDER BY u.ord
RETURNING id, balance_after`
	// joinSharedLot finds, for a line u that credited a shared lot (its
	// shared_expiry set), the lot it went into: the lot statements run
	// before the postings'.
	// (The other lines skip the probe: a one-time filter.)
	joinSharedLot = `LEFT JOIN LATERAL (SELECT id FROM points_lots
                   WHERE u.shared_expiry IS NOT NULL AND account_id = a.id AND expires_at = u.shared_expiry AND shared OFFSET 0) s ON true`
	// qCreateLot credits a lot of account $1 with $2 points available at
	// $3 and expiring at $4: the account's shared lot of that expiry (when
	// $5), or a lot of its own opened by the entry.
	qCreateLot = `INSERT INTO points_lots AS p (account_id, entry_id, amount, remaining, available_at, expires_at, shared)
SELECT id, currval('entries_id_seq'), $2, $2, $3, $4, $5 FROM accounts WHERE code = $1
` + addToSharedLot
	// addToSharedLot makes the insert of a shared lot that exists already
	// a credit to it. (A lot's available_at is the earliest of its
	// credits': each was available when it was posted.)
	addToSharedLot = `ON CONFLICT (account_id, expires_at) WHERE shared DO UPDATE
SET amount = p.amount + excluded.amount, remaining = p.remaining + excluded.remaining,
    available_at = least(p.available_at, excluded.available_at)`
)

// lotError names the account whose lots could not give what a debit asked:
// the balance may hold pending or expired points that cannot be spent.
func lotError(err error, lines []line, done []string) error {
	if !fault.CheckViolation(err, "lots_available") {
		return err
	}
	for _, ln := range lines {
		if ln.spec.hasLots() && !ln.amount.IsPositive() && !slices.Contains(done, ln.code) {
			return pointsLacking(ln.code)
		}
	}
	return err
}

// prepare validates an entry to post, defaults its metadata to {}, and
// answers its lines and its request hash (the caller's, or the entry's
// own): nil for an entry without an idempotency key.
func prepare(in *EntryInput) ([]line, []byte, error) {
	lines, err := validate(*in)
	if err != nil {
		return nil, nil, err
	}
	if len(in.Metadata) == 0 {
		in.Metadata = json.RawMessage(`{}`)
	}
	if in.IdempotencyKey == "" {
		return lines, nil, nil // stored as NULL: no replay compares it
	}
	hash := in.RequestHash
	if hash == nil {
		hash = hashInput(*in)
	}
	return lines, hash, nil
}

// pointsLacking is the refusal of a debit of the points account code that
// its available lots cannot cover.
func pointsLacking(code string) error {
	return &fault.Error{Code: fault.InsufficientFunds, Account: code,
		Message: "account " + quote(code) + " has too few available points (pending and expired points cannot be spent)"}
}

// post records the entry through db in one batch (queuePost), at now: when
// it is recorded (and effective, unless it says otherwise), and which lots
// are available. applied counts the balance rows updated, so that a refusal
// can name the account that caused it.
func (l *Ledger) post(ctx context.Context, db batcher, in EntryInput, lines []line, hash []byte, bucket int, now time.Time) (
	entry *Entry, applied int, err error) {
	var batch pgx.Batch
	q := l.queuePost(&batch, in, lines, hash, bucket, now, false)
	if err := db.SendBatch(ctx, &batch).Close(); err != nil {
		return nil, q.applied, lotError(err, lines, q.lotsDone)
	}
	return q.entry, q.applied, nil
}

// queuedEntry is an entry queued into a batch by queuePost: its answer
// once the batch is sent, and how far its statements went.
type queuedEntry struct {
	entry    *Entry
	applied  int      // balance rows updated
	lotsDone []string // lot statements that succeeded, by account
}

// queuePost queues into batch the statements that record the entry; with
// deferring, its platform lines are left to the caller (Tx.Post adds
// them to the transaction's platform sums once the batch succeeds).
func (l *Ledger) queuePost(batch *pgx.Batch, in EntryInput, lines []line, hash []byte, bucket int, now time.Time,
	deferring bool) *queuedEntry {
	var (
		q       = &queuedEntry{}
		eff     *time.Time
		key     *string
		codes   = make([]string, len(lines))
		amounts = make([]decimal.Decimal, len(lines))
	)
	if in.EffectiveAt.IsZero() {
		eff = &now // effective when the ledger's clock says it is
	} else {
		eff = &in.EffectiveAt
	}
	if in.IdempotencyKey != "" {
		key = &in.IdempotencyKey
	}
	for _, ln := range lines {
		if !l.known.has(ln.code) {
			batch.Queue(qCreateAccount, ln.code, ln.spec.Asset, ln.spec.AllowNegative, now)
		}
	}
	entry := &Entry{Kind: in.Kind, IdempotencyKey: key, Metadata: in.Metadata, Actor: in.Actor,
		Reason: in.Reason, ReversalOf: in.reversalOf, RuleVersion: in.RuleVersion}
	q.entry = entry
	batch.Queue(qInsertEntry, in.Kind, eff, key, hash, in.Metadata, in.Actor, in.Reason, in.reversalOf, in.RuleVersion, now).
		QueryRow(func(row pgx.Row) error {
			return row.Scan(&entry.ID, &entry.EffectiveAt, &entry.RecordedAt, &entry.Metadata)
		})
	// A hot account adds to one of its buckets (the same one for all of them
	// in this entry, or in this transaction); an account that may not go
	// negative has only bucket 0.
	for i, ln := range lines {
		codes[i], amounts[i] = ln.code, ln.amount
		var bq *pgx.QueuedQuery
		if deferring && isPlatform(ln.code) {
			continue
		}
		if ln.spec.AllowNegative {
			bq = batch.Queue(qAddHotBalance, ln.code, bucket, ln.amount)
		} else {
			bq = batch.Queue(qAddBalance, ln.code, ln.amount)
		}
		bq.Exec(func(pgconn.CommandTag) error {
			q.applied++
			return nil
		})
	}
	// Credits to lots go first: a credit's posting names the shared lot it
	// went into.
	sharedExpiry := make([]*time.Time, len(lines))
	for i, ln := range lines {
		if !ln.newLot() {
			continue
		}
		available, shared := ln.in.Lot.terms(now)
		if shared {
			sharedExpiry[i] = &ln.in.Lot.ExpiresAt
		}
		batch.Queue(qCreateLot, ln.code, ln.amount.IntPart(), available, ln.in.Lot.ExpiresAt, shared)
	}
	entry.Postings = make([]Posting, len(lines))
	batch.Queue(qInsertPostings, codes, amounts, eff, sharedExpiry).Query(func(rows pgx.Rows) error {
		i := 0
		for rows.Next() {
			p := &entry.Postings[i]
			if err := rows.Scan(&p.ID, &p.BalanceAfter); err != nil {
				return err
			}
			if p.BalanceAfter == nil && !lines[i].spec.AllowNegative {
				// Its balance row was not found: its debit went unchecked. (A
				// missing account fails before, on the postings' NOT NULL,
				// which Ledger.Post takes as a cache to forget.)
				return fmt.Errorf("ledger: the balance row of %s was not found", lines[i].code)
			}
			p.Account, p.Asset, p.Amount = lines[i].code, lines[i].spec.Asset, lines[i].amount
			i++
		}
		return rows.Err()
	})
	for _, ln := range lines {
		if !ln.spec.hasLots() || ln.newLot() { // credits went before the postings
			continue
		}
		var lq *pgx.QueuedQuery
		points := ln.amount.IntPart()
		switch p := ln.in; {
		case points > 0:
			lq = batch.Queue(`SELECT restore_lots($1, $2, $3)`, ln.code, points, p.RestoreOf)
		case p.FromLots != nil:
			lq = queueDrawFromLots(batch, ln.code, p.FromLots)
		default:
			var from *int64
			if p.DrawFrom != 0 {
				from = &p.DrawFrom
			}
			lq = batch.Queue(`SELECT draw_lots($1, $2, $3, $4, $5)`, ln.code, -points, from, p.ExpiringBy, now)
		}
		code := ln.code
		lq.Exec(func(pgconn.CommandTag) error {
			q.lotsDone = append(q.lotsDone, code)
			return nil
		})
	}
	return q
}

// Post records the entry as part of the transaction, with the statements
// Ledger.Post sends but for the platform accounts' (applied at the
// transaction's end, in account order). It does not replay: callers that
// need idempotency keep their own key in the same transaction.
//
// Errors: as Ledger.Post, but fault.IdempotencyConflict for any reused key.
func (tx *Tx) Post(ctx context.Context, in EntryInput) (*Entry, error) {
	lines, hash, err := prepare(&in)
	if err != nil {
		return nil, err
	}
	var batch pgx.Batch
	q := tx.l.queuePost(&batch, in, lines, hash, tx.bucket, tx.now, true)
	if err := tx.SendBatch(ctx, &batch).Close(); err != nil {
		if fault.UniqueViolation(err, "entries_idempotency_key_key") {
			return nil, fault.Errorf(fault.IdempotencyConflict, "this idempotency key was already used")
		}
		return nil, postError(lotError(err, lines, q.lotsDone), lines, q.applied)
	}
	for _, ln := range lines {
		if isPlatform(ln.code) {
			tx.platform.add(ln.code, ln.amount)
		}
		if !tx.l.known.has(ln.code) {
			tx.codes = append(tx.codes, ln.code) // may have been opened: known once committed
		}
	}
	tx.posted++
	return q.entry, nil
}

// PostChecked is Post, then, as Ledger.Post does, a check by date of each
// account that may not go below zero the entry debits: an entry dated in
// the past (or now) may not take what an account holds only from a later
// instant (fault.InsufficientFunds).
func (tx *Tx) PostChecked(ctx context.Context, in EntryInput) (*Entry, error) {
	entry, err := tx.Post(ctx, in)
	if err != nil {
		return nil, err
	}
	if err := checkDatedFloors(ctx, tx.Tx, entry.EffectiveAt, flooredDebits(in.Postings)); err != nil {
		return nil, err
	}
	return entry, nil
}

// postError turns the database's refusals into domain errors.
// applied is the number of balance rows updated before the failure.
func postError(err error, lines []line, applied int) error {
	switch {
	case fault.CheckViolation(err, "balance_nonnegative"), fault.CheckViolation(err, "posting_balance_nonnegative"):
		e := &fault.Error{Code: fault.InsufficientFunds, Message: "the entry would take an account below zero"}
		// The line that failed is the first after those applied that may
		// not go negative: a deferred line of a platform account is not
		// applied here, and could not have failed.
		for applied < len(lines) && lines[applied].spec.AllowNegative {
			applied++
		}
		if applied < len(lines) {
			ln := lines[applied]
			e.Account = ln.code
			e.Message = "account " + quote(ln.code) + " holds too little to be debited " + ln.amount.Neg().String() + " " + string(ln.spec.Asset)
		}
		return e
	case fault.CheckViolation(err, "period_closed"):
		return periodClosed(err)
	case fault.UniqueViolation(err, "entries_reversal_of_key"):
		return fault.Errorf(fault.AlreadyReversed, "the entry has already been reversed")
	}
	return err
}

// Replay is the entry recorded under the idempotency key, for a flow that
// refused a request as already done (a cancelled redemption, a reversed
// movement) and must tell a retry of the request that did it from another
// request: found is false when no entry holds the key.
//
// Errors: fault.IdempotencyConflict (the key was recorded for a request with
// another hash).
func (l *Ledger) Replay(ctx context.Context, key string, hashes ...[]byte) (e *Entry, found bool, err error) {
	e, err = l.replay(ctx, key, hashes...)
	if errors.Is(err, errUnknownKey) {
		return nil, false, nil
	}
	return e, err == nil, err
}

// SameRequest reports whether the hash recorded with a key is one of the
// hashes of the request now made (an empty one matches nothing).
func SameRequest(stored []byte, hashes ...[]byte) bool {
	for _, h := range hashes {
		if len(h) > 0 && bytes.Equal(stored, h) {
			return true
		}
	}
	return false
}

// replay answers a Post whose idempotency key is already recorded.
// It returns errUnknownKey when no entry holds the key.
func (l *Ledger) replay(ctx context.Context, key string, hashes ...[]byte) (*Entry, error) {
	var id int64
	var stored []byte
	err := l.pool.QueryRow(ctx, `SELECT id, request_hash FROM entries WHERE idempotency_key = $1`, key).Scan(&id, &stored)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errUnknownKey
	}
	if err != nil {
		return nil, err
	}
	if !SameRequest(stored, hashes...) {
		return nil, fault.Errorf(fault.IdempotencyConflict,
			"this idempotency key was already used for a different request (entry %d)", id)
	}
	e, err := l.Entry(ctx, id)
	if err != nil {
		return nil, err
	}
	l.stats.Replayed.Add(1)
	return e, nil
}

var errUnknownKey = errors.New("unknown idempotency key")

// queueDrawFromLots queues the draw of exactly the points named from each
// lot of the account, for the entry just inserted (draw_named_lots: it
// fails unless every lot is the account's and holds them).
func queueDrawFromLots(b *pgx.Batch, code string, takes []LotTake) *pgx.QueuedQuery {
	ids, points := make([]int64, len(takes)), make([]int64, len(takes))
	for i, t := range takes {
		ids[i], points[i] = t.LotID, t.Points
	}
	return b.Queue(`SELECT draw_named_lots($1, $2, $3)`, code, ids, points)
}
