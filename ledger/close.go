package ledger

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/internal/fault"
)

// Closed periods. A close covers a month and everything before it: the
// closed periods are one prefix of time, and no entry may be effective
// before the end of the latest closed month (the entries_period_open
// trigger refuses it with fault.PeriodClosed). Months close in order, and
// only the latest closed month reopens, so the prefix never has holes and
// a closed month's opening balances cannot change either.

// Period is a closed month.
type Period struct {
	Month    string    `json:"month"` // YYYY-MM
	StartsAt time.Time `json:"starts_at"`
	EndsAt   time.Time `json:"ends_at"`
	ClosedAt time.Time `json:"closed_at"`
	ClosedBy string    `json:"closed_by"`
	Digest   string    `json:"digest"` // hex SHA-256 of the month's figures (PeriodFigures)
}

// PeriodEvent is a close or a reopening, as recorded.
type PeriodEvent struct {
	Action string    `json:"action"` // close, reopen
	Actor  string    `json:"actor"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
	Digest string    `json:"digest"` // the month's digest then
}

// CloseLockWait is how long a close waits for the transactions writing
// entries in flight: every writer that starts meanwhile waits behind it.
const CloseLockWait = 2 * time.Second

// ClosePeriod closes the month [starts, ends) named month, at the ledger's
// clock, and returns it with the digest of its figures. Every entry
// effective before ends is either in the closed figures or refused.
//
// The figures cover the whole history, so they are read before any lock
// is taken, in a snapshot of their own, and recorded (the close and the
// balances it keeps) in the close's transaction, still unseen by others.
// Only then does the close wait for the transactions writing entries in
// flight and hold new ones back (a lock on entries that writers take as
// they insert), while it reads what committed since the snapshot: the
// entries of transactions the snapshot did not see. Those effective before
// ends (entries back-dated into the month, or before it when no month is
// closed) are added to the figures, and the close's digest and the kept
// balances of the accounts they moved are corrected, under the lock:
// writers wait for that read and those few rows.
//
// Errors: fault.PeriodClosed (the month is closed already),
// fault.PeriodOutOfOrder (a month is closed and this one does not follow
// the latest), fault.PeriodNotEnded (the month has not ended),
// fault.PeriodBusy (writers in flight outlasted CloseLockWait).
func (l *Ledger) ClosePeriod(ctx context.Context, month string, starts, ends time.Time, actor string) (Period, error) {
	var (
		figs    figures
		snap    string // the snapshot figs were read in; "" when they were not read
		foreign string // the least id of a transaction snap sees the entries of but not the id; "" if none
		maxXID  string // the greatest entries.xid snap sees
	)
	err := l.inTx(ctx, readOnly, func(tx pgx.Tx) error {
		figs, snap, foreign, maxXID = nil, "", "", ""
		latest, err := latestClose(ctx, tx)
		if err != nil || closable(latest, month, starts, ends, l.now()) != nil {
			return err // the close below refuses it, with its lock held
		}
		if err := tx.QueryRow(ctx, `SELECT pg_current_snapshot()::text`).Scan(&snap); err != nil {
			return err
		}
		// Entries keep the transaction ids that wrote them. Books copied
		// from another cluster (a dump restored, a logical replica) carry
		// ids this cluster has not reached: the snapshot sees their rows
		// but not their ids. What committed since is then read below the
		// least of them, if the cluster has not reached it by the lock and
		// no entry has come with an id above every one the snapshot saw
		// (more of the other cluster's, written meanwhile).
		rows, err := tx.Query(ctx, qForeignXID, snap)
		if err != nil {
			return err
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		if len(ids) > 0 {
			foreign = ids[0]
			if err := tx.QueryRow(ctx, `SELECT max(xid)::text FROM entries`).Scan(&maxXID); err != nil {
				return err
			}
		}
		figs, err = readFigures(ctx, tx, starts, ends)
		return err
	})
	if err != nil {
		return Period{}, err
	}
	if l.afterFiguresRead != nil {
		l.afterFiguresRead()
	}
	var p Period
	err = l.inTx(ctx, pgx.TxOptions{}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `LOCK TABLE period_closes IN SHARE ROW EXCLUSIVE MODE`); err != nil {
			return err
		}
		latest, err := latestClose(ctx, tx)
		if err != nil {
			return err
		}
		now := l.now()
		if err := closable(latest, month, starts, ends, now); err != nil {
			return err
		}
		record := func(f figures) error {
			digest := f.digest(month, starts, ends)
			p = Period{Month: month, StartsAt: starts, EndsAt: ends, ClosedAt: now, ClosedBy: actor, Digest: hex.EncodeToString(digest)}
			if _, err := tx.Exec(ctx, `INSERT INTO period_closes (month, starts_at, ends_at, closed_at, closed_by, digest)
VALUES ($1, $2, $3, $4, $5, $6)`, month, starts, ends, now, actor, digest); err != nil {
				return err
			}
			return keepBalances(ctx, tx, starts, ends, f, nil)
		}
		if snap != "" {
			if err := record(figs); err != nil {
				return err
			}
		}
		// Writers that start while the close waits queue behind it: wait
		// for the writers in flight no longer than CloseLockWait.
		if _, err := tx.Exec(ctx, `SET LOCAL lock_timeout = `+strconv.Itoa(int(CloseLockWait/time.Millisecond))); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `LOCK TABLE entries IN SHARE ROW EXCLUSIVE MODE`); err != nil {
			if pe := (*pgconn.PgError)(nil); errors.As(err, &pe) && pe.Code == "55P03" { // lock_not_available
				return fault.Errorf(fault.PeriodBusy, "transactions writing entries kept %s's close waiting longer than %s: nothing was closed, try again",
					month, CloseLockWait)
			}
			return err
		}
		if _, err := tx.Exec(ctx, `SET LOCAL lock_timeout = 0`); err != nil {
			return err
		}
		// Every transaction that committed since the snapshot has an id
		// below xmax now: if the least foreign id is at or above it, the
		// foreign entries the snapshot saw are not among them.
		var reached bool
		if err := tx.QueryRow(ctx, `SELECT coalesce(pg_snapshot_xmax(pg_current_snapshot()) > nullif($1, '')::xid8, false)
    OR coalesce((SELECT max(xid) FROM entries) > nullif($2, '')::xid8, false)`, foreign, maxXID).Scan(&reached); err != nil {
			return err
		}
		switch {
		case snap == "" || reached:
			// Refused by the first look and closable now (a race with
			// another close), or the cluster reached an id from another
			// one, or more of them came, while the close read: read the
			// figures here.
			l.stats.ClosesReadUnderLock.Add(1)
			if snap != "" { // recorded with figs: record it anew (its kept balances go with its row)
				if _, err := tx.Exec(ctx, `DELETE FROM period_closes WHERE month = $1`, month); err != nil {
					return err
				}
			}
			all, err := readFigures(ctx, tx, starts, ends)
			if err != nil {
				return err
			}
			if err := record(all); err != nil {
				return err
			}
		default:
			since, err := figuresSince(ctx, tx, snap, foreign, starts, ends)
			if err != nil {
				return err
			}
			if len(since) > 0 {
				// Correct the close with them: its digest, and the kept
				// balances of the accounts they moved.
				all := figs.plus(since)
				digest := all.digest(month, starts, ends)
				p.Digest = hex.EncodeToString(digest)
				if _, err := tx.Exec(ctx, `UPDATE period_closes SET digest = $2 WHERE month = $1`, month, digest); err != nil {
					return err
				}
				moved := make(map[string]bool, len(since))
				for _, l := range since {
					moved[l.code] = true
				}
				if err := keepBalances(ctx, tx, starts, ends, all, moved); err != nil {
					return err
				}
			}
		}
		digest, _ := hex.DecodeString(p.Digest)
		_, err = tx.Exec(ctx, `INSERT INTO period_history (month, action, actor, at, digest) VALUES ($1, 'close', $2, $3, $4)`,
			month, actor, now, digest)
		return err
	})
	return p, err
}

// CheckClosable says why the month [starts, ends) named month may not
// close now (fault.PeriodClosed, fault.PeriodOutOfOrder,
// fault.PeriodNotEnded), or nil if it may: the refusals ClosePeriod gives
// before it reads anything, found by one probe of period_closes. A close
// asks it before the reconciliation it needs, which reads the whole books:
// a month that cannot close is refused without it.
func (l *Ledger) CheckClosable(ctx context.Context, month string, starts, ends time.Time) error {
	return l.inTx(ctx, readOnly, func(tx pgx.Tx) error {
		latest, err := latestClose(ctx, tx)
		if err != nil {
			return err
		}
		return closable(latest, month, starts, ends, l.now())
	})
}

// closable says why month [starts, ends) may not close after latest (the
// latest closed month, or nil), or nil if it may; a zero now skips the
// check that the month has ended.
func closable(latest *Period, month string, starts, ends, now time.Time) error {
	switch {
	case latest != nil && !ends.After(latest.EndsAt):
		if latest.Month == month {
			return fault.Errorf(fault.PeriodClosed, "%s is closed already", month)
		}
		return fault.Errorf(fault.PeriodClosed, "%s is closed already: periods up to %s are", month, latest.Month)
	case latest != nil && !starts.Equal(latest.EndsAt):
		return fault.Errorf(fault.PeriodOutOfOrder, "months close in order: the latest closed month is %s, so the next to close is the one that begins at %s",
			latest.Month, latest.EndsAt.UTC().Format(time.RFC3339))
	case !now.IsZero() && ends.After(now):
		return fault.Errorf(fault.PeriodNotEnded, "%s has not ended: it ends at %s", month, ends.UTC().Format(time.RFC3339))
	}
	return nil
}

// ReopenPeriod reopens the latest closed month, recording who, when and
// why; its digest stays in the history.
//
// Errors: fault.Invalid (no reason), fault.PeriodNotClosed (the month is
// not closed), fault.PeriodOutOfOrder (a later month is closed: reopen it
// first).
func (l *Ledger) ReopenPeriod(ctx context.Context, month, actor, reason string) (PeriodEvent, error) {
	if strings.TrimSpace(reason) == "" {
		return PeriodEvent{}, &fault.Error{Code: fault.Invalid, Message: "reopening a month needs a reason",
			Fields: map[string]string{"reason": "required"}}
	}
	var ev PeriodEvent
	err := l.inTx(ctx, pgx.TxOptions{}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `LOCK TABLE period_closes IN SHARE ROW EXCLUSIVE MODE`); err != nil {
			return err
		}
		latest, err := latestClose(ctx, tx)
		if err != nil {
			return err
		}
		var closed bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM period_closes WHERE month = $1)`, month).Scan(&closed); err != nil {
			return err
		}
		switch {
		case !closed:
			return fault.Errorf(fault.PeriodNotClosed, "%s is not closed", month)
		case latest.Month != month:
			return fault.Errorf(fault.PeriodOutOfOrder, "only the latest closed month reopens: reopen %s first", latest.Month)
		}
		now := l.now()
		digest, _ := hex.DecodeString(latest.Digest)
		if _, err := tx.Exec(ctx, `DELETE FROM period_closes WHERE month = $1`, month); err != nil {
			return err
		}
		ev = PeriodEvent{Action: "reopen", Actor: actor, Reason: reason, At: now, Digest: latest.Digest}
		_, err = tx.Exec(ctx, `INSERT INTO period_history (month, action, actor, reason, at, digest) VALUES ($1, 'reopen', $2, $3, $4, $5)`,
			month, actor, reason, now, digest)
		return err
	})
	return ev, err
}

