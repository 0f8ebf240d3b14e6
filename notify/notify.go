// Package notify is the outbox of what Tally tells partners: a tier
// changed, points earned or about to expire, a deposit received, a
// reconciliation failed. A notification is written by Emit in the
// transaction of what it announces, so it exists exactly when its cause
// committed; Feed reads them back in the order of their transactions'
// ids, for the pull feed and for the webhook dispatcher: a customer's in
// the order they committed, for every writer locks the customer before it
// writes for them, and checks once locked that no notification of theirs
// has a later id (loyalty's queueNoticesFollow).
//
// It owns the notifications table. Notifications are never changed or
// deleted.
package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/jsonw"
	"github.com/tally-ledger/tally/ledger"
)

// The types of notification (openapi.yaml's webhooks name each one and its
// payload).
const (
	TierChanged            = "customer.tier_changed"
	PointsExpiring         = "points.expiring"
	PointsExpired          = "points.expired"
	PointsEarned           = "points.earned"
	ReferralBonusAvailable = "referral.bonus_available"
	RedemptionCreated      = "redemption.created"
	RedemptionCancelled    = "redemption.cancelled"
	DepositReceived        = "deposit.received"
	WithdrawalCompleted    = "withdrawal.completed"
	PrepaidLowBalance      = "prepaid.low_balance"
	ReconciliationFailed   = "reconciliation.failed"
)

// Types lists every type of notification.
var Types = []string{TierChanged, PointsExpiring, PointsExpired, PointsEarned, ReferralBonusAvailable,
	RedemptionCreated, RedemptionCancelled, DepositReceived, WithdrawalCompleted, PrepaidLowBalance,
	ReconciliationFailed}

// KnownType says whether t is one of Types.
func KnownType(t string) bool {
	for _, k := range Types {
		if k == t {
			return true
		}
	}
	return false
}

// PlatformTypes are the types of notification that are the platform's own:
// read by admin and finance keys and sent to endpoints no partner owns,
// never to a partner (a failed reconciliation names the ids of every
// partner's business).
var PlatformTypes = []string{ReconciliationFailed}

// PlatformOnly says whether t is one of PlatformTypes.
func PlatformOnly(t string) bool { return slices.Contains(PlatformTypes, t) }

// Event is a notification to write.
type Event struct {
	Type     string
	Customer string // "" when it is about no one customer
	// Partner, when not 0, is the only partner that may hear it (a
	// threshold that partner set); 0: every subscriber of the type.
	Partner int64
	// OccurredAt is when what it announces happened; zero means the
	// transaction's Now.
	OccurredAt time.Time
	// Payload is the type's payload, marshalled to a JSON object.
	Payload any
	// OnceKey, when set, makes the notification at most once: a second
	// Emit with the same key writes nothing (points.expiring notices).
	OnceKey string
}

// Emit writes the events in tx, in one statement, and returns how many it
// wrote (an event whose OnceKey was written before is skipped).
func Emit(ctx context.Context, tx *ledger.Tx, events ...Event) (int, error) {
	if len(events) == 0 {
		return 0, nil
	}
	args, err := insertArgs(tx.Now(), events)
	if err != nil {
		return 0, err
	}
	tag, err := tx.Exec(ctx, qInsert, args...)
	if err != nil {
		return 0, err
	}
	return int(tag.RowsAffected()), nil
}

// Queue is Emit queued into b, a batch its caller sends in its
// transaction anyway, so that the notifications cost no round trip of
// their own; now is the transaction's Now (ledger.Tx.Now). Nothing is
// queued when there are no events.
func Queue(b *pgx.Batch, now time.Time, events ...Event) error {
	if len(events) == 0 {
		return nil
	}
	args, err := insertArgs(now, events)
	if err != nil {
		return err
	}
	b.Queue(qInsert, args...)
	return nil
}

const qInsert = `INSERT INTO notifications (type, customer_id, partner_id, occurred_at, payload, once_key)
SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::timestamptz[], $5::json[], $6::text[])
ON CONFLICT (once_key) DO NOTHING`

// Appender is a payload that writes its own JSON: the bytes encoding/json
// would write for it (HTML characters not escaped), without its cost.
type Appender interface {
	AppendJSON(b []byte) []byte
}

// encodePayload is a payload's JSON, "<" and "&" unescaped as the API
// writes them.
func encodePayload(p any) ([]byte, error) {
	if a, ok := p.(Appender); ok {
		return a.AppendJSON(make([]byte, 0, 384)), nil
	}
	return jsonw.Value(nil, p)
}

