package chaos

import (
	"context"
	"encoding/json"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"
)

// books is the database after the run, read once: every entry and posting,
// and the rows the loyalty operations keep beside them. Customer balances
// are recomputed here from the postings, in the order they were applied.
type books struct {
	entries  map[int64]*entry
	accounts map[string][]*posting // customer accounts, postings by id

	events      map[string]eventRow
	shipments   map[string]shipmentRow
	money       map[string]moneyRow // kind:id
	redemptions map[string]redemptionRow
	months      map[string]decimal.Decimal // customer|month

	// entriesOf: the entries naming an operation id in their metadata,
	// by event:, deposit:, charge:, withdrawal: or redemption: id.
	entriesOf   map[string][]int64
	reversals   map[int64][]int64 // entry -> entries that reverse it
	expiries    []int64
	settlements []int64
	badBalance  []string // postings whose balance_after is not the running sum
}

type entry struct {
	id          int64
	kind        string
	effective   time.Time
	meta        map[string]any
	reversalOf  *int64
	ruleVersion *int
	postings    []*posting
}

// amounts is what the entry moved, by account.
func (e *entry) amounts() map[string]decimal.Decimal {
	m := map[string]decimal.Decimal{}
	for _, p := range e.postings {
		m[p.account] = m[p.account].Add(p.amount)
	}
	return m
}

type posting struct {
	id, entry int64
	account   string
	amount    decimal.Decimal
	running   decimal.Decimal // the account's balance right after it, summed here
}

type eventRow struct {
	customer, typ string
	entry         *int64
	result        string
}

type shipmentRow struct {
	customer          string
	amount, refunded  decimal.Decimal
	volume, campaign  int64
	reversed, dropped int64
	owed              int64
	rated             bool
	entry             *int64
	month             string
	occurred          time.Time
	ruleVersion       int
}

type moneyRow struct {
	customer                                      string
	amount                                        decimal.Decimal
	rate, rebate, fromPrincipal, fromRebate, claw *decimal.Decimal
	shipment                                      *string
	entry, reversal                               *int64
}

type redemptionRow struct {
	customer, sku    string
	quantity         int
	points           int64
	entry, cancelled *int64 // cancelled: the cancellation's entry
	cancelledAt      *time.Time
}

