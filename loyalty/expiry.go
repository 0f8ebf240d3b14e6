package loyalty

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/notify"
)

// ExpiryChunk is how many customers one expiry transaction covers.
const ExpiryChunk = 500

// ExpiryPreviewCustomers is how many customers a preview lists one by one;
// its totals count every customer.
const ExpiryPreviewCustomers = 1000

// MaxUndoReason is the longest reason an undo takes, in characters.
const MaxUndoReason = 500

// ExpiryReport is what an expiry run did, or, for a preview (DryRun), what
// it would do.
type ExpiryReport struct {
	// RunID identifies a run, in its entries' metadata and to undo it; a
	// preview has none, nor a run that expired nothing.
	RunID     int64     `json:"run_id,omitempty"`
	AsOf      time.Time `json:"as_of"`
	DryRun    bool      `json:"dry_run"`
	Customers int       `json:"customers"`
	Points    int64     `json:"points,string"`
	Chunks    int       `json:"chunks"`
	// ByCustomer is a preview's points per customer, in customer id order:
	// the first ExpiryPreviewCustomers, Truncated when there are more.
	ByCustomer []CustomerExpiry `json:"by_customer,omitempty"`
	Truncated  bool             `json:"truncated,omitempty"`
}

// CustomerExpiry is the points of one customer an expiry run would take.
type CustomerExpiry struct {
	CustomerID string `json:"customer_id"`
	Points     int64  `json:"points,string"`
}

// checkAsOf refuses an as_of ahead of now by more than the clock skew an
// event's occurred_at may have: no job acts ahead of now.
func (s *Service) checkAsOf(asOf time.Time) error {
	if latest := s.now().Add(clockSkew); asOf.After(latest) {
		return &fault.Error{Code: fault.AsOfInFuture, Fields: map[string]string{"as_of": "not later than now plus " + clockSkew.String()},
			Message: "as_of " + asOf.UTC().Format(time.RFC3339Nano) + " is later than now (" +
				s.now().UTC().Format(time.RFC3339) + ") plus the clock skew allowed, " + clockSkew.String()}
	}
	return nil
}

// Expire posts, per customer, one entry expiring every remaining point of
// the lots that expire at or before asOf. It works through customers in
// chunks of ExpiryChunk, each its own transaction, in bounded memory: an
// interrupted run leaves whole chunks done, and running again (or twice)
// posts only what is still unexpired. Its entries are effective at asOf,
// but no earlier than the back-dating window of the rules in effect now,
// nor than the customer's account held the points it takes (expiredFrom).
// A run that expires points is recorded with an id that its entries'
// metadata carry (run_id), by which UndoExpiry undoes it; one that expires
// nothing writes nothing. Each customer's expiry is announced
// (points.expired) in the transaction of its entry.
// progress, if not nil, hears after each chunk.
//
// Errors: fault.AsOfInFuture (asOf later than now plus the clock skew
// events may have; nothing is written).
func (s *Service) Expire(ctx context.Context, asOf time.Time, actor string, progress func(ExpiryReport)) (ExpiryReport, error) {
	return s.expire(ctx, asOf, actor, false, progress)
}

// expiredFrom is the instant a customer's expiry entry, taking amount
// points from the points account code (locked), takes effect at: the
// run's (effective), unless the account did not hold them from then on,
// by date: points a cancelled redemption put back into lots that had
// expired are credited when they came back, after a late run's as_of, and
// taken at its date they would leave the account below zero as of the
// instants between. Those expire from the earliest instant from which the
// account held them.
// held is the account's balance now, least its least balance from
// effective on (ledger.Tx.LockExpiring).
func expiredFrom(ctx context.Context, tx *ledger.Tx, code string, effective time.Time, amount, held, least decimal.Decimal) (time.Time, error) {
	if !least.LessThan(amount) {
		return effective, nil
	}
	return tx.HeldFrom(ctx, code, effective, held, amount)
}

// PreviewExpiry is what Expire would do now, written nowhere: the same
// totals (and chunks), and the points per customer. A preview acts on
// nothing, so its asOf may be in the future: what the lots held now would
// lose by then.
func (s *Service) PreviewExpiry(ctx context.Context, asOf time.Time) (ExpiryReport, error) {
	return s.expire(ctx, asOf, "", true, nil)
}