// insertArgs are qInsert's arguments for the events; an event without
// OccurredAt happened at now.
func insertArgs(now time.Time, events []Event) ([]any, error) {
	n := len(events)
	types, customers, onceKeys := make([]string, n), make([]*string, n), make([]*string, n)
	partners, at, payloads := make([]*int64, n), make([]time.Time, n), make([]string, n)
	for i, e := range events {
		if !KnownType(e.Type) {
			return nil, fmt.Errorf("notify: unknown type %q", e.Type)
		}
		body, err := encodePayload(e.Payload)
		if err != nil {
			return nil, fmt.Errorf("notify: %s payload: %w", e.Type, err)
		}
		if len(body) == 0 || body[0] != '{' {
			return nil, fmt.Errorf("notify: %s payload is not a JSON object", e.Type)
		}
		types[i], payloads[i], at[i] = e.Type, string(body), e.OccurredAt
		if at[i].IsZero() {
			at[i] = now
		}
		if e.Customer != "" {
			customers[i] = &e.Customer
		}
		if e.Partner != 0 {
			partners[i] = &e.Partner
		}
		if e.OnceKey != "" {
			onceKeys[i] = &e.OnceKey
		}
	}
	return []any{types, customers, partners, at, payloads, onceKeys}, nil
}

// Notification is a notification as it was written.
type Notification struct {
	Seq        int64           // the row's id; ID is its public form
	Type       string          // one of Types
	Customer   string          // "" when about no one customer
	Partner    int64           // 0 unless for one partner only
	OccurredAt time.Time       // when what it announces happened
	Payload    json.RawMessage // a JSON object
	Position   Cursor          // the feed's position just after it
}

// ID is the notification's public id, stable across deliveries and the
// feed ("ntf_" and its number).
func (n Notification) ID() string { return "ntf_" + strconv.FormatInt(n.Seq, 10) }

// Cursor is a position in the feed: after the notification with this
// (transaction, id). The zero Cursor is the feed's beginning.
type Cursor struct {
	xid uint64
	seq int64
}

// XID and Seq are the position's two keys, the transaction's xid and the
// notification's id: the feed is in (xid, id) order (notifications_order).
func (c Cursor) XID() uint64 { return c.xid }
func (c Cursor) Seq() int64  { return c.seq }

// String is the cursor's opaque form ("0" for the beginning).
func (c Cursor) String() string {
	if c == (Cursor{}) {
		return "0"
	}
	return strconv.FormatUint(c.xid, 10) + "." + strconv.FormatInt(c.seq, 10)
}

// ParseCursor reads a cursor that String made.
//
// Errors: fault.Invalid.
func ParseCursor(s string) (Cursor, error) {
	if s == "" || s == "0" {
		return Cursor{}, nil
	}
	bad := fault.InvalidField("after", "must be a next_cursor of this feed")
	x, q, ok := strings.Cut(s, ".")
	if !ok || len(s) > 41 {
		return Cursor{}, bad
	}
	xid, err1 := strconv.ParseUint(x, 10, 64)
	seq, err2 := strconv.ParseInt(q, 10, 64)
	if err1 != nil || err2 != nil || seq <= 0 {
		return Cursor{}, bad
	}
	return Cursor{xid: xid, seq: seq}, nil
}

// Filter narrows a feed. The zero Filter is everything.
type Filter struct {
	Types []string // only these types; nil: all
	// Partner, when not 0, leaves out the notifications for another
	// partner only (Event.Partner), and the platform's own (PlatformTypes).
	Partner int64
}

// Backlog counts the notifications committed after the cursor, up to
// limit: what a reader following the cursors has still to read. Its
// ORDER BY keeps even a cached generic plan on notifications_order: without
// it, a plan chosen while the backlog was large scans the whole table on
// every later call.
func Backlog(ctx context.Context, tx *ledger.Tx, after Cursor, limit int64) (int64, error) {
	var n int64
	err := tx.QueryRow(ctx, qBacklog, strconv.FormatUint(after.xid, 10), after.seq, limit).Scan(&n)
	return n, err
}

const qBacklog = `SELECT count(*) FROM (SELECT FROM notifications
WHERE (xid, id) > ($1::text::xid8, $2) ORDER BY xid, id LIMIT $3) s`

// feedScan is how many notifications a filtered Feed reads per query, and
// FeedScanMax how many it reads in all, matches or not, per call.
const (
	feedScan    = 1000
	FeedScanMax = 10 * feedScan
)