func latestClose(ctx context.Context, tx pgx.Tx) (*Period, error) {
	rows, err := tx.Query(ctx, `SELECT month, starts_at, ends_at, closed_at, closed_by, digest FROM period_closes ORDER BY ends_at DESC LIMIT 1`)
	if err != nil {
		return nil, err
	}
	ps, err := pgx.CollectRows(rows, scanPeriod)
	if err != nil || len(ps) == 0 {
		return nil, err
	}
	return &ps[0], nil
}

func scanPeriod(row pgx.CollectableRow) (Period, error) {
	var p Period
	var digest []byte
	err := row.Scan(&p.Month, &p.StartsAt, &p.EndsAt, &p.ClosedAt, &p.ClosedBy, &digest)
	p.Digest = hex.EncodeToString(digest)
	return p, err
}

// periodClosed is fault.PeriodClosed for an entry the entries_period_open
// trigger refused; the trigger's detail is the first instant still open.
func periodClosed(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Detail != "" {
		return closedBefore(pe.Detail)
	}
	return fault.Errorf(fault.PeriodClosed, "the entry falls in a closed period")
}

func closedBefore(through string) error {
	return fault.Errorf(fault.PeriodClosed, "the books are closed before %s: nothing may be effective earlier", through)
}

// ClosedBefore is fault.PeriodClosed for business dated before through, the
// end of the latest closed month (Tx.ClosedThrough), worded as the ledger
// words an entry it refuses.
func ClosedBefore(through time.Time) error {
	return closedBefore(through.UTC().Format(time.RFC3339))
}

