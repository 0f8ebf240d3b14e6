package ledger

import (
	"context"
	"maps"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/internal/dectext"
	"github.com/tally-ledger/tally/internal/fault"
)

// Tx is a transaction in which a caller's own rows and the entries it posts
// commit together or not at all. Its embedded pgx.Tx runs the caller's SQL.
// It has one clock: Now, fixed when it begins.
type Tx struct {
	pgx.Tx
	l      *Ledger
	now    time.Time
	codes  []string // accounts the transaction may have created
	posted int64
	// bucket is the one balance bucket of each hot account this
	// transaction adds to, whatever the number of its entries.
	bucket int
	// platform is what the transaction's entries add to the platform
	// accounts, applied as its last statement (with its COMMIT).
	platform platformSums
	// pipe is the transaction InTx runs it in, which PostManyAndCommit may
	// commit; nil in a savepoint or a read.
	pipe *pipeTx
}

// InTx runs fn in a READ COMMITTED transaction and commits it, retrying the
// whole of fn on a serialization failure or deadlock: fn must be safe to run
// again (it is, if it only touches the database through tx). Each attempt
// is a transaction of its own, with its own Now. Row locks fn takes must
// follow a fixed order, as Post's do (by account code).
func (l *Ledger) InTx(ctx context.Context, fn func(tx *Tx) error) error {
	return l.ledgerTx(ctx, beginPlain, fn)
}

// QGenericPlans puts the rest of a transaction's statements on their
// generic plans: each prepared statement is planned once per connection,
// not at every execution.
const QGenericPlans = `SET LOCAL plan_cache_mode = force_generic_plan`

// The statements that begin a transaction of InTx, and of InTxGeneric.
var (
	beginPlain   = []string{"begin"}
	beginGeneric = []string{"begin", QGenericPlans}
)

// InTxGeneric is InTx with every statement of the transaction on its
// generic plan (QGenericPlans, sent with BEGIN: no round trip of its own).
// It is for the reads asked most often, a customer's pages: left to choose,
// PostgreSQL planned their statements anew at every execution (the
// statement page's spent more time planning than running), because a
// custom plan, fitted to the values, always looks cheaper than the generic
// one. A statement run in it must be written so that its generic plan
// probes its indexes: conditions on columns, never "$1 = 0 OR ...", which
// a generic plan can only test row by row.
func (l *Ledger) InTxGeneric(ctx context.Context, fn func(tx *Tx) error) error {
	return l.ledgerTx(ctx, beginGeneric, fn)
}

// ledgerTx is InTx with the statements that begin the transaction. The
// transaction's BEGIN goes with its first statement, and its COMMIT with
// what the entries moved on the platform accounts and it has not applied
// yet (see pipeTx): no round trip of their own.
func (l *Ledger) ledgerTx(ctx context.Context, begin []string, fn func(tx *Tx) error) error {
	var done *Tx
	attempt := func() error {
		return pipelined(ctx, l.pool, begin, func(pt *pipeTx) (*pgx.Batch, error) {
			tx := &Tx{Tx: pt, pipe: pt, l: l, now: l.now(), bucket: rand.IntN(l.buckets)}
			if err := fn(tx); err != nil {
				return nil, err
			}
			done = tx
			var b pgx.Batch
			tx.platform.queue(&b, tx.bucket)
			return &b, nil
		})
	}
	err := l.retry(ctx, attempt)
	if fault.NotNullViolation(err) {
		// An account the ledger remembered as existing does not: the
		// transaction that opened it is gone, lost with a primary that
		// failed over before a standby had it, or restored away. Which
		// codes are gone is not known here: forget them all, and try once
		// more, opening what is missing.
		l.known.forgetAll()
		err = l.retry(ctx, attempt)
	}
	if err != nil {
		return err
	}
	// Committed: the accounts exist now.
	l.known.add(done.codes...)
	l.stats.Posted.Add(done.posted)
	return nil
}

// platformSums is what entries add to each platform account, by code.
type platformSums map[string]decimal.Decimal

func (p *platformSums) add(code string, amount decimal.Decimal) {
	if *p == nil {
		*p = platformSums{}
	}
	(*p)[code] = (*p)[code].Add(amount)
}

// isPlatform reports whether the code names a platform account (one of the
// chart's fixed accounts, which every kind of entry shares).
func isPlatform(code string) bool {
	_, ok := platformAccounts[code]
	return ok
}

// queue queues into b the statement that adds the sums to the platform
// accounts' bucket, in one statement in account-code order. It is a
// transaction's last: a transaction of many entries holds a platform
// account's bucket only from then until it commits, and every transaction
// takes those buckets in the same order, so two of them never wait for
// each other in a cycle, whatever the order of their entries. Nothing
// reads a platform account's balance inside a transaction that posts.
func (p platformSums) queue(b *pgx.Batch, bucket int) {
	if len(p) == 0 {
		return
	}
	codes := slices.Sorted(maps.Keys(p))
	sums := make([]string, len(codes))
	for i, code := range codes {
		sums[i] = dectext.String(p[code])
	}
	b.Queue(qManyBalances, codes, sums, bucket)
}