func readBooks(ctx context.Context, pool *pgxpool.Pool) (*books, error) {
	b := &books{entries: map[int64]*entry{}, accounts: map[string][]*posting{}, events: map[string]eventRow{},
		shipments: map[string]shipmentRow{}, money: map[string]moneyRow{}, redemptions: map[string]redemptionRow{},
		months: map[string]decimal.Decimal{}, entriesOf: map[string][]int64{}, reversals: map[int64][]int64{}}
	// One snapshot for every read.
	tx, err := pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(ctx)
	each := func(q string, scan func(pgx.Rows) error) error {
		rows, err := tx.Query(ctx, q)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			if err := scan(rows); err != nil {
				return err
			}
		}
		return rows.Err()
	}
	err = each(`SELECT id, kind, effective_at, metadata::text, reversal_of, rule_version FROM entries`, func(r pgx.Rows) error {
		e := &entry{}
		var meta string
		if err := r.Scan(&e.id, &e.kind, &e.effective, &meta, &e.reversalOf, &e.ruleVersion); err != nil {
			return err
		}
		if err := json.Unmarshal([]byte(meta), &e.meta); err != nil {
			return err
		}
		b.entries[e.id] = e
		switch {
		case e.kind == "shipment.completed" || e.kind == "shipment.refunded" || e.kind == "feedback.submitted":
			b.entriesOf["event:"+str(e.meta["event_id"])] = append(b.entriesOf["event:"+str(e.meta["event_id"])], e.id)
		case e.kind == "deposit" || e.kind == "charge" || e.kind == "withdrawal" || e.kind == "redemption":
			key := e.kind + ":" + str(e.meta[e.kind+"_id"])
			b.entriesOf[key] = append(b.entriesOf[key], e.id)
		case e.kind == "expiry":
			b.expiries = append(b.expiries, e.id)
		case e.kind == "points.settled":
			b.settlements = append(b.settlements, e.id)
		}
		if e.reversalOf != nil {
			b.reversals[*e.reversalOf] = append(b.reversals[*e.reversalOf], e.id)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(b.expiries, func(i, j int) bool { return b.expiries[i] < b.expiries[j] })
	sort.Slice(b.settlements, func(i, j int) bool { return b.settlements[i] < b.settlements[j] })
	// Postings in the order they were written: an account that may not go
	// negative is locked while its postings are inserted, so its postings'
	// ids follow the order its balance changed.
	running := map[string]decimal.Decimal{}
	err = each(`SELECT p.id, p.entry_id, a.code, p.amount::text, p.balance_after::text
FROM postings p JOIN accounts a ON a.id = p.account_id ORDER BY p.id`, func(r pgx.Rows) error {
		p := &posting{}
		var amount string
		var after *string
		if err := r.Scan(&p.id, &p.entry, &p.account, &amount, &after); err != nil {
			return err
		}
		p.amount = decimal.RequireFromString(amount)
		if e := b.entries[p.entry]; e != nil {
			e.postings = append(e.postings, p)
		}
		if strings.HasPrefix(p.account, "customer:") {
			running[p.account] = running[p.account].Add(p.amount)
			p.running = running[p.account]
			b.accounts[p.account] = append(b.accounts[p.account], p)
			// A points_owed account is a receivable spread over buckets:
			// it keeps no balance per posting.
			owed := strings.HasSuffix(p.account, ":points_owed")
			if owed != (after == nil) || !owed && !decimal.RequireFromString(*after).Equal(p.running) {
				b.badBalance = append(b.badBalance, p.account)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = each(`SELECT event_id, customer_id, type, entry_id, result::text FROM events`, func(r pgx.Rows) error {
		var id string
		var row eventRow
		if err := r.Scan(&id, &row.customer, &row.typ, &row.entry, &row.result); err != nil {
			return err
		}
		b.events[id] = row
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = each(`SELECT shipment_id, customer_id, amount::text, refunded::text, points_volume, points_campaign, points_reversed,
    points_dropped, points_owed, rated_at IS NOT NULL, entry_id, month, occurred_at, rule_version FROM shipments`, func(r pgx.Rows) error {
		var id, amount, refunded string
		var s shipmentRow
		if err := r.Scan(&id, &s.customer, &amount, &refunded, &s.volume, &s.campaign, &s.reversed, &s.dropped, &s.owed, &s.rated,
			&s.entry, &s.month, &s.occurred, &s.ruleVersion); err != nil {
			return err
		}
		s.amount, s.refunded = decimal.RequireFromString(amount), decimal.RequireFromString(refunded)
		b.shipments[id] = s
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = each(`SELECT kind, id, customer_id, amount::text, rate::text, rebate::text, from_principal::text, from_rebate::text,
    clawback::text, shipment_id, entry_id, reversal_entry_id FROM money_movements`, func(r pgx.Rows) error {
		var kind, id, amount string
		var rate, reb, fp, fr, claw *string
		var m moneyRow
		if err := r.Scan(&kind, &id, &m.customer, &amount, &rate, &reb, &fp, &fr, &claw, &m.shipment, &m.entry, &m.reversal); err != nil {
			return err
		}
		m.amount = decimal.RequireFromString(amount)
		m.rate, m.rebate, m.fromPrincipal, m.fromRebate, m.claw = optDec(rate), optDec(reb), optDec(fp), optDec(fr), optDec(claw)
		b.money[kind+":"+id] = m
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = each(`SELECT id, customer_id, sku, quantity, points, entry_id, cancel_entry_id, cancelled_at FROM redemptions`, func(r pgx.Rows) error {
		var id string
		var row redemptionRow
		if err := r.Scan(&id, &row.customer, &row.sku, &row.quantity, &row.points, &row.entry, &row.cancelled, &row.cancelledAt); err != nil {
			return err
		}
		b.redemptions[id] = row
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = each(`SELECT customer_id, month, contribution::text FROM customer_months`, func(r pgx.Rows) error {
		var customer, month, c string
		if err := r.Scan(&customer, &month, &c); err != nil {
			return err
		}
		b.months[customer+"|"+month] = decimal.RequireFromString(c)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return b, tx.Commit(ctx)
}

// after is the account's balance right after entry id was applied: its
// posting's running sum, or, when the entry did not touch the account, the
// sum of the account's postings written before the entry's.
func (b *books) after(account string, id int64) decimal.Decimal {
	e := b.entries[id]
	for _, p := range e.postings {
		if p.account == account {
			return p.running
		}
	}
	return b.before(account, id)
}

// before is the account's balance just before entry id was applied.
func (b *books) before(account string, id int64) decimal.Decimal {
	e := b.entries[id]
	first := int64(1<<63 - 1)
	for _, p := range e.postings {
		first = min(first, p.id)
	}
	ps := b.accounts[account]
	i := sort.Search(len(ps), func(i int) bool { return ps[i].id >= first })
	if i == 0 {
		return decimal.Zero
	}
	return ps[i-1].running
}

// heldSince reports whether the account held v at some moment from right
// after entry id on: what a replay answers "as it is now".
func (b *books) heldSince(account string, id int64, v decimal.Decimal) bool {
	if b.after(account, id).Equal(v) {
		return true
	}
	last := int64(0)
	for _, p := range b.entries[id].postings {
		last = max(last, p.id)
	}
	for _, p := range b.accounts[account] {
		if p.id > last && p.running.Equal(v) {
			return true
		}
	}
	return false
}

// leastDatedSince is the least balance the account showed by date as of
// entry id's effective instant or any later one, counting the postings
// recorded up to entry id's own: zero when a refund dated back took all
// that the account held from its date on.
func (b *books) leastDatedSince(account string, id int64) decimal.Decimal {
	e := b.entries[id]
	last := int64(0)
	for _, p := range e.postings {
		last = max(last, p.id)
	}
	type dated struct {
		at     time.Time
		amount decimal.Decimal
	}
	var ps []dated
	for _, p := range b.accounts[account] {
		if p.id <= last {
			ps = append(ps, dated{b.entries[p.entry].effective, p.amount})
		}
	}
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].at.Before(ps[j].at) })
	var balance, least decimal.Decimal
	seen := false
	for i, p := range ps {
		balance = balance.Add(p.amount)
		if i+1 < len(ps) && ps[i+1].at.Equal(p.at) || p.at.Before(e.effective) {
			continue // the balance as of an instant counts every posting dated at it
		}
		if !seen || balance.LessThan(least) {
			least, seen = balance, true
		}
	}
	return least
}

// final is the account's balance at the end.
func (b *books) final(account string) decimal.Decimal {
	ps := b.accounts[account]
	if len(ps) == 0 {
		return decimal.Zero
	}
	return ps[len(ps)-1].running
}

func optDec(s *string) *decimal.Decimal {
	if s == nil {
		return nil
	}
	d := decimal.RequireFromString(*s)
	return &d
}

func str(v any) string {
	s, _ := v.(string)
	return s
}