// cursorAhead refuses a cursor, past which the feed has nothing, when it
// is at or past every transaction id this database has given: no
// notification can ever come after it here. Books copied into another
// cluster by a dump and restore keep their notifications' transaction
// ids, which the new cluster gives again from lower: a reader's cursor,
// and the dispatcher's, would wait past every notification written since.
// They are told instead (the dispatcher logs it at every step).
func cursorAhead(ctx context.Context, tx *ledger.Tx, after Cursor) error {
	var ahead bool
	if err := tx.QueryRow(ctx, `SELECT $1::text::xid8 >= pg_snapshot_xmax(pg_current_snapshot())`,
		strconv.FormatUint(after.xid, 10)).Scan(&ahead); err != nil || !ahead {
		return err
	}
	return &fault.Error{Code: fault.Invalid, Message: "the cursor is ahead of every transaction of this database: " +
		"its books were restored from another cluster, where the cursor was given; start again from the beginning",
		Fields: map[string]string{"after": "ahead of this database"}}
}

// Feed reads up to limit notifications after the cursor, in transaction id
// order (a customer's in commit order),
// and the cursor after the last one it read: the last of a full page, else
// the last notification it read, past those the filter left out (the given
// cursor when there are none), so that a filtered reader does not read
// them again. A filtered call reads at most FeedScanMax notifications, so
// its page may be short, even empty, before the feed's end: the end is a
// page whose cursor is the one given. A reader that follows the cursors
// sees every notification exactly once, whatever commits meanwhile: the
// feed shows only notifications of transactions older than every
// transaction still in flight (ledger.Tx.Horizon), so none commits later
// before one shown.
func Feed(ctx context.Context, l *ledger.Ledger, after Cursor, limit int, f Filter) (list []Notification, next Cursor, err error) {
	if limit <= 0 {
		return nil, after, nil
	}
	// READ COMMITTED (InTx), as Horizon needs: when a transaction it counts
	// is unknown (most often another database's that has just ended), it
	// reads again in a new snapshot, which a REPEATABLE READ transaction
	// never takes, so it would hide what has committed.
	err = l.InTx(ctx, func(tx *ledger.Tx) error {
		list, next = nil, after
		h, err := tx.Horizon(ctx)
		if err != nil {
			return err
		}
		// Read scan at a time, the filter's misses without their payload,
		// until the page is full, the feed ends or FeedScanMax are read.
		// The first read is limit, as if every one matched. The outer
		// ORDER BY names s.xid, the number: a bare xid would name the
		// output column, its text, by which transaction 10 sorts before 9.
		for scan, total := limit, 0; ; {
			rows, err := tx.Query(ctx, `SELECT id, xid::text, type, coalesce(customer_id, ''), coalesce(partner_id, 0),
       occurred_at, CASE WHEN m THEN payload END, m
FROM (SELECT *, ($4::text[] IS NULL OR type = ANY($4))
          AND ($5::bigint = 0 OR (partner_id IS NULL OR partner_id = $5) AND type <> ALL ($7)) AS m
      FROM notifications
      WHERE xid < $1::text::xid8 AND (xid, id) > ($2::text::xid8, $3)
      ORDER BY xid, id LIMIT $6) s
ORDER BY s.xid, s.id`, strconv.FormatUint(h, 10), strconv.FormatUint(next.xid, 10), next.seq, f.Types, f.Partner, scan,
				PlatformTypes)
			if err != nil {
				return err
			}
			read := 0
			for rows.Next() {
				var n Notification
				var xid string
				var match bool
				// The payload as bytes: pgx would run a *json.RawMessage
				// through json.Unmarshal, a check of what the json column holds valid
				// (Envelope compacts it).
				if err := rows.Scan(&n.Seq, &xid, &n.Type, &n.Customer, &n.Partner, &n.OccurredAt, (*[]byte)(&n.Payload), &match); err != nil {
					rows.Close()
					return err
				}
				x, err := strconv.ParseUint(xid, 10, 64)
				if err != nil {
					rows.Close()
					return err
				}
				read++
				n.Position = Cursor{xid: x, seq: n.Seq}
				next = n.Position
				if match {
					list = append(list, n)
					if len(list) == limit {
						rows.Close()
						return rows.Err()
					}
				}
			}
			if err := rows.Err(); err != nil {
				return err
			}
			if read < scan {
				if total+read == 0 && after.xid != 0 {
					return cursorAhead(ctx, tx, after)
				}
				return nil
			}
			if total += read; total >= FeedScanMax {
				return nil
			}
			scan = min(max(limit, feedScan), FeedScanMax-total)
		}
	})
	return list, next, err
}
