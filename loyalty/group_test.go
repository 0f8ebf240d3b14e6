package loyalty_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/pricemodel"
	"github.com/tally-ledger/tally/internal/servicetest"
	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
	"github.com/tally-ledger/tally/rules"
)

// TestGroupedEqualsAlone checks the group loader against the single-event
// loader: the same random events (shipments across a month boundary and a
// campaign, referral bonuses past the monthly cap, refunds, feedback,
// duplicate shipments, unknown customers, retried and conflicting event
// ids) are processed as one batch in groups (each run of shipments loaded
// together, and priced against state kept up to date in Go), as one batch
// with every event alone (each shipment loaded by its own keys, after the
// one before it is written), and one request at a time. Every event's
// outcome and the resulting books must be the same in all three databases,
// and every event's answer and every points balance must be those of the
// independent model of the rules (pricemodel), run over the same events:
// the paths share their pricer and their writer, so only the model can tell
// a bug common to them.
//
// With one writer a batch is one group, in order. With two, each writer
// takes its own customers, so events of different customers may be written
// in either order, as concurrent requests would be: the second run's events
// never involve two customers (no referrals, no shipment completed by two
// customers), and must give the same results too.
func TestGroupedEqualsAlone(t *testing.T) {
	for _, tc := range []struct {
		writers       int
		crossCustomer bool
	}{{1, true}, {2, false}} {
		for seed := range uint64(2) {
			t.Run(fmt.Sprintf("writers%d/seed%d", tc.writers, seed), func(t *testing.T) {
				events := randomEvents(seed, 400, tc.crossCustomer)
				grouped, alone, single := groupEnv(t, tc.writers), groupEnv(t, 1), groupEnv(t, tc.writers)
				alone.sendEventByEvent(true)
				compareRuns(t, events, grouped, alone, single)
			})
		}
	}
}

func compareRuns(t *testing.T, events []loyalty.Event, grouped, alone, single *env) {
	aloneOut := alone.ProcessBatch(alone.Key, events)
	groupedOut := grouped.Loyalty.ProcessBatch(grouped.Ctx, grouped.Key, "test", events)
	var one []loyalty.Outcome
	for _, ev := range events {
		one = append(one, single.Loyalty.ProcessBatch(single.Ctx, single.Key, "test", []loyalty.Event{ev})...)
	}
	model, answers := compareWithModel(t, events, alone.Clock.Now(), map[string][]loyalty.Outcome{
		"grouped": groupedOut, "event by event": aloneOut, "one at a time": one})
	// What the events announce: the model's earnings and upgrades; the
	// three runs announce the same (books, below, holds the notifications).
	wantNotices := modelNotices(events, answers)
	if diff := servicetest.DiffLines(alone.notices(), wantNotices); diff != "" {
		t.Errorf("the notifications of the events, event by event, differ from the model's:\n%s", diff)
	}
	for _, kind := range []string{"customer.tier_changed", " volume ", " feedback "} {
		if !strings.Contains(strings.Join(wantNotices, "\n"), kind) {
			t.Errorf("no notification %q: the events announce too little", kind)
		}
	}
	for name, e := range map[string]*env{"grouped": grouped, "event by event": alone, "one at a time": single} {
		if diff := e.balancesDiffer(model); diff != "" {
			t.Errorf("%s: the points balances differ from the model's:\n%s", name, diff)
		}
	}
	want, got := outcomes(aloneOut), outcomes(groupedOut)
	for i := range events {
		if got[i] != want[i] {
			t.Errorf("event %d (%s %s): grouped\n  %s\nevent by event\n  %s", i, events[i].Type, events[i].EventID, got[i], want[i])
		}
	}
	for i, o := range outcomes(one) {
		if o != want[i] {
			t.Errorf("event %d (%s %s): one at a time\n  %s\nevent by event\n  %s", i, events[i].Type, events[i].EventID, o, want[i])
		}
	}
	wantBooks := alone.books()
	for name, e := range map[string]*env{"grouped": grouped, "one at a time": single} {
		if diff := servicetest.DiffLines(e.books(), wantBooks); diff != "" {
			t.Errorf("%s books differ from event by event:\n%s", name, diff)
		}
		e.Reconcile()
	}
	if n := grouped.Loyalty.Stats().Fallbacks.Load(); n != 0 {
		t.Errorf("the grouped batch fell back to event by event %d times", n)
	}
	if created := strings.Count(strings.Join(wantBooks, "\n"), "shipment "); created < 100 {
		t.Errorf("only %d shipments recorded: the events test too little", created)
	}
}