// ClosedThrough is the end of the latest closed month, the zero time when
// no month is closed: what tx records dated before it falls in a closed
// period. It is for what tx writes beside the books without an entry (an
// event worth no points still adds to its month's contribution), which
// the entries_period_open trigger never sees. tx first takes the lock an
// insert into entries takes, which a close waits for and which waits for a
// close: no month closes between this read and tx's commit.
//
// month is the latest closed month's name (YYYY-MM, "" when none): business
// that its rules count in a month (a shipment's contribution) must not be
// counted in a closed one, whatever the instant, since rule versions may
// count months in other time zones than the close did.
func (tx *Tx) ClosedThrough(ctx context.Context) (through time.Time, month string, err error) {
	var (
		b    pgx.Batch
		ends *time.Time
		name *string
	)
	b.Queue(`LOCK TABLE entries IN ROW EXCLUSIVE MODE`)
	b.Queue(`SELECT ends_at, month FROM period_closes ORDER BY ends_at DESC LIMIT 1`).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			if err := rows.Scan(&ends, &name); err != nil {
				return err
			}
		}
		return rows.Err()
	})
	if err := tx.SendBatch(ctx, &b).Close(); err != nil || ends == nil {
		return time.Time{}, "", err
	}
	return *ends, *name, nil
}

