package api

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/catalog"
	"github.com/tally-ledger/tally/internal/fault"
	amounts "github.com/tally-ledger/tally/internal/money"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
	"github.com/tally-ledger/tally/notify"
	"github.com/tally-ledger/tally/prepaid"
)

// feedPage is one page of the feed as key reads it after cursor.
func (h *harness) feedPage(key, query, after string) (items []map[string]any, next string) {
	h.t.Helper()
	path := "/v1/notifications?after=" + url.QueryEscape(after)
	if query != "" {
		path += "&" + query
	}
	body := h.expect(200, call{method: "GET", path: path, key: key}).object(h.t)
	for _, n := range body["notifications"].([]any) {
		items = append(items, n.(map[string]any))
	}
	next, ok := body["next_cursor"].(string)
	if !ok {
		h.t.Fatalf("next_cursor %v, want a string", body["next_cursor"])
	}
	return items, next
}

// feed reads the whole feed as key, limit at a time, as "type customer
// id-field" lines.
func (h *harness) feed(key, query string) []string {
	h.t.Helper()
	var out []string
	after := ""
	for range 100 {
		items, next := h.feedPage(key, query, after)
		for _, n := range items {
			out = append(out, noticeLine(n))
		}
		if len(items) == 0 {
			// It moves the cursor only past what the filter left out: from
			// there, the feed is empty and stays put.
			if again, end := h.feedPage(key, query, next); len(again) != 0 || end != next {
				h.t.Errorf("an empty page moved the cursor from %s to %s, which reads %d more and moves to %s", after, next, len(again), end)
			}
			return out
		}
		after = next
	}
	h.t.Fatal("the feed did not end in 100 pages")
	return nil
}

// noticeLine is a notification as "type customer what", what naming the
// event, movement or redemption it announces.
func noticeLine(n map[string]any) string {
	data, _ := n["data"].(map[string]any)
	what := ""
	for _, f := range []string{"event_id", "deposit_id", "withdrawal_id", "redemption_id"} {
		if v, ok := data[f]; ok {
			what = fmt.Sprint(v)
		}
	}
	return fmt.Sprintf("%v %v %s", n["type"], n["customer_id"], what)
}

