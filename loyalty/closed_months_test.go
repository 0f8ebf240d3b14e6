package loyalty_test

import (
	"sync"
	"testing"
	"time"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/servicetest"
	"github.com/tally-ledger/tally/loyalty"
	"github.com/tally-ledger/tally/rules"
)

// contribution is C1's contribution in the month, as stored.
func contribution(t *testing.T, e *servicetest.Env, month string) string {
	t.Helper()
	var c string
	e.Scan(t, `SELECT contribution::text FROM customer_months WHERE customer_id = 'C1' AND month = '`+month+`'`, &c)
	return c
}

// A group that began before the month's turn sees a close of that month
// that commits while it is in flight: its event worth no points, dated in
// the month, is refused, and the month's contribution stays as it closed.
func TestAnEventWorthNoPointsIsRefusedByACloseAtTheMonthsTurn(t *testing.T) {
	e := servicetest.NewWith(t, servicetest.Config{Clock: servicetest.NewClock(time.Date(2026, 3, 31, 23, 59, 0, 0, servicetest.Shanghai))})
	e.Customer("C1")
	e.Ship("C1", "S1", "100", time.Date(2026, 3, 31, 22, 0, 0, 0, servicetest.Shanghai))
	var once sync.Once
	var closeErr error
	e.Loyalty.SetGroupedFault(func() {
		once.Do(func() {
			e.Clock.Set(time.Date(2026, 4, 1, 0, 0, 1, 0, servicetest.Shanghai))
			_, closeErr = e.Finance.ClosePeriod(e.Ctx, "2026-03", "finance")
		})
	})
	out := e.ProcessAs(e.Key, e.Event(loyalty.ShipmentCompleted, "C1", "S2", "0.50", time.Date(2026, 3, 31, 23, 59, 30, 0, servicetest.Shanghai)))
	if closeErr != nil {
		t.Fatalf("close: %v", closeErr)
	}
	if c := contribution(t, e, "2026-03"); fault.CodeOf(out.Err) != fault.PeriodClosed || c != "100" {
		t.Errorf("a 0.50 shipment dated 31 March 23:59:30, completed while March closed: %v; March's contribution %s, closed at 100", out.Err, c)
	}
}

// putZones puts rule versions counting months in each zone from its
// instant on.
func putZones(t *testing.T, e *servicetest.Env, versions ...any) {
	t.Helper()
	for i := 0; i < len(versions); i += 2 {
		rs := rules.Default()
		rs.Timezone, rs.EffectiveFrom = versions[i].(string), versions[i+1].(time.Time)
		if _, err := e.Loyalty.PutRules(e.Ctx, rs, "test"); err != nil {
			t.Fatal(err)
		}
	}
}

// A month closed under rules in one time zone stays closed to events priced
// under rules in another: one dated before the close's end is refused
// (worth points or not), and so is one dated after it that its rules still
// count in the closed month.
func TestAMonthClosedInOneZoneIsClosedToEventsCountedInAnother(t *testing.T) {
	for _, tc := range []struct {
		name   string
		zones  []any
		closed time.Time // when November is closed
		at     time.Time // the event, and now a little later
		now    time.Time
	}{
		{"closed far east, the event priced far west", []any{"Pacific/Kiritimati", time.Date(2026, 11, 20, 1, 0, 0, 0, time.UTC),
			"Etc/GMT+12", time.Date(2026, 12, 1, 1, 0, 0, 0, time.UTC)},
			time.Date(2026, 12, 1, 0, 30, 0, 0, time.UTC), time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC), time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC)},
		{"closed in Shanghai, the event counted in November far west", []any{"Etc/GMT+12", time.Date(2026, 11, 20, 1, 0, 0, 0, time.UTC),
			"Asia/Shanghai", time.Date(2026, 11, 30, 23, 0, 0, 0, time.UTC)},
			time.Date(2026, 12, 1, 0, 30, 0, 0, time.UTC), time.Date(2026, 11, 30, 20, 0, 0, 0, time.UTC), time.Date(2026, 12, 1, 0, 30, 0, 0, time.UTC)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := servicetest.NewClock(time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC))
			e := servicetest.NewWith(t, servicetest.Config{Clock: clock})
			putZones(t, e, tc.zones...)
			e.Customer("C1")
			clock.Set(time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC))
			e.Ship("C1", "S1", "100", clock.Now().Add(-time.Hour))
			clock.Set(tc.closed)
			if _, err := e.Finance.ClosePeriod(e.Ctx, "2026-11", "finance"); err != nil {
				t.Fatal(err)
			}
			clock.Set(tc.now)
			for _, amount := range []string{"50", "0.50"} {
				if _, err := e.Process(e.Event(loyalty.ShipmentCompleted, "C1", "S-"+amount, amount, tc.at)); fault.CodeOf(err) != fault.PeriodClosed {
					t.Errorf("a %s CNY shipment dated %s: %v, want period_closed", amount, tc.at, err)
				}
			}
			if c := contribution(t, e, "2026-11"); c != "100" {
				t.Errorf("closed November's contribution is %s, closed at 100", c)
			}
		})
	}
}