func (s *Service) expire(ctx context.Context, asOf time.Time, actor string, dryRun bool, progress func(ExpiryReport)) (ExpiryReport, error) {
	rep := ExpiryReport{AsOf: asOf, DryRun: dryRun}
	if dryRun {
		rep.ByCustomer = []CustomerExpiry{}
	} else if err := s.checkAsOf(asOf); err != nil {
		return rep, err
	}
	after := ""
	for {
		codes, err := s.ledger.ExpiringAccounts(ctx, asOf, after, ExpiryChunk)
		if err != nil {
			return rep, err
		}
		if len(codes) == 0 {
			return rep, nil
		}
		var chunk []CustomerExpiry
		var runID int64
		run := s.ledger.InTx
		if dryRun {
			run = s.ledger.ReadTx
		}
		err = run(ctx, func(tx *ledger.Tx) error {
			chunk, runID = chunk[:0], rep.RunID
			var notes []notify.Event
			if runID != 0 {
				// An undo locks the run too: a run undone while it runs
				// stops, so that its undo stays exact.
				if err := lockRun(ctx, tx, runID); err != nil {
					return err
				}
				var undone bool
				if err := tx.QueryRow(ctx, `SELECT undone_at IS NOT NULL FROM expiry_runs WHERE id = $1 FOR UPDATE`, runID).
					Scan(&undone); err != nil {
					return err
				}
				if undone {
					return fault.Errorf(fault.AlreadyUndone, "expiry run %d was undone while it ran: it stops, and a later run takes what it left", runID)
				}
			}
			effective := asOf
			if now := tx.Now(); effective.After(now) {
				effective = now // within the clock skew: the points go now
			} else if !dryRun {
				// A late run dates its entries no earlier than business
				// recorded now may be dated: months before the back-dating
				// window stay as finance reported them.
				earliest, err := s.earliestOccurredAt(ctx, tx, now)
				if err != nil {
					return err
				}
				if effective.Before(earliest) {
					effective = earliest
				}
			}
			// The page comes in the database's collation (the index's
			// order, which keeps the cursor cheap); a run locks the
			// accounts in their codes' byte order, as every writer locks
			// balances, or a writer taking two of them could wait for
			// this run while it waits for that writer. A preview locks
			// nothing and lists its customers in the page's order.
			order := codes
			if !dryRun {
				order = slices.Sorted(slices.Values(codes))
				// The customers first, as every writer takes them before
				// their accounts; once they are locked, the check that the
				// run's notices (points.expired) follow those of theirs
				// committed meanwhile (LockCustomers).
				owners := make([]string, 0, len(codes))
				for _, code := range codes {
					if c, ok := ledger.CustomerOf(code); ok {
						owners = append(owners, c)
					}
				}
				if _, err := LockCustomers(ctx, tx, owners); err != nil {
					return err
				}
			}
			// A preview reads what the chunk's lots would lose in one
			// query: a query per customer cost ~90 µs each, a minute and
			// a half a million customers.
			var totals map[string]int64
			if dryRun {
				var err error
				if totals, err = tx.ExpiringTotals(ctx, codes, time.Time{}, asOf); err != nil {
					return err
				}
			}
			for _, code := range order {
				// Lock the account (as every posting does) before reading
				// what its lots hold, so nothing draws on them meanwhile;
				// with its balance now and its least from effective on.
				var (
					groups      []ledger.ExpiryGroup
					held, least decimal.Decimal
					err         error
				)
				var expiring int64
				if dryRun {
					expiring = totals[code]
				} else if groups, held, least, err = tx.LockExpiring(ctx, code, time.Time{}, asOf, effective); err != nil {
					return err
				}
				for _, g := range groups {
					expiring += g.Points
				}
				if expiring == 0 {
					continue
				}
				id, _ := ledger.CustomerOf(code)
				chunk = append(chunk, CustomerExpiry{CustomerID: id, Points: expiring})
				if dryRun {
					continue
				}
				if runID == 0 {
					// The run is recorded with the first points it expires:
					// a run that expires nothing has nothing to undo.
					if err := tx.QueryRow(ctx, `INSERT INTO expiry_runs (as_of, actor, started_at) VALUES ($1, $2, $3) RETURNING id`,
						asOf, actor, tx.Now()).Scan(&runID); err != nil {
						return err
					}
				}
				meta, _ := json.Marshal(map[string]any{"as_of": asOf, "run_id": runID})
				amount := decimal.NewFromInt(expiring)
				at, err := expiredFrom(ctx, tx, code, effective, amount, held, least)
				if err != nil {
					return err
				}
				e, err := tx.Post(ctx, ledger.EntryInput{Kind: "expiry", EffectiveAt: at, Actor: actor,
					Reason: "points expired", Metadata: meta, Postings: []ledger.PostingInput{
						{Account: code, Amount: amount.Neg(), ExpiringBy: &asOf},
						{Account: "platform:points:expired", Amount: amount},
					}})
				if err != nil {
					return err
				}
				if _, err := tx.Exec(ctx, `INSERT INTO expiry_run_entries (run_id, entry_id) VALUES ($1, $2)`, runID, e.ID); err != nil {
					return err
				}
				notes = append(notes, notify.Event{Type: notify.PointsExpired, Customer: id, OccurredAt: at,
					Payload: Expired{Points: expiring, ExpiredAt: at.UTC(), AsOf: asOf.UTC(), RunID: runID, EntryID: e.ID}})
			}
			if dryRun || len(chunk) == 0 {
				return nil
			}
			if _, err := notify.Emit(ctx, tx, notes...); err != nil {
				return err
			}
			var points int64
			for _, c := range chunk {
				points += c.Points
			}
			_, err := tx.Exec(ctx, `UPDATE expiry_runs SET customers = customers + $2, points = points + $3 WHERE id = $1`,
				runID, len(chunk), points)
			return err
		})
		if err != nil {
			return rep, err
		}
		rep.RunID = runID
		for _, c := range chunk {
			rep.Customers++
			rep.Points += c.Points
			if dryRun {
				if len(rep.ByCustomer) == ExpiryPreviewCustomers {
					rep.Truncated = true
				} else {
					rep.ByCustomer = append(rep.ByCustomer, c)
				}
			}
		}
		rep.Chunks++
		if progress != nil {
			progress(rep)
		}
		after = codes[len(codes)-1]
	}
}