// Now is the instant the transaction began, by the ledger's clock: the
// time of everything in it (until Restamp).
func (tx *Tx) Now() time.Time { return tx.now }

// Restamp moves Now, the instant the transaction's entries are dated at
// by default, to the ledger's clock, when that is later. A transaction
// that debits an account that may not go negative calls it once it holds
// the lock every credit to that account takes first: dated at its start,
// the debit could spend what a credit committed meanwhile gave back (a
// cancelled redemption), a credit dated after the debit (its own
// transaction began later). The books would be right, but by date the
// account would stand below zero between the two instants, and
// reconciliation's never_below_zero_by_date would name it. The customer
// group writers, the partner event groups and a redemption restamp once
// they hold their customers' locks, which every write that gives points
// back takes first (a cancellation, a hand reversal, an expiry run
// undone, a manual entry: prepaid.PostEntry). What the transaction read before keeps the instant it was
// read at, and a savepoint's Tx restamps itself alone.
func (tx *Tx) Restamp() {
	if t := tx.l.now(); t.After(tx.now) {
		tx.now = t
	}
}

// OpenAccounts creates the accounts, as the chart defines them, that do not
// exist yet (with their balance row when they may not go negative), so
// that the first entries on them need not.
//
// Errors: fault.UnknownAccount (a code outside the chart).
func (tx *Tx) OpenAccounts(ctx context.Context, codes ...string) error {
	var b pgx.Batch
	for _, code := range codes {
		spec, err := Chart(code)
		if err != nil {
			return err
		}
		b.Queue(qCreateAccount, code, spec.Asset, spec.AllowNegative, tx.now)
	}
	if err := tx.SendBatch(ctx, &b).Close(); err != nil {
		return err
	}
	tx.codes = append(tx.codes, codes...)
	return nil
}

// Balances reads the current balances of the accounts, in the order given,
// in one statement, as the transaction sees them; an account never posted
// to has balance zero.
//
// Errors: fault.UnknownAccount (a code outside the chart).
func (tx *Tx) Balances(ctx context.Context, codes ...string) ([]decimal.Decimal, error) {
	for _, code := range codes {
		if _, err := Chart(code); err != nil {
			return nil, err
		}
	}
	rows, err := tx.Query(ctx, qBalances, codes)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[decimal.Decimal])
}

const qBalances = `SELECT coalesce((SELECT sum(b.balance) FROM balance_buckets b JOIN accounts a ON a.id = b.account_id
                  WHERE a.code = u.code), 0)
FROM unnest($1::text[]) WITH ORDINALITY AS u (code, ord) ORDER BY u.ord`

// LockBalance locks the balance of an account that may not go negative
// until the transaction ends: no other transaction posts to the account
// (nor draws on its lots) meanwhile, so that a decision read from it holds
// when the transaction posts. Read what the decision needs after the lock
// is granted (at READ COMMITTED, each statement sees what was committed
// before it began). An account not opened yet has nothing to lock.
//
// Errors: fault.UnknownAccount (a code outside the chart), fault.Invalid (an
// account that may go negative: its balance is spread over rows that are
// never locked).
func (tx *Tx) LockBalance(ctx context.Context, code string) error {
	_, err := tx.LockBalances(ctx, code)
	return err
}

// LockBalances locks the balances of accounts that may not go negative, as
// LockBalance locks one, in code order (the order every transaction updates
// balance rows in), and reads them, in the order given, in one round trip:
// what a decision reads from them holds when the transaction posts. An
// account not opened yet is opened (empty, and left so should the decision
// post nothing), then locked: a lock on no row holds nothing, and another
// transaction could open and fund the account between the decision and the
// posting, which would land on that money while the decision priced from
// zero. An account another transaction is opening is waited for.
//
// Errors: as LockBalance.
func (tx *Tx) LockBalances(ctx context.Context, codes ...string) ([]decimal.Decimal, error) {
	var (
		b        pgx.Batch
		balances []decimal.Decimal
	)
	if err := tx.QueueLockBalances(&b, &balances, codes...); err != nil {
		return nil, err
	}
	return balances, tx.SendBatch(ctx, &b).Close()
}