// ClosedPeriod is the month if it is closed (nil otherwise) and its
// history of closes and reopenings, oldest first.
func (l *Ledger) ClosedPeriod(ctx context.Context, month string) (*Period, []PeriodEvent, error) {
	var (
		p       *Period
		history []PeriodEvent
	)
	err := l.inTx(ctx, readOnly, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT month, starts_at, ends_at, closed_at, closed_by, digest FROM period_closes WHERE month = $1`, month)
		if err != nil {
			return err
		}
		ps, err := pgx.CollectRows(rows, scanPeriod)
		if err != nil {
			return err
		}
		p = nil
		if len(ps) == 1 {
			p = &ps[0]
		}
		rows, err = tx.Query(ctx, `SELECT action, actor, reason, at, digest FROM period_history WHERE month = $1 ORDER BY id`, month)
		if err != nil {
			return err
		}
		history, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (PeriodEvent, error) {
			var e PeriodEvent
			var d []byte
			err := row.Scan(&e.Action, &e.Actor, &e.Reason, &e.At, &d)
			e.Digest = hex.EncodeToString(d)
			return e, err
		})
		return err
	})
	return p, history, err
}

// ClosedAt is the closed month that contains the instant, or nil.
func (l *Ledger) ClosedAt(ctx context.Context, t time.Time) (*Period, error) {
	rows, err := l.pool.Query(ctx, `SELECT month, starts_at, ends_at, closed_at, closed_by, digest FROM period_closes
WHERE starts_at <= $1 AND $1 < ends_at`, t)
	if err != nil {
		return nil, err
	}
	ps, err := pgx.CollectRows(rows, scanPeriod)
	if err != nil || len(ps) == 0 {
		return nil, err
	}
	return &ps[0], nil
}

// PeriodFigures renders the month's figures canonically: for every account
// with a posting effective before the month ends, in code order (byte by
// byte, whatever the database's collation), its
// opening balance, what moved it in the month by entry kind (a reversal
// in the kind it reversed, as Movements counts it) and its closing
// balance, amounts at their asset's scale. The closing balances are the
// month's trial balance; the roll-forwards are sums of these movements.
func (l *Ledger) PeriodFigures(ctx context.Context, month string, starts, ends time.Time) (string, error) {
	var out string
	err := l.ReadTx(ctx, func(tx *Tx) error {
		f, err := readFigures(ctx, tx.Tx, starts, ends)
		if err != nil {
			return err
		}
		var b strings.Builder
		f.render(&b, month, starts, ends)
		out = b.String()
		return nil
	})
	return out, err
}

// PeriodDigest is the hex SHA-256 of PeriodFigures, as it is now: for a
// closed month, the digest it was closed with.
func (l *Ledger) PeriodDigest(ctx context.Context, month string, starts, ends time.Time) (string, error) {
	figures, err := l.PeriodFigures(ctx, month, starts, ends)
	sum := sha256.Sum256([]byte(figures))
	return hex.EncodeToString(sum[:]), err
}

// figures are a month's figures, a line per account with a posting
// effective before the month ends, in code order (byte by byte).
type figures []figureLine

// figureLine is an account's line of a month's figures. Amounts are at the
// asset's scale, which every posting's amount respects (the amount_scale
// check), so their text is exact.
type figureLine struct {
	code             string
	asset            Asset
	opening, closing string
	kinds            []kindAmount // the month's postings by kind, in kind order (byte by byte); kinds that sum to zero left out
	moved            bool         // the month's postings do not sum to zero
}

type kindAmount struct{ kind, amount string }

// kindLabel is the kind an entry e counts in, in reports and figures: a
// reversal (reversal_of, which only the ledger's Reverse sets) in the kind
// of the entry it reversed, which Reverse recorded as its metadata's
// reversed_kind; any other entry in its own kind, whatever its metadata
// says (a manual entry's metadata is its caller's).
const kindLabel = `CASE WHEN e.reversal_of IS NULL THEN e.kind ELSE coalesce(e.metadata->>'reversed_kind', e.kind) END`

// figuresSums is what the figures' queries select from postings p of
// entries e in accounts a: by account and kind (a reversal in the kind it
// reversed), the sums before $1 (the month's start) and from it, in code
// and kind order, byte by byte; figuresOrder ends them.
const (
	figuresSums = `SELECT a.code, a.asset, ` + kindLabel + `,
    coalesce(sum(p.amount) FILTER (WHERE p.effective_at < $1), 0),
    coalesce(sum(p.amount) FILTER (WHERE p.effective_at >= $1), 0)
`
	figuresOrder = `
GROUP BY a.code, a.asset, 3
ORDER BY a.code COLLATE "C", ` + kindLabel + ` COLLATE "C"`
)

// qFigures sums the postings effective before $2 (the month's end).
const qFigures = figuresSums + `FROM postings p
JOIN accounts a ON a.id = p.account_id
JOIN entries e ON e.id = p.entry_id
WHERE p.effective_at < $2` + figuresOrder

// qFiguresSince sums, as qFigures does, the postings of the entries that
// the snapshot $3 does not see: those committed since it was taken, by
// transactions with ids below $4 when $4 is not empty (the least id of
// another cluster's entries the snapshot saw; the close checks that every
// transaction since has a lower one). They are found by the transaction
// that wrote them (entries_xid): every one not committed when the snapshot
// was taken has an xid at or above its xmin.
const qFiguresSince = figuresSums + `FROM entries e
JOIN postings p ON p.entry_id = e.id
JOIN accounts a ON a.id = p.account_id
WHERE e.xid >= pg_snapshot_xmin($3::text::pg_snapshot) AND (nullif($4, '') IS NULL OR e.xid < nullif($4, '')::xid8)
    AND NOT pg_visible_in_snapshot(e.xid, $3::text::pg_snapshot) AND p.effective_at < $2` + figuresOrder

// qForeignXID is the least transaction id of an entry the snapshot $1, the
// transaction's own, sees but whose id it does not: an id from another
// cluster. It reads entries_xid from the snapshot's xmin, where the entries
// of the transactions in flight, unseen, are the only others.
const qForeignXID = `SELECT e.xid::text FROM entries e WHERE e.xid >= pg_snapshot_xmin($1::text::pg_snapshot)
    AND NOT pg_visible_in_snapshot(e.xid, $1::text::pg_snapshot) ORDER BY e.xid LIMIT 1`

// readFigures reads the figures of the month [starts, ends) from every
// posting tx sees.
func readFigures(ctx context.Context, tx pgx.Tx, starts, ends time.Time) (figures, error) {
	return queryFigures(ctx, tx, qFigures, starts, ends)
}

// figuresSince reads what the postings committed since the snapshot snap
// (pg_current_snapshot's text), by transactions with ids below bound (none
// when ""), add
// to the figures of the month [starts, ends), as a month's figures of
// their own: added to those read in snap (plus), they are the month's
// figures now.
func figuresSince(ctx context.Context, tx pgx.Tx, snap, bound string, starts, ends time.Time) (figures, error) {
	return queryFigures(ctx, tx, qFiguresSince, starts, ends, snap, bound)
}

func queryFigures(ctx context.Context, tx pgx.Tx, q string, starts, ends time.Time, args ...any) (figures, error) {
	rows, err := tx.Query(ctx, q, append([]any{starts, ends}, args...)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var (
		out            figures
		line           figureLine
		opening, moved decimal.Decimal
		kinds          = map[string]string{} // each kind's text once
	)
	flush := func() {
		if line.code == "" {
			return
		}
		s := line.asset.Scale()
		line.opening, line.closing, line.moved = opening.StringFixed(s), opening.Add(moved).StringFixed(s), !moved.IsZero()
		out = append(out, line)
		line, opening, moved = figureLine{}, decimal.Zero, decimal.Zero
	}
	for rows.Next() {
		var c, kind string
		var a Asset
		var before, during decimal.Decimal
		if err := rows.Scan(&c, &a, &kind, &before, &during); err != nil {
			return nil, err
		}
		if c != line.code {
			flush()
			line.code, line.asset = c, a
		}
		opening, moved = opening.Add(before), moved.Add(during)
		if !during.IsZero() {
			k, ok := kinds[kind]
			if !ok {
				k, kinds[kind] = kind, kind
			}
			line.kinds = append(line.kinds, kindAmount{k, during.StringFixed(a.Scale())})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	flush()
	return out, nil
}

// plus is the figures of f and g together: f's lines with g's added, and
// g's accounts f has not, in code order. It reads the amounts of the lines
// both have only.
func (f figures) plus(g figures) figures {
	if len(g) == 0 {
		return f
	}
	out := make(figures, 0, len(f)+len(g))
	i, j := 0, 0
	for i < len(f) || j < len(g) {
		switch {
		case j == len(g) || i < len(f) && f[i].code < g[j].code:
			out = append(out, f[i])
			i++
		case i == len(f) || g[j].code < f[i].code:
			out = append(out, g[j])
			j++
		default:
			out = append(out, f[i].plus(g[j]))
			i, j = i+1, j+1
		}
	}
	return out
}

// plus adds g's line of the same account to l's.
func (l figureLine) plus(g figureLine) figureLine {
	s := l.asset.Scale()
	opening := decimal.RequireFromString(l.opening).Add(decimal.RequireFromString(g.opening))
	sums := map[string]decimal.Decimal{}
	for _, k := range append(append([]kindAmount(nil), l.kinds...), g.kinds...) {
		sums[k.kind] = sums[k.kind].Add(decimal.RequireFromString(k.amount))
	}
	out := figureLine{code: l.code, asset: l.asset, opening: opening.StringFixed(s)}
	moved := decimal.Zero
	for k, sum := range sums {
		moved = moved.Add(sum)
		if !sum.IsZero() {
			out.kinds = append(out.kinds, kindAmount{k, sum.StringFixed(s)})
		}
	}
	sort.Slice(out.kinds, func(i, j int) bool { return out.kinds[i].kind < out.kinds[j].kind })
	out.closing, out.moved = opening.Add(moved).StringFixed(s), !moved.IsZero()
	return out
}

// render writes the month's figures canonically (PeriodFigures).
func (f figures) render(b *strings.Builder, month string, starts, ends time.Time) {
	b.WriteString("tally period figures v1\nmonth " + month + "\nfrom " + starts.UTC().Format(time.RFC3339Nano) +
		"\nto " + ends.UTC().Format(time.RFC3339Nano) + "\n")
	for _, l := range f {
		b.WriteString("account " + l.code + " " + string(l.asset) + " opening " + l.opening + " closing " + l.closing + "\n")
		for _, k := range l.kinds {
			b.WriteString("  " + k.kind + " " + k.amount + "\n")
		}
	}
}

// digest is the SHA-256 of the figures' rendering.
func (f figures) digest(month string, starts, ends time.Time) []byte {
	var b strings.Builder
	f.render(&b, month, starts, ends)
	sum := sha256.Sum256([]byte(b.String()))
	return sum[:]
}

// keepBalances keeps the closing balances of the month [starts, ends) being
// closed in tx (period_balances): of the accounts it moved, or, when the
// month before kept none (the first close, the first since these were
// kept, or one after a close by a release that kept none), of every
// account in its figures, zeros included, so that every account's latest
// kept balance is at most a run of closes old and a balance as of an
// instant reads the postings since then at most. With only, it keeps those
// accounts' alone, replacing what tx kept of them before (period_balances_kept
// lets the transaction that inserted the close do that).
func keepBalances(ctx context.Context, tx pgx.Tx, starts, ends time.Time, f figures, only map[string]bool) error {
	var before bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT FROM period_balances WHERE ends_at = $1)`, starts).Scan(&before); err != nil {
		return err
	}
	var codes, balances, replaced []string
	for _, l := range f {
		if only != nil && !only[l.code] {
			continue
		}
		replaced = append(replaced, l.code)
		if l.moved || !before {
			codes, balances = append(codes, l.code), append(balances, l.closing)
		}
	}
	if only != nil {
		if _, err := tx.Exec(ctx, `DELETE FROM period_balances b USING accounts a
WHERE b.ends_at = $2 AND b.account_id = a.id AND a.code = ANY($1::text[])`, replaced, ends); err != nil {
			return err
		}
	}
	_, err := tx.Exec(ctx, `INSERT INTO period_balances (account_id, ends_at, balance)
SELECT a.id, $3, u.balance FROM unnest($1::text[], $2::numeric[]) AS u (code, balance) JOIN accounts a ON a.code = u.code`,
		codes, balances, ends)
	return err
}