// Expired is the payload of a points.expired notification: what a run took
// from one customer. An undo of the run announces nothing (an operator's
// correction; the balances say what the customer holds).
type Expired struct {
	Points    int64     `json:"points,string"`
	ExpiredAt time.Time `json:"expired_at"` // the instant the expiry entry is dated
	AsOf      time.Time `json:"as_of"`
	RunID     int64     `json:"run_id"`
	EntryID   int64     `json:"entry_id"`
}

// KindExpiryUndone is the kind of the entries that undo an expiry run.
const KindExpiryUndone = "expiry.undone"

// UndoInput asks for an expiry run to be undone.
type UndoInput struct {
	Reason string
	Actor  string
	// IdempotencyKey and RequestHash make the undo safe to retry: the same
	// key and hash answer the undo first made, marked as a replay.
	IdempotencyKey string
	RequestHash    []byte
	// EarlierHash is as ledger.EntryInput's.
	EarlierHash []byte
}

// ExpiryUndo is an expiry run undone.
type ExpiryUndo struct {
	RunID     int64     `json:"run_id"`
	AsOf      time.Time `json:"as_of"`
	UndoneAt  time.Time `json:"undone_at"`
	Actor     string    `json:"actor"`
	Reason    string    `json:"reason"`
	Customers int       `json:"customers"`
	Points    int64     `json:"points,string"`
}