// compareWithModel runs the events through the model at now, compares
// every run's answers with the model's, checks that the events exercise what
// the model prices, and returns the model after the events.
func compareWithModel(t *testing.T, events []loyalty.Event, now time.Time, runs map[string][]loyalty.Outcome) (*pricemodel.Books, []pricemodel.Answer) {
	t.Helper()
	model := newGroupModel()
	answers := make([]pricemodel.Answer, len(events))
	for i, ev := range events {
		answers[i] = model.Process(modelEvent(ev), now)
	}
	for name, outs := range runs {
		differ := 0
		for i, o := range outs {
			got, want := describeOutcome(o), describeAnswer(answers[i])
			if got == want {
				continue
			}
			if differ++; differ <= 5 {
				t.Errorf("event %d (%s %s of %s): %s\n  %s\nthe model\n  %s", i, events[i].Type, events[i].ShipmentID, events[i].CustomerID,
					name, got, want)
			}
		}
		if differ > 5 {
			t.Errorf("%s: %d events in all differ from the model", name, differ)
		}
	}
	seen := map[string]int{}
	for _, a := range answers {
		switch {
		case a.Refused != "":
			seen["refused "+a.Refused]++
		case a.Replayed:
			seen["replayed"]++
		case a.Earning != nil && a.Earning.CampaignPoints > 0:
			seen["campaign points"]++
		case a.Refund != nil && a.Refund.TakenBack > 0:
			seen["take-back"]++
		case a.Feedback > 0:
			seen["feedback"]++
		}
		if a.Referral != nil && !a.Replayed {
			seen["referral "+a.Referral.Status]++
		}
		if a.Tier != nil && a.Tier.Level > 3 && !a.Replayed {
			seen["above floating"]++
		}
	}
	want := []string{"replayed", "campaign points", "take-back", "feedback", "above floating", "refused " + pricemodel.CodeIdempotencyConflict,
		"refused " + pricemodel.CodeRefundExceeds, "refused " + pricemodel.CodeDuplicateShipment}
	if slices.ContainsFunc(events, func(ev loyalty.Event) bool { return strings.HasPrefix(ev.CustomerID, "F") }) {
		want = append(want, "referral pending", "referral capped", "referral cancelled") // referees ship
	}
	for _, what := range want {
		if seen[what] == 0 {
			t.Errorf("no event of the kind %q: the model is checked on too little (%v)", what, seen)
		}
	}
	t.Logf("checked against the model: %v", seen)
	return model, answers
}

// spring is the group test's campaign: x2 over the first nine days of
// March.
var spring = rules.Campaign{ID: "spring", StartsAt: time.Date(2026, 3, 1, 0, 0, 0, 0, shanghai),
	EndsAt: time.Date(2026, 3, 10, 0, 0, 0, 0, shanghai), Multiplier: d("2")}

// referees is how many customers R referred: enough that more than the
// monthly cap (20) of them first ship in March.
const referees = 48

