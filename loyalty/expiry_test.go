package loyalty_test

import (
	"testing"
	"time"
)

func TestLotsExpireAtTheEndOfTheTwelfthMonth(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	e.Ship("C1", "S1", "100", march(15, 10))                                // earned 2026-03-15: expires 2027-04-01 00:00 Shanghai
	e.Ship("C1", "S2", "50", time.Date(2026, 1, 31, 20, 0, 0, 0, time.UTC)) // 1 February in Shanghai
	var expires time.Time
	e.Scan(t, `SELECT min(expires_at) FILTER (WHERE amount = 100) FROM points_lots`, &expires)
	if want := time.Date(2027, 4, 1, 0, 0, 0, 0, shanghai); !expires.Equal(want) {
		t.Errorf("lot expires %s, want %s", expires, want)
	}
	e.WantLots(t, "C1", "2027-04-01:100", "2027-03-01:50")
}

func TestExpiryJob(t *testing.T) {
	e := newEnv(t)
	for _, c := range []string{"C1", "C2", "C3"} {
		e.Customer(c)
	}
	e.Ship("C1", "S1", "100", time.Date(2026, 1, 15, 9, 0, 0, 0, shanghai)) // expires 2027-02-01
	e.Ship("C1", "S2", "40", march(10, 9))                                  // expires 2027-04-01
	e.Ship("C2", "S3", "70", time.Date(2026, 1, 20, 9, 0, 0, 0, shanghai))  // expires 2027-02-01
	e.Ship("C3", "S4", "10", march(10, 9))

	expiring, err := e.Loyalty.Expiring(e.Ctx, "C1", 400*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(expiring) != 2 || expiring[0].Date != "2027-02-01" || expiring[0].Points != 100 || expiring[1].Points != 40 {
		t.Errorf("expiring %+v, want 100 on 2027-02-01 then 40", expiring)
	}

	asOf := time.Date(2027, 2, 1, 0, 0, 0, 0, shanghai)
	rep, err := e.Loyalty.Expire(e.Ctx, asOf, "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Customers != 2 || rep.Points != 170 {
		t.Errorf("expiry %+v, want 2 customers, 170 points", rep)
	}
	if p := e.Points("C1"); p.Balance != 40 {
		t.Errorf("C1 after expiry: %d, want 40", p.Balance)
	}
	again, err := e.Loyalty.Expire(e.Ctx, asOf, "test", nil)
	if err != nil || again.Customers != 0 || again.Points != 0 {
		t.Errorf("second run %+v %v, want nothing posted", again, err)
	}
	var entries int
	e.Scan(t, `SELECT count(*) FROM entries WHERE kind = 'expiry'`, &entries)
	if entries != 2 {
		t.Errorf("%d expiry entries, want one per customer: 2", entries)
	}
	e.Reconcile()
}