// UndoExpiry undoes an expiry run exactly, in one transaction: each entry
// it posted is reversed by a new entry of kind expiry.undone (with the
// reason, the actor and the run_id in its metadata), which returns the
// points to the lots they were taken from, with their original expiry, so
// every balance is what it was before the run. The restored lots are
// still past their expiry: they cannot be spent, and the next run whose
// as_of reaches their expiry takes them again. The undo announces nothing
// (see Expired). A run is undone once: a
// retry with the same idempotency key and request answers the undo first
// made with replayed = true.
//
// Errors: fault.Invalid (no reason, or one over MaxUndoReason characters),
// fault.NotFound, fault.AlreadyUndone, fault.IdempotencyConflict.
func (s *Service) UndoExpiry(ctx context.Context, runID int64, in UndoInput) (ExpiryUndo, bool, error) {
	in.Reason = strings.TrimSpace(in.Reason)
	switch {
	case in.Reason == "":
		return ExpiryUndo{}, false, fault.InvalidField("reason", "required: say why the run is undone")
	case utf8.RuneCountInString(in.Reason) > MaxUndoReason:
		return ExpiryUndo{}, false, fault.InvalidField("reason", fmt.Sprintf("at most %d characters", MaxUndoReason))
	}
	var (
		out      ExpiryUndo
		replayed bool
	)
	err := s.ledger.InTx(ctx, func(tx *ledger.Tx) error {
		replayed = false
		var key *string
		var hash []byte
		var undoneAt *time.Time
		if err := lockRun(ctx, tx, runID); err != nil {
			return err
		}
		err := tx.QueryRow(ctx, `SELECT as_of, undone_at, undo_key, undo_hash FROM expiry_runs WHERE id = $1 FOR UPDATE`,
			runID).Scan(&out.AsOf, &undoneAt, &key, &hash)
		if errors.Is(err, pgx.ErrNoRows) {
			return fault.Errorf(fault.NotFound, "no expiry run %d", runID)
		}
		if err != nil {
			return err
		}
		if undoneAt != nil {
			if in.IdempotencyKey == "" || key == nil || *key != in.IdempotencyKey {
				return fault.Errorf(fault.AlreadyUndone, "expiry run %d was undone at %s", runID, undoneAt.UTC().Format(time.RFC3339))
			}
			if !ledger.SameRequest(hash, in.RequestHash, in.EarlierHash) {
				return fault.Errorf(fault.IdempotencyConflict, "this idempotency key was already used for a different request (the undo of expiry run %d)", runID)
			}
			replayed = true
			out, err = expiryUndo(ctx, tx, runID)
			return err
		}
		if in.IdempotencyKey != "" {
			var other int64
			err := tx.QueryRow(ctx, `SELECT id FROM expiry_runs WHERE undo_key = $1`, in.IdempotencyKey).Scan(&other)
			if err == nil {
				return fault.Errorf(fault.IdempotencyConflict, "this idempotency key was already used for a different request (the undo of expiry run %d)", other)
			}
			if !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
		}
		// The run's customers are locked first, as every write of their
		// points locks them (the restored points are theirs again the
		// moment this commits, and a write that held a customer's lock
		// since before this transaction began, dated then, must not see
		// them: ledger.Tx.Restamp), then their balances, all at once in
		// code order (the order every writer locks them in): the run's
		// entries, reversed in id order below, follow its chunks, and the
		// chunks follow the database's collation, which need not be the
		// codes' bytes.
		rows, err := tx.Query(ctx, `SELECT entry_id FROM expiry_run_entries WHERE run_id = $1`, runID)
		if err != nil {
			return err
		}
		entries, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return err
		}
		codes, err := tx.AccountsOfEntries(ctx, entries)
		if err != nil {
			return err
		}
		var owners []string
		for _, code := range codes {
			if c, ok := ledger.CustomerOf(code); ok {
				owners = append(owners, c)
			}
		}
		if _, err := LockCustomers(ctx, tx, owners); err != nil {
			return err
		}
		if len(codes) > 0 {
			if _, err := tx.LockBalances(ctx, codes...); err != nil {
				return err
			}
		}
		var customers int
		var points int64
		var after int64
		for {
			rows, err := tx.Query(ctx, `SELECT entry_id FROM expiry_run_entries WHERE run_id = $1 AND entry_id > $2
ORDER BY entry_id LIMIT $3`, runID, after, ExpiryChunk)
			if err != nil {
				return err
			}
			ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
			if err != nil {
				return err
			}
			if len(ids) == 0 {
				break
			}
			for _, id := range ids {
				e, err := tx.Reverse(ctx, id, ledger.ReversalInput{Kind: KindExpiryUndone, Actor: in.Actor, Reason: in.Reason,
					Metadata: map[string]any{"run_id": runID}})
				if err != nil {
					return err
				}
				for _, p := range e.Postings {
					if p.Account != "platform:points:expired" {
						points += p.Amount.IntPart()
					}
				}
				customers++
			}
			after = ids[len(ids)-1]
		}
		var k *string
		if in.IdempotencyKey != "" {
			k = &in.IdempotencyKey
		}
		if _, err := tx.Exec(ctx, `UPDATE expiry_runs SET undone_at = $2, undo_actor = $3, undo_reason = $4, undo_key = $5,
    undo_hash = $6, undo_customers = $7, undo_points = $8 WHERE id = $1`,
			runID, tx.Now(), in.Actor, in.Reason, k, in.RequestHash, customers, points); err != nil {
			return err
		}
		out, err = expiryUndo(ctx, tx, runID)
		return err
	})
	if fault.UniqueViolation(err, "expiry_runs_undo_key_key") {
		// A twin with the same key undid another run meanwhile.
		return ExpiryUndo{}, false, fault.Errorf(fault.IdempotencyConflict, "this idempotency key was already used for a different request")
	}
	return out, replayed, err
}