// groupEnv is an environment with a referrer R of customers F0..F47,
// customers C0..C9 and the spring campaign.
func groupEnv(t *testing.T, writers int) *env {
	e := &env{servicetest.NewWith(t, servicetest.Config{Loyalty: []loyalty.Option{loyalty.WithEventWriters(writers)}})}
	e.Customer("R")
	for i := range referees {
		e.Customer(fmt.Sprintf("F%d", i), "R")
	}
	for i := range 10 {
		e.Customer(fmt.Sprintf("C%d", i))
	}
	if _, _, err := e.createCampaignAhead(loyalty.Campaign{Name: "Spring", Campaign: spring}); err != nil {
		t.Fatal(err)
	}
	return e
}

// newGroupModel is groupEnv in the model.
func newGroupModel() *pricemodel.Books {
	m := pricemodel.NewBooks(pricemodel.Default(), pricemodel.Campaign{ID: spring.ID, From: spring.StartsAt, Until: spring.EndsAt,
		Multiplier: spring.Multiplier})
	m.AddCustomer("R", "")
	for i := range referees {
		m.AddCustomer(fmt.Sprintf("F%d", i), "R")
	}
	for i := range 10 {
		m.AddCustomer(fmt.Sprintf("C%d", i), "")
	}
	return m
}

// randomEvents is a seeded list of events over 2026-02-20 .. 2026-03-15.
// Unless crossCustomer, no event involves two customers: no referred
// customers, no shipment completed by two.
func randomEvents(seed uint64, n int, crossCustomer bool) []loyalty.Event {
	r := rand.New(rand.NewPCG(seed, 7))
	start := time.Date(2026, 2, 20, 0, 0, 0, 0, shanghai)
	var (
		events  []loyalty.Event
		shipped []loyalty.Event
	)
	customer := func() string {
		if !crossCustomer {
			return fmt.Sprintf("C%d", r.IntN(10))
		}
		switch r.IntN(10) {
		case 0:
			return "NOBODY"
		case 1, 2, 3:
			return fmt.Sprintf("F%d", r.IntN(referees))
		}
		return fmt.Sprintf("C%d", r.IntN(10))
	}
	amount := func() *decimal.Decimal {
		a := decimal.New(int64(1+r.IntN(400000)), -2)
		return &a
	}
	for i := range n {
		ev := loyalty.Event{EventID: fmt.Sprintf("e%d", i), CustomerID: customer(),
			OccurredAt: start.Add(time.Duration(r.Int64N(int64(23 * 24 * time.Hour))))}
		switch op := r.IntN(20); {
		case op < 11 || len(shipped) == 0:
			ev.Type, ev.ShipmentID, ev.Amount = loyalty.ShipmentCompleted, fmt.Sprintf("S%d", i), amount()
			if r.IntN(15) == 0 && len(shipped) > 0 { // a shipment completed twice
				twice := shipped[r.IntN(len(shipped))]
				ev.ShipmentID = twice.ShipmentID
				if !crossCustomer {
					ev.CustomerID = twice.CustomerID
				}
			}
			shipped = append(shipped, ev)
		case op < 14:
			s := shipped[r.IntN(len(shipped))]
			part := s.Amount.Div(decimal.NewFromInt(int64(1 + r.IntN(3)))).RoundDown(2)
			ev.Type, ev.CustomerID, ev.ShipmentID, ev.Amount = loyalty.ShipmentRefunded, s.CustomerID, s.ShipmentID, &part
			ev.OccurredAt = s.OccurredAt.Add(time.Hour)
		case op < 16:
			s := shipped[r.IntN(len(shipped))]
			rating := 1 + r.IntN(5)
			ev.Type, ev.CustomerID, ev.ShipmentID, ev.Rating = loyalty.FeedbackSubmitted, s.CustomerID, s.ShipmentID, &rating
		case op < 18: // a retry of an earlier event
			ev = events[r.IntN(len(events))]
		default: // an earlier event id with another body
			ev = events[r.IntN(len(events))]
			ev.OccurredAt = ev.OccurredAt.Add(-time.Minute)
		}
		events = append(events, ev)
	}
	return events
}