// AccountsOfEntries lists the accounts that may not go negative which the
// entries post to, each once, for a caller that locks their balances all
// at once (LockBalances, in code order) before it posts to them in another
// order (reversing entries in id order, say).
func (tx *Tx) AccountsOfEntries(ctx context.Context, entryIDs []int64) ([]string, error) {
	if len(entryIDs) == 0 {
		return nil, nil
	}
	rows, err := tx.Query(ctx, qAccountsOfEntries, entryIDs)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// qAccountsOfEntries lists the accounts that may not go negative which the
// entries $1 post to, each once: a probe of postings_pkey per entry and of
// accounts_pkey per posting (OFFSET 0 keeps them probes on any plan).
const qAccountsOfEntries = `SELECT DISTINCT a.code FROM unnest($1::bigint[]) AS u (id)
CROSS JOIN LATERAL (SELECT account_id FROM postings WHERE entry_id = u.id OFFSET 0) p
CROSS JOIN LATERAL (SELECT code, allow_negative FROM accounts WHERE id = p.account_id OFFSET 0) a
WHERE NOT a.allow_negative`

// QueueLockBalances queues LockBalances' statements into b, for a caller
// that locks the balances in a round trip it makes anyway: balances gets
// them, in the order given, once b's results are read. It fails, queueing
// nothing, as LockBalances fails.
func (tx *Tx) QueueLockBalances(b *pgx.Batch, balances *[]decimal.Decimal, codes ...string) error {
	sorted, assets, err := lockable(codes)
	if err != nil {
		return err
	}
	b.Queue(qOpenToLock, sorted, assets, tx.now)
	b.Queue(qLockBalances, sorted)
	b.Queue(qBalances, codes).Query(func(rows pgx.Rows) (err error) {
		*balances, err = pgx.CollectRows(rows, pgx.RowTo[decimal.Decimal])
		return err
	})
	return nil
}

// lockable checks that every code names an account whose balance can be
// locked, and answers them sorted, each once, with their assets.
func lockable(codes []string) (sorted, assets []string, err error) {
	for _, code := range codes {
		spec, err := Chart(code)
		if err != nil {
			return nil, nil, err
		}
		if spec.AllowNegative {
			return nil, nil, &fault.Error{Code: fault.Invalid, Account: code, Message: "account " + quote(code) + " may go negative: its balance cannot be locked"}
		}
	}
	sorted = slices.Compact(slices.Sorted(slices.Values(codes)))
	assets = make([]string, len(sorted))
	for i, code := range sorted {
		spec, _ := Chart(code)
		assets[i] = string(spec.Asset)
	}
	return sorted, assets, nil
}

// qOpenToLock opens the accounts $1 names (their assets in $2, none of
// them may go negative) that are not open, each with its balance row, in
// the order qManyCreateAccounts opens accounts in (the codes' bytes, COLLATE
// "C", as Go sorts them, whatever the database's collation): an account another
// transaction is opening is waited for through the unique index, and then
// conflicts. Accounts found open (nearly always all of them) cost an index
// probe each and write nothing, nor use up an id (the probe comes before the
// insert; OFFSET 0 keeps it a probe per code on a generic plan).
const qOpenToLock = `WITH a AS (
    INSERT INTO accounts (code, asset, allow_negative, created_at)
    SELECT u.code, u.asset, false, $3::timestamptz FROM unnest($1::text[], $2::text[]) AS u (code, asset)
    WHERE NOT EXISTS (SELECT FROM accounts x WHERE x.code = u.code OFFSET 0)
    ORDER BY u.code COLLATE "C"
    ON CONFLICT (code) DO NOTHING RETURNING id)
INSERT INTO balance_buckets (account_id, bucket, allow_negative, balance)
SELECT id, 0, false, 0 FROM a`

// qLockBalances locks the balance rows of the accounts $1 names, in its
// order: one index probe and lock per code, as unnest yields them (OFFSET 0
// keeps the planner from turning the lookups into a join).
const qLockBalances = `SELECT 1 FROM unnest($1::text[]) WITH ORDINALITY AS u (code, ord)
CROSS JOIN LATERAL (SELECT FROM accounts a JOIN balance_buckets b ON b.account_id = a.id AND b.bucket = 0
    WHERE a.code = u.code OFFSET 0 FOR UPDATE OF b) l
ORDER BY u.ord`

// ReadTx runs fn in a read-only REPEATABLE READ transaction: one consistent
// snapshot, for reports that stream while they read and for the ledger's
// reads composed with the caller's own. It is not retried (a read-only
// snapshot has nothing to retry for). tx.Now is when it began.
func (l *Ledger) ReadTx(ctx context.Context, fn func(tx *Tx) error) error {
	return pgx.BeginTxFunc(ctx, l.pool, readOnly, func(ptx pgx.Tx) error {
		return fn(&Tx{Tx: ptx, l: l, now: l.now()})
	})
}

// Durable returns once everything committed before it is as durable as a
// commit of its own: it commits a transaction that writes WAL (a
// transactional message, and its commit record), and such a commit waits
// for the WAL up to its own record to be flushed, and with synchronous
// replication acknowledged by the standbys (a transaction that writes no
// WAL but its commit record, an xid alone, commits asynchronously and
// waits for nobody). It fails when ctx ends first. A request answered as a replay of what an earlier one
// recorded calls it first: that earlier commit may have been cut off while
// it waited for a standby (its session killed), visible on the primary but
// on no standby yet.
func (l *Ledger) Durable(ctx context.Context) error {
	return durable(ctx, l.pool)
}