func expiryUndo(ctx context.Context, tx *ledger.Tx, runID int64) (ExpiryUndo, error) {
	u := ExpiryUndo{RunID: runID}
	err := tx.QueryRow(ctx, `SELECT as_of, undone_at, undo_actor, undo_reason, undo_customers, undo_points
FROM expiry_runs WHERE id = $1`, runID).Scan(&u.AsOf, &u.UndoneAt, &u.Actor, &u.Reason, &u.Customers, &u.Points)
	u.AsOf, u.UndoneAt = u.AsOf.UTC(), u.UndoneAt.UTC()
	return u, err
}

// ExpiringPoints are points that expire on one day.
type ExpiringPoints struct {
	Date      string    `json:"date"` // the day they expire at its start, in the rules' time zone
	ExpiresAt time.Time `json:"expires_at"`
	Points    int64     `json:"points,string"`
}

// Expiring lists the customer's points that expire within the next days,
// grouped by expiry date, soonest first.
//
// Errors: fault.UnknownCustomer.
func (s *Service) Expiring(ctx context.Context, customerID string, within time.Duration) ([]ExpiringPoints, error) {
	out := []ExpiringPoints{}
	err := s.ledger.InTxGeneric(ctx, func(tx *ledger.Tx) error {
		now := tx.Now()
		if _, err := customer(ctx, tx, customerID, false); err != nil {
			return err
		}
		rs, err := s.rulesAt(ctx, tx, now)
		if err != nil {
			return err
		}
		groups, err := tx.ExpiringLots(ctx, ledger.CustomerAccount(customerID, "points"), now, now.Add(within))
		if err != nil {
			return err
		}
		out = out[:0]
		for _, g := range groups {
			// Lots expire at midnight starting a day; group by that day.
			date := g.ExpiresAt.In(rs.Location()).Format("2006-01-02")
			if n := len(out); n > 0 && out[n-1].Date == date {
				out[n-1].Points += g.Points
				continue
			}
			out = append(out, ExpiringPoints{Date: date, ExpiresAt: g.ExpiresAt.UTC(), Points: g.Points})
		}
		return nil
	})
	return out, err
}

// runLocks is the class of the advisory locks lockRun takes.
const runLocks = 0x7a11e7

// lockRun takes, until tx ends, the lock a run's chunks and its undo take
// before its row: an undo queued behind a chunk then comes before the
// run's next chunk, which stops (fault.AlreadyUndone). The row's lock
// alone does not promise that: the chunk updates the row, and its next
// chunk may lock the new version before the waiting undo, woken late, has
// followed it there. Advisory locks are granted in the order asked for.
// (A run id's hash shared with another run's only makes the two wait for
// each other.)
func lockRun(ctx context.Context, tx *ledger.Tx, runID int64) error {
	_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashint8($2))`, int32(runLocks), runID)
	return err
}