// outcomes describes each outcome without its entry id (ids are not
// comparable across databases: sequences leave gaps).
func outcomes(out []loyalty.Outcome) []string {
	s := make([]string, len(out))
	for i, o := range out {
		if o.Err != nil {
			s[i] = "error " + string(fault.CodeOf(o.Err))
			continue
		}
		res := o.Result
		hasEntry := res.EntryID != nil
		res.EntryID = nil
		doc, _ := json.Marshal(res)
		s[i] = fmt.Sprintf("replayed=%v entry=%v %s", o.Replayed, hasEntry, doc)
	}
	return s
}

// books is every balance, lot, shipment, month, bonus and event of the
// database, without ids, sorted.
func (e *env) books() []string {
	e.T.Helper()
	out := e.Lines(`
SELECT 'balance ' || a.code || ' ' || sum(b.balance) FROM balance_buckets b JOIN accounts a ON a.id = b.account_id GROUP BY a.code
UNION ALL SELECT 'lot ' || a.code || ' ' || l.amount || ' ' || l.remaining || ' ' || l.available_at || ' ' || l.expires_at || ' ' || (en.metadata->>'event_id')
    FROM points_lots l JOIN accounts a ON a.id = l.account_id JOIN entries en ON en.id = l.entry_id
UNION ALL SELECT 'posting ' || (en.metadata->>'event_id') || ' ' || a.code || ' ' || p.amount || ' ' || coalesce(p.balance_after::text, '-')
    FROM postings p JOIN accounts a ON a.id = p.account_id JOIN entries en ON en.id = p.entry_id
UNION ALL SELECT 'shipment ' || concat_ws(' ', shipment_id, customer_id, amount, refunded, occurred_at, month, points_volume,
    points_campaign, points_reversed, points_dropped, rated_at, entry_id IS NOT NULL, rule_version) FROM shipments
UNION ALL SELECT 'month ' || concat_ws(' ', customer_id, month, contribution, shipments) FROM customer_months
UNION ALL SELECT 'bonus ' || concat_ws(' ', referee_id, referrer_id, shipment_id, month, status, points, available_at,
    entry_id IS NOT NULL, cancel_entry_id IS NOT NULL) FROM referral_bonuses
UNION ALL SELECT 'event ' || concat_ws(' ', event_id, type, customer_id, encode(request_hash, 'hex'), entry_id IS NOT NULL,
    result::jsonb - 'entry_id') FROM events
UNION ALL SELECT 'notification ' || concat_ws(' ', n.type, n.customer_id, n.occurred_at, n.payload::jsonb - 'entry_id',
    coalesce(en.metadata->>'event_id' = n.payload->>'event_id', false)) FROM notifications n
    LEFT JOIN entries en ON en.id = (n.payload->>'entry_id')::bigint`)
	slices.Sort(out)
	return out
}

// The event tables keep no foreign keys: reconciliation must report a row
// that names a customer or an entry that does not exist.
func TestReconcileFindsDanglingEventRows(t *testing.T) {
	e := newEnv(t)
	e.BreaksBooks("a dangling shipment row is inserted on purpose")
	e.Customer("A")
	e.Ship("A", "S1", "100", e.Clock.Now().Add(-time.Hour))
	if err := servicetest.HandShipment(e.Ctx, e.Pool, "S2", "NOBODY", 999999999); err != nil {
		t.Fatal(err)
	}
	check, err := lastCheck(e, e.Loyalty.ReferenceCheck)
	if err != nil {
		t.Fatal(err)
	}
	if check.Pass || !slices.Equal(check.Offending, []string{"shipment:S2"}) {
		t.Fatalf("event_rows_intact = %+v, want shipment:S2 reported", check)
	}
}

func lastCheck(e *env, check ledger.ExtraCheck) (ledger.Check, error) {
	r, err := e.Ledger.Reconcile(e.Ctx, check)
	if err != nil {
		return ledger.Check{}, err
	}
	return r.Checks[len(r.Checks)-1], nil
}