// The feed pages through what partners' requests announced, in the order
// they committed, each once, by every page size; types narrow it; a
// partner does not see what is meant for another partner only; customer
// keys are refused; bad cursors, limits and types are 422 invalid naming
// the parameter. Every answer is checked against openapi.yaml, every item
// against the schema of its type.
func TestNotificationsFeedPagesWhatRequestsAnnounced(t *testing.T) {
	h := newHarness(t)
	post := func(path string, body any) {
		t.Helper()
		h.expect(201, call{method: "POST", path: path, key: "partner", body: body})
	}
	if got := h.feed("admin", ""); len(got) != 0 {
		t.Fatalf("a new database's feed: %q", got)
	}
	at := time.Now().Add(-time.Hour)
	post("/v1/customers", map[string]any{"id": "C1", "name": "Shop"})
	post("/v1/events", shipment("e1", "C1", "S1", "2500.00", at))
	post("/v1/events", shipment("e1", "C1", "S1", "2500.00", at)) // a retry
	post("/v1/deposits", map[string]any{"deposit_id": "d1", "customer_id": "C1", "amount": "1000"})
	h.expect(201, call{method: "POST", path: "/v1/products", key: "admin",
		body: map[string]any{"sku": "pen", "name": "Pen", "kind": "standard", "points_price": "100"}})
	post("/v1/redemptions", map[string]any{"redemption_id": "r1", "customer_id": "C1", "sku": "pen", "quantity": 1})
	h.expect(200, call{method: "POST", path: "/v1/redemptions/r1/cancel", key: "partner", body: map[string]any{"reason": "no"}})
	post("/v1/withdrawals", map[string]any{"withdrawal_id": "w1", "customer_id": "C1", "amount": "500"})
	// Meant for another partner only.
	_, other, err := h.ledger.CreateKey(context.Background(), "another", ledger.RolePartner, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.ledger.InTx(context.Background(), func(tx *ledger.Tx) error {
		_, err := notify.Emit(context.Background(), tx, notify.Event{Type: notify.DepositReceived, Customer: "C1",
			Partner: other.PartnerID, Payload: prepaid.DepositNotice{DepositID: "theirs", Amount: amounts.Of(decimal.NewFromInt(1)),
				Rate: decimal.Zero, EntryID: 1, RuleVersion: 1}})
		return err
	}); err != nil {
		t.Fatal(err)
	}

	want := []string{"points.earned C1 e1", "customer.tier_changed C1 e1", "deposit.received C1 d1",
		"redemption.created C1 r1", "redemption.cancelled C1 r1", "withdrawal.completed C1 w1", "deposit.received C1 theirs"}
	for _, key := range []string{"admin", "finance"} {
		for _, limit := range []string{"", "limit=1", "limit=2", "limit=500"} {
			if got := h.feed(key, limit); !slices.Equal(got, want) {
				t.Errorf("%s, %q: the feed\n  %s\nwant\n  %s", key, limit, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
			}
		}
	}
	if got := h.feed("partner", "limit=3"); !slices.Equal(got, want[:6]) {
		t.Errorf("the partner reads %q, want all but the other partner's", got)
	}
	if got := h.feed("admin", "limit=2&types=deposit.received,redemption.cancelled"); !slices.Equal(got,
		[]string{"deposit.received C1 d1", "redemption.cancelled C1 r1", "deposit.received C1 theirs"}) {
		t.Errorf("two types: %q", got)
	}
	// The envelope as the contract writes it.
	items, _ := h.feedPage("admin", "limit=1", "")
	n := items[0]
	if n["id"] == "" || n["occurred_at"] != at.UTC().Truncate(time.Second).Format(time.RFC3339) || n["customer_id"] != "C1" {
		t.Errorf("the first notification %v: want the shipment's occurred_at in UTC and its customer", n)
	}
	if data := n["data"].(map[string]any); data["points"] != "2500" || data["channel"] != "volume" {
		t.Errorf("the shipment earned %v", data)
	}

	wantProblem(t, h.do(call{method: "GET", path: "/v1/notifications", key: "customer"}), 403, fault.Forbidden)
	for _, q := range []string{"after=x", "after=12", "after=1.0", "after=1.-2", "after=" + strings.Repeat("9", 50) + ".1",
		"limit=0", "limit=501", "types=points.earned,nope", "types=points.earned,"} {
		p := wantProblem(t, h.do(call{method: "GET", path: "/v1/notifications?" + q, key: "admin", invalid: true}), 422, fault.Invalid)
		name, _, _ := strings.Cut(q, "=")
		if errs, _ := p["errors"].(map[string]any); errs[name] == nil {
			t.Errorf("%s: errors %v, want %s named", q, p["errors"], name)
		}
	}
}

// A client follows the feed's cursors while writers commit events (in
// groups), deposits and redemptions at once: it sees every notification
// exactly once, in the feed's (commit) order, which is the table's; and what
// one writer committed before it began its next request comes before that
// request's notifications.
func TestNotificationsFeedFollowedWhileManyWriteSeesEachOnceInCommitOrder(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	svc := wired(h.pool, h.ledger) // services of their own, on the same database
	_, key, err := h.ledger.CreateKey(ctx, "writers", ledger.RolePartner, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Catalog.CreateProduct(ctx, catalog.Product{SKU: "pen", Name: "Pen", Kind: catalog.Standard, PointsPrice: 1}); err != nil {
		t.Fatal(err)
	}
	const writers, rounds = 8, 15
	for g := range writers {
		if _, _, err := svc.Loyalty.CreateCustomer(ctx, loyalty.Customer{ID: fmt.Sprintf("G%d", g), Name: "writer"}); err != nil {
			t.Fatal(err)
		}
	}
	at := time.Now().Add(-time.Hour)
	amount := decimal.RequireFromString("10")
	var wg sync.WaitGroup
	done := make(chan struct{})
	for g := range writers {
		wg.Go(func() {
			customer := fmt.Sprintf("G%d", g)
			for k := range rounds {
				id := fmt.Sprintf("g%d-%02d", g, k)
				var err error
				switch k % 3 {
				case 0: // two shipments in one batch: the grouped path
					for i, o := range svc.Loyalty.ProcessBatch(ctx, key, "test", []loyalty.Event{
						{EventID: id, Type: loyalty.ShipmentCompleted, CustomerID: customer, ShipmentID: id + "a", OccurredAt: at, Amount: &amount},
						{EventID: id + "b", Type: loyalty.ShipmentCompleted, CustomerID: customer, ShipmentID: id + "b", OccurredAt: at, Amount: &amount},
					}) {
						if o.Err != nil {
							err = fmt.Errorf("event %d: %w", i, o.Err)
						}
					}
				case 1:
					_, _, err = svc.Prepaid.Deposit(ctx, prepaid.MoneyInput{ID: id, CustomerID: customer, Amount: amount, Space: key.Space()}, "test")
				case 2:
					_, _, err = svc.Catalog.Redeem(ctx, catalog.RedemptionInput{ID: id, CustomerID: customer, SKU: "pen", Quantity: 1,
						Space: key.Space()}, "test")
				}
				if err != nil {
					t.Errorf("writer %d, round %d: %v", g, k, err)
				}
			}
		})
	}
	go func() { wg.Wait(); close(done) }()

	var seen []map[string]any
	after, finished := "", false
	for {
		select {
		case <-done:
			finished = true
		default:
		}
		items, next := h.feedPage("admin", "limit=5", after)
		seen, after = append(seen, items...), next
		if finished && len(items) == 0 {
			break
		}
	}

	var want []string
	rows, err := h.pool.Query(ctx, `SELECT 'ntf_' || id FROM notifications ORDER BY xid, id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		want = append(want, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	got := make([]string, len(seen))
	for i, n := range seen {
		got[i] = n["id"].(string)
	}
	if minimum := writers * rounds * 4 / 3; len(want) < minimum {
		t.Fatalf("%d notifications written, want at least %d", len(want), minimum)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("the client read %d notifications, the table holds %d: not each once in (xid, id) order", len(got), len(want))
	}
	// Each writer's requests, one after another: their rounds in order.
	last := map[string]string{}
	for _, n := range seen {
		data := n["data"].(map[string]any)
		var id string
		for _, f := range []string{"event_id", "deposit_id", "redemption_id"} {
			if v, ok := data[f].(string); ok {
				id = v
			}
		}
		writer, round, _ := strings.Cut(strings.TrimSuffix(id, "b"), "-")
		if round < last[writer] {
			t.Errorf("%s %s read after round %s of its writer, which began after it committed", n["type"], id, last[writer])
		}
		last[writer] = round
	}
}
