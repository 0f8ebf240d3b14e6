package ledger

import (
	"context"
	"maps"
	"slices"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tally-ledger/tally/internal/decsum"
	"github.com/tally-ledger/tally/internal/dectext"
	"github.com/tally-ledger/tally/internal/fault"
)

// PostMany records many entries in the transaction with a fixed number of
// statements whatever their number (two round trips), for callers that
// coalesce many requests into one transaction. It takes what a group of
// earnings, of money movements or of redemptions needs and refuses the
// rest with fault.Invalid: no idempotency keys (callers keep their own, as
// with Tx.Post), no reversals, and on points accounts credits each with a
// new Lot and debits drawn from the lots available at the transaction's
// now, soonest expiry first, as Tx.Post draws them: the entries of one
// account in order (draw_lots_many), each from what the ones before it
// left. A debit the available lots cannot cover fails the whole call with
// fault.InsufficientFunds (other draws, a restore: Tx.Post).
//
// A debit of an account that may not go negative is checked against the
// balance each posting leaves (the posting's balance_after must not be
// below zero, a constraint of postings): a group whose debits the caller
// did not check against the balance it holds locked fails whole, with
// fault.InsufficientFunds, even where the group's credits would cover it
// in the end. Such debits are not checked by date: an entry without its
// own EffectiveAt is dated at the transaction's Now, and a caller that
// draws on such an account restamps the transaction (Tx.Restamp) once it
// holds the lock the account's credits take, or a credit that committed
// meanwhile, dated later, could fund a debit dated before it.
//
// ids are entry ids the caller reserved (QueueEntryIDs), at least one per
// entry; when nil, PostMany reserves them itself, in a round trip of its
// own. then, when not nil, queues the caller's own statements into the same
// round trip as the entries, once their ids are known: ids[i] is ins[i]'s
// entry; an error it returns fails the call before anything is sent.
// A failure anywhere fails the whole call; the caller decides whether to
// roll back to a savepoint or the whole transaction.
func (tx *Tx) PostMany(ctx context.Context, ins []EntryInput, ids []int64, then func(ids []int64, b *pgx.Batch) error) error {
	return tx.postMany(ctx, ins, ids, then, false)
}

// PostManyAndCommit is PostMany as the transaction's last statement: its
// round trip carries the transaction's COMMIT (in InTx; in a savepoint it
// is PostMany), so that a group of events commits in the round trip that
// writes it. Nothing may run in the transaction after it: when it returns
// nil the transaction may have committed already, and fn must return nil
// at once. When it returns an error, nothing was committed, unless the
// connection was lost with the COMMIT sent (or a cancel of it went
// unanswered and the connection was dropped): then the outcome is unknown,
// as with any commit whose answer never came, and a retry of the same
// requests is answered as a replay of what committed.
func (tx *Tx) PostManyAndCommit(ctx context.Context, ins []EntryInput, ids []int64, then func(ids []int64, b *pgx.Batch) error) error {
	return tx.postMany(ctx, ins, ids, then, tx.pipe != nil)
}