// TestShipmentsCostAFixedNumberOfRoundTrips counts what completing
// shipments sends PostgreSQL. A group of shipments costs the same whatever
// its size: one round trip that begins the transaction, locks the
// customers, reads the shipments' state and reserves their entry ids; one
// that writes every table and what the group announces, and commits (and
// one more to read the referral state when a customer was referred). A
// shipment recorded alone costs a savepoint, one round trip that loads its
// state, one that writes it, and the release; a transaction of shipments
// recorded alone writes what they announce in one more, at its end, and
// commits in another.
func TestShipmentsCostAFixedNumberOfRoundTrips(t *testing.T) {
	pool, counter := testdb.CountedPool(t)
	e := &env{servicetest.NewWith(t, servicetest.Config{Pool: pool, Loyalty: []loyalty.Option{loyalty.WithEventWriters(1)}})}
	e.Customer("R")
	for i := range 10 {
		e.Customer(fmt.Sprintf("C%d", i))
		e.Customer(fmt.Sprintf("F%d", i), "R")
	}
	n := 0
	// cost is the round trips and statements of count shipments of the
	// customers prefix0..prefix9. It processes them three times: the first
	// prepares the statements and opens the accounts; of the other two, the
	// cheaper counts (the rule versions' cache may expire in one).
	cost := func(count int, prefix string, alone bool) (trips, sent int) {
		e.sendEventByEvent(alone)
		trips, sent = -1, -1
		for round := range 3 {
			var evs []loyalty.Event
			for i := range count {
				n++
				evs = append(evs, e.Event(loyalty.ShipmentCompleted, fmt.Sprintf("%s%d", prefix, i%10), fmt.Sprintf("S%d", n), "100", march(14, 9)))
			}
			tr, st := counter.Measure(func() {
				for _, o := range e.ProcessBatch(e.Key, evs) {
					if o.Err != nil {
						t.Fatal(o.Err)
					}
				}
			})
			if round > 0 && (trips < 0 || tr < trips) {
				trips, sent = tr, st
			}
		}
		return trips, sent
	}
	trips1, sent1 := cost(1, "C", false)
	for _, size := range []int{20, 100} {
		if trips, sent := cost(size, "C", false); trips != trips1 || sent != sent1 {
			t.Errorf("a group of %d shipments: %d round trips, %d statements; a group of one: %d, %d", size, trips, sent, trips1, sent1)
		}
	}
	if trips1 != 2 {
		t.Errorf("a group of shipments: %d round trips, want 2", trips1)
	}
	for _, size := range []int{1, 10} {
		if trips, _ := cost(size, "F", false); trips != 3 {
			t.Errorf("a group of %d referees' shipments: %d round trips, want 3", size, trips)
		}
	}
	for _, size := range []int{1, 20} {
		if trips, _ := cost(size, "C", true); trips != 3+4*size {
			t.Errorf("%d shipments alone in one transaction: %d round trips, want %d", size, trips, 3+4*size)
		}
	}
	t.Logf("a group of shipments: %d round trips, %d statements", trips1, sent1)
}