func (tx *Tx) postMany(ctx context.Context, ins []EntryInput, ids []int64, then func(ids []int64, b *pgx.Batch) error, commit bool) error {
	entries := make([][]line, len(ins))
	credited, drawn := map[string]bool{}, map[string]bool{} // points accounts
	for i, in := range ins {
		lines, err := validate(in)
		if err != nil {
			return err
		}
		if in.IdempotencyKey != "" || in.reversalOf != nil {
			return fault.Errorf(fault.Invalid, "PostMany records neither idempotency keys nor reversals")
		}
		for _, ln := range lines {
			if !ln.spec.hasLots() {
				continue
			}
			p := ln.in
			credit := ln.amount.IsPositive() && p.Lot != nil && p.RestoreOf == 0
			draw := !ln.amount.IsPositive() && p.Lot == nil && p.DrawFrom == 0 && p.ExpiringBy == nil && p.FromLots == nil
			if !credit && !draw {
				return &fault.Error{Code: fault.Invalid, Account: ln.code,
					Message: "PostMany credits account " + quote(ln.code) + " each with a new lot, or debits its available lots"}
			}
			credited[ln.code], drawn[ln.code] = credited[ln.code] || credit, drawn[ln.code] || draw
			if credited[ln.code] && drawn[ln.code] { // the draws run after every new lot: not the order of the entries
				return &fault.Error{Code: fault.Invalid, Account: ln.code,
					Message: "PostMany either credits or debits account " + quote(ln.code) + " in one call"}
			}
		}
		entries[i] = lines
	}
	if ids == nil && len(ins) > 0 {
		var b pgx.Batch
		QueueEntryIDs(&b, len(ins), &ids)
		if err := tx.SendBatch(ctx, &b).Close(); err != nil {
			return err
		}
	}
	if len(ids) < len(ins) {
		return fault.Errorf(fault.Invalid, "PostMany got %d entry ids for %d entries", len(ids), len(ins))
	}
	ids = ids[:len(ins)]
	var (
		batch    pgx.Batch
		opened   []string
		deferred platformSums
	)
	if len(ins) > 0 {
		opened, deferred = tx.queueMany(&batch, ins, entries, ids)
	}
	if then != nil {
		if err := then(ids, &batch); err != nil {
			return err
		}
	}
	// What the transaction owes the platform accounts so far is applied as
	// the batch's last statement, in account-code order: a transaction that
	// ends with PostMany (a group of events) takes the platform accounts
	// last, and adds no round trip for it.
	pending := maps.Clone(tx.platform)
	for code, sum := range deferred {
		pending.add(code, sum)
	}
	pending.queue(&batch, tx.bucket)
	if batch.Len() == 0 {
		return nil
	}
	send := tx.SendBatch
	if commit {
		send = tx.pipe.sendCommitting
	}
	if err := send(ctx, &batch).Close(); err != nil {
		if fault.CheckViolation(err, "lots_available") {
			return pointsLacking(fault.Detail(err)) // draw_lots_many's DETAIL: the account
		}
		return postError(err, nil, 0)
	}
	tx.codes = append(tx.codes, opened...)
	tx.posted += int64(len(ins))
	tx.platform = nil
	return nil
}

// QueueEntryIDs queues the reservation of n entry ids from the sequence,
// into ids in ascending order, for PostMany: a caller can reserve them in a
// round trip it makes anyway. Ids reserved and not used are gaps, as a
// rolled-back entry leaves. The sequence is looked up once (an InitPlan),
// not for each id: per row, the lookup cost seven times the nextval.
func QueueEntryIDs(b *pgx.Batch, n int, ids *[]int64) {
	if n == 0 {
		return
	}
	b.Queue(`SELECT nextval((SELECT pg_get_serial_sequence('entries', 'id')::regclass)) FROM generate_series(1, $1)`, n).
		Query(func(rows pgx.Rows) error {
			got, err := pgx.CollectRows(rows, pgx.RowTo[int64])
			slices.Sort(got)
			*ids = got
			return err
		})
}

// The statements of PostMany, each over arrays: one statement per table,
// whatever the number of entries. Rows are looked up one by one through
// LATERAL subqueries (OFFSET 0 keeps them from being flattened into a
// join), so that a cached generic plan probes the indexes whatever it
// guessed of the arrays' lengths and the tables' sizes. Amounts travel as
// text (exact, and cheap to encode). Balance rows are updated before the
// postings are inserted, so that a posting's balance_after on an account
// that may not go negative is that account's new balance less the postings
// after it.
const (
	qManyCreateAccounts = `WITH a AS (
    INSERT INTO accounts (code, asset, allow_negative, created_at)
    SELECT u.*, $4::timestamptz FROM unnest($1::text[], $2::text[], $3::boolean[]) AS u (code, asset, allow_negative)
    ORDER BY u.code COLLATE "C"
    ON CONFLICT (code) DO NOTHING RETURNING id, allow_negative)
INSERT INTO balance_buckets (account_id, bucket, allow_negative, balance)
SELECT id, 0, false, 0 FROM a WHERE NOT allow_negative`
	qManyEntries = `INSERT INTO entries (id, kind, effective_at, metadata, actor, reason, rule_version, recorded_at)
OVERRIDING SYSTEM VALUE
SELECT u.id, u.kind, u.effective_at, u.metadata::jsonb, u.actor, u.reason, nullif(u.rule_version, 0), $8::timestamptz
FROM unnest($1::bigint[], $2::text[], $3::timestamptz[], $4::text[], $5::text[], $6::text[], $7::integer[])
    AS u (id, kind, effective_at, metadata, actor, reason, rule_version)`
	// Balances are upserts, so that each row is found through the primary
	// key; an account that may not go negative always has its row already
	// (the CHECKs refuse a negative balance or a second bucket).
	qManyBalances = `INSERT INTO balance_buckets (account_id, bucket, allow_negative, balance)
SELECT a.id, $3, a.allow_negative, u.amount::numeric FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS u (code, amount, ord)
CROSS JOIN LATERAL (SELECT id, allow_negative FROM accounts WHERE code = u.code OFFSET 0) a
ORDER BY u.ord
ON CONFLICT (account_id, bucket) DO UPDATE SET balance = balance_buckets.balance + excluded.balance`
	// The debits' balances (and credits' beside them): each account's one
	// row is locked in the order given (code order, as every writer locks
	// them: two transactions never wait for each other in a cycle), then
	// updated; a row that would go below zero breaks its CHECK. A row not
	// found would leave its debit unchecked: the statement fails unless it
	// updated one row per code (expect_rows, migration 0048), in
	// PostgreSQL, so that the COMMIT may ride in its round trip.
	qManyAddBalances = `WITH updated AS (
UPDATE balance_buckets b SET balance = b.balance + l.amount
FROM (SELECT r.account_id, u.amount::numeric AS amount
      FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS u (code, amount, ord)
      CROSS JOIN LATERAL (SELECT id FROM accounts WHERE code = u.code OFFSET 0) a
      CROSS JOIN LATERAL (SELECT account_id FROM balance_buckets WHERE account_id = a.id AND bucket = 0 OFFSET 0 FOR UPDATE) r
      ORDER BY u.ord) l
WHERE b.account_id = l.account_id AND b.bucket = 0
RETURNING 1)
SELECT expect_rows(count(*), cardinality($1::text[]), 'balance rows of ' || array_to_string($1::text[], ', ')) FROM updated`
	qManyPostings = `INSERT INTO postings (entry_id, account_id, asset, amount, balance_after, effective_at, lot_id)
SELECT u.entry_id, a.id, a.asset, u.amount,
       b.balance - coalesce(sum(u.amount) OVER (PARTITION BY u.code ORDER BY u.ord DESC
                                               ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0),
       u.effective_at, s.id
FROM (SELECT entry_id, code, amount::numeric, effective_at, shared_expiry, ord
      FROM unnest($1::bigint[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[])
          WITH ORDINALITY AS u (entry_id, code, amount, effective_at, shared_expiry, ord)) u
-- a missing account fails NOT NULL, never drops a line
LEFT JOIN LATERAL (SELECT id, asset, allow_negative FROM accounts WHERE code = u.code OFFSET 0) a ON true
LEFT JOIN LATERAL (SELECT balance FROM balance_buckets WHERE account_id = a.id AND bucket = 0 AND NOT a.allow_negative OFFSET 0) b ON true
` + joinSharedLot + `
ORDER BY u.ord`
	qManyLots = `INSERT INTO points_lots (account_id, entry_id, amount, remaining, available_at, expires_at)
SELECT a.id, u.entry_id, u.amount, u.amount, u.available_at, u.expires_at
FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::timestamptz[], $5::timestamptz[]) WITH ORDINALITY
    AS u (code, entry_id, amount, available_at, expires_at, ord)
CROSS JOIN LATERAL (SELECT id FROM accounts WHERE code = u.code OFFSET 0) a
ORDER BY u.ord -- lot ids follow the entries: a draw takes the older of two lots expiring together`
	// qManySharedLots adds the credits to the shared lots of their
	// accounts, in one row per account and expiry (a row is upserted once
	// a statement), opened by the first entry that credits it.
	qManySharedLots = `INSERT INTO points_lots AS p (account_id, entry_id, amount, remaining, available_at, expires_at, shared)
SELECT a.id, u.entry_id, u.amount, u.amount, u.available_at, u.expires_at, true
FROM (SELECT code, expires_at, min(entry_id) AS entry_id, sum(amount)::bigint AS amount,
             min(available_at) AS available_at, min(ord) AS ord
      FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::timestamptz[], $5::timestamptz[]) WITH ORDINALITY
          AS u (code, entry_id, amount, available_at, expires_at, ord)
      GROUP BY code, expires_at) u
CROSS JOIN LATERAL (SELECT id FROM accounts WHERE code = u.code OFFSET 0) a
ORDER BY u.ord
` + addToSharedLot
)