// TestAnEventAloneFindsATwinRecordedWhileItWaited records events alone
// while a concurrent transaction holds, uncommitted, a row the event's
// write will collide with: the shipment completed by another event, or the
// event's id recorded with another body. The event's load does not see the
// row, its write waits on it, and fails once it commits: the event is then
// loaded again and answered as the rules say (a duplicate shipment, an
// idempotency conflict), never with the database's error.
func TestAnEventAloneFindsATwinRecordedWhileItWaited(t *testing.T) {
	for _, tc := range []struct {
		name string
		twin string // inserted by the concurrent transaction ("": a shipment S-TWIN of C2)
		want fault.Code
	}{
		{"Shipment", "", fault.DuplicateShipment}, // servicetest.HandShipment
		{"EventID", `INSERT INTO events (key_id, space, event_id, type, customer_id, request_hash, result)
VALUES ($1, $2, 'e-twin', 'shipment.completed', 'C2', '\x00', '{}')`, fault.IdempotencyConflict},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.BreaksBooks("the twin rows are written by hand, without their effects")
			e.sendEventByEvent(true)
			e.Customer("C1")
			e.Customer("C2")
			twin, err := e.Pool.Begin(e.Ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer twin.Rollback(e.Ctx)
			var args []any
			if strings.Contains(tc.twin, "$1") {
				args = append(args, e.KeyID, e.Key.Space())
			}
			if tc.twin == "" {
				err = servicetest.HandShipment(e.Ctx, twin, "S-TWIN", "C2", 0)
			} else {
				_, err = twin.Exec(e.Ctx, tc.twin, args...)
			}
			if err != nil {
				t.Fatal(err)
			}
			committed := make(chan error, 1)
			go func() {
				// The signal: a backend of this database waits on a lock,
				// which only the event's write can.
				for {
					var waiting int
					err := e.Pool.QueryRow(e.Ctx, `SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting)
					if err != nil || waiting > 0 {
						if err == nil {
							err = twin.Commit(e.Ctx)
						}
						committed <- err
						return
					}
					time.Sleep(time.Millisecond)
				}
			}()
			ev := e.Event(loyalty.ShipmentCompleted, "C1", "S-TWIN", "100", march(14, 9))
			ev.EventID = "e-twin"
			_, err = e.Process(ev)
			if err := <-committed; err != nil {
				t.Fatal(err)
			}
			servicetest.WantCode(t, err, tc.want)
			if p := e.Points("C1"); p.Balance != 0 {
				t.Errorf("C1 holds %d points after a refused shipment", p.Balance)
			}
		})
	}
}

// notices are the env's notifications, one line each as modelNotices
// writes them, sorted.
func (e *env) notices() []string {
	e.T.Helper()
	out := e.Lines(`SELECT concat_ws(' ', type, customer_id, payload->>'channel', payload->>'points',
    (payload->'from'->>'level') || '>' || (payload->'to'->>'level'), payload->>'event_id') FROM notifications`)
	slices.Sort(out)
	return out
}

// modelNotices is what the events announce by the model's answers: the
// points each shipment, rating and referral bonus credits, and an upgrade
// when a shipment lifts its customer's tier in effect (the higher of last
// month's total and this month's so far) above the one that priced it.
func modelNotices(events []loyalty.Event, answers []pricemodel.Answer) []string {
	rules := pricemodel.Default()
	type cm struct {
		customer string
		month    pricemodel.Month
	}
	months := map[cm]decimal.Decimal{}
	var out []string
	for i, a := range answers {
		if a.Refused != "" || a.Replayed {
			continue
		}
		ev := events[i]
		if a.Earning != nil && a.Earning.Points > 0 {
			out = append(out, fmt.Sprintf("points.earned %s volume %d %s", ev.CustomerID, a.Earning.Points, ev.EventID))
		}
		if a.Feedback > 0 {
			out = append(out, fmt.Sprintf("points.earned %s feedback %d %s", ev.CustomerID, a.Feedback, ev.EventID))
		}
		if r := a.Referral; r != nil && r.Status == "pending" && r.Points > 0 {
			out = append(out, fmt.Sprintf("points.earned %s referral %d %s", r.Referrer, r.Points, ev.EventID))
		}
		if c := a.Contribution; c != nil {
			months[cm{ev.CustomerID, c.Month}] = c.After
			if a.Tier != nil {
				after := rules.TierInEffect(months[cm{ev.CustomerID, c.Month.Prev()}], c.After)
				if after.Level > a.Tier.Level {
					out = append(out, fmt.Sprintf("customer.tier_changed %s %d>%d %s", ev.CustomerID, a.Tier.Level, after.Level, ev.EventID))
				}
			}
		}
	}
	slices.Sort(out)
	return out
}