// groupAccount is what a group's entries move on an account: its spec, and
// their amounts added up.
type groupAccount struct {
	spec AccountSpec
	sum  decsum.Sum
}

// queueMany queues the statements that record the entries with the given
// ids. It returns the accounts it opens (those the ledger does not know yet).
func (tx *Tx) queueMany(b *pgx.Batch, ins []EntryInput, entries [][]line, ids []int64) (opened []string, deferred platformSums) {
	now := tx.now
	var (
		eIDs      = make([]int64, len(ins))
		kinds     = make([]string, len(ins))
		effective = make([]time.Time, len(ins))
		metadata  = make([]string, len(ins))
		actors    = make([]string, len(ins))
		reasons   = make([]string, len(ins))
		versions  = make([]int32, len(ins)) // 0: none

		// Two postings an entry, most often: room for them at once.
		pEntries = make([]int64, 0, 2*len(ins))
		pCodes   = make([]string, 0, 2*len(ins))
		pAmounts = make([]string, 0, 2*len(ins)) // as text: pgx encodes it without reflection
		pEff     = make([]time.Time, 0, 2*len(ins))

		pShared = make([]*time.Time, 0, 2*len(ins)) // a credit's shared lot's expiry

		lCodes              []string // credits to lots of their own
		lEntries, lAmounts  []int64
		lAvailable, lExpire []time.Time
		sCodes              []string // credits to shared lots
		sEntries, sAmounts  []int64
		sAvailable, sExpire []time.Time

		dCodes             []string // draws
		dEntries, dAmounts []int64

		accounts = map[string]groupAccount{}
	)
	for i, in := range ins {
		eIDs[i], kinds[i], actors[i], reasons[i] = ids[i], in.Kind, in.Actor, in.Reason
		if in.RuleVersion != nil {
			versions[i] = int32(*in.RuleVersion)
		}
		eff := now
		if !in.EffectiveAt.IsZero() {
			eff = in.EffectiveAt
		}
		effective[i] = eff
		metadata[i] = "{}"
		if len(in.Metadata) > 0 {
			metadata[i] = string(in.Metadata)
		}
		for _, ln := range entries[i] {
			pEntries, pCodes, pAmounts, pEff = append(pEntries, ids[i]), append(pCodes, ln.code), append(pAmounts, dectext.String(ln.amount)), append(pEff, eff)
			pShared = append(pShared, nil)
			a := accounts[ln.code]
			a.spec = ln.spec
			a.sum.Add(ln.amount)
			accounts[ln.code] = a
			if ln.spec.hasLots() && !ln.amount.IsPositive() {
				dCodes, dEntries, dAmounts = append(dCodes, ln.code), append(dEntries, ids[i]), append(dAmounts, -ln.amount.IntPart())
			} else if ln.newLot() {
				available, shared := ln.in.Lot.terms(now)
				if shared {
					pShared[len(pShared)-1] = &ln.in.Lot.ExpiresAt
					sCodes, sEntries, sAmounts = append(sCodes, ln.code), append(sEntries, ids[i]), append(sAmounts, ln.amount.IntPart())
					sAvailable, sExpire = append(sAvailable, available), append(sExpire, ln.in.Lot.ExpiresAt)
				} else {
					lCodes, lEntries, lAmounts = append(lCodes, ln.code), append(lEntries, ids[i]), append(lAmounts, ln.amount.IntPart())
					lAvailable, lExpire = append(lAvailable, available), append(lExpire, ln.in.Lot.ExpiresAt)
				}
			}
		}
	}
	deferred = platformSums{}
	codes := make([]string, 0, len(accounts))
	for code := range accounts {
		codes = append(codes, code)
	}
	sort.Strings(codes) // the order rows are locked in
	var (
		newCodes, newAssets []string
		newNegative         []bool
		coldCodes, hotCodes []string
		coldSums, hotSums   []string
	)
	coldDebit := false // a cold account's balance goes down
	for _, code := range codes {
		spec, sum := accounts[code].spec, accounts[code].sum.Decimal()
		if !tx.l.known.has(code) {
			newCodes, newAssets, newNegative = append(newCodes, code), append(newAssets, string(spec.Asset)), append(newNegative, spec.AllowNegative)
		}
		if isPlatform(code) {
			deferred[code] = sum // applied at the transaction's end
		} else if spec.AllowNegative {
			hotCodes, hotSums = append(hotCodes, code), append(hotSums, dectext.String(sum))
		} else {
			coldCodes, coldSums = append(coldCodes, code), append(coldSums, dectext.String(sum))
			coldDebit = coldDebit || sum.IsNegative()
		}
	}
	if len(newCodes) > 0 {
		b.Queue(qManyCreateAccounts, newCodes, newAssets, newNegative, now)
	}
	b.Queue(qManyEntries, eIDs, kinds, effective, metadata, actors, reasons, versions, now)
	switch {
	case coldDebit:
		// A debit: an upsert's proposed row would break the CHECK before it
		// met its conflict. The rows exist (an account that may not go
		// negative is opened with its row): they are locked in code order,
		// then updated, in one statement.
		b.Queue(qManyAddBalances, coldCodes, coldSums)
	case len(coldCodes) > 0:
		b.Queue(qManyBalances, coldCodes, coldSums, 0)
	}
	if len(hotCodes) > 0 {
		b.Queue(qManyBalances, hotCodes, hotSums, tx.bucket) // the transaction's one bucket per hot account
	}
	// Credits to lots go first: a credit's posting names the shared lot it
	// went into.
	if len(sCodes) > 0 {
		b.Queue(qManySharedLots, sCodes, sEntries, sAmounts, sAvailable, sExpire)
	}
	if len(lCodes) > 0 {
		b.Queue(qManyLots, lCodes, lEntries, lAmounts, lAvailable, lExpire)
	}
	b.Queue(qManyPostings, pEntries, pCodes, pAmounts, pEff, pShared)
	if len(dCodes) > 0 {
		b.Queue(`SELECT draw_lots_many($1, $2, $3, $4)`, dCodes, dEntries, dAmounts, now)
	}
	return newCodes, deferred
}

// Savepoint runs fn in a savepoint of the transaction: if fn fails, what it
// did is undone and the transaction goes on; its error is returned.
func (tx *Tx) Savepoint(ctx context.Context, fn func(tx *Tx) error) error {
	sp, err := tx.Begin(ctx)
	if err != nil {
		return err
	}
	inner := &Tx{Tx: sp, l: tx.l, now: tx.now, bucket: tx.bucket}
	if err := fn(inner); err != nil {
		if rerr := sp.Rollback(ctx); rerr != nil {
			return rerr
		}
		return err
	}
	if err := sp.Commit(ctx); err != nil {
		return err
	}
	tx.codes = append(tx.codes, inner.codes...)
	tx.posted += inner.posted
	for code, sum := range inner.platform {
		tx.platform.add(code, sum)
	}
	return nil
}
