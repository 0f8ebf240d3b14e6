package rules

import (
	"testing"
	"time"
)

// Month.Valid guards the month a client names (a report's period, a
// period to close).
func TestMonthValid(t *testing.T) {
	for _, tc := range []struct {
		m    Month
		want bool
	}{
		{"2026-02", true},
		{"1999-12", true},
		{"2026-13", false},
		{"2026-00", false},
		{"2026-2", false},
		{"26-02", false},
		{"2026-02-01", false},
		{"2026/02", false},
		{"", false},
		// The years 1971 to 2998, inside InRange's on each side: a month
		// far outside cannot be answered in JSON once stored, and 1970-01
		// begins in 1969 in UTC when reckoned in Asia/Shanghai.
		{"1971-01", true},
		{"2998-12", true},
		{"1970-12", false},
		{"2999-01", false},
		{"0000-01", false},
		{"9999-12", false},
	} {
		if got := tc.m.Valid(); got != tc.want {
			t.Errorf("Month(%q).Valid() = %v, want %v", tc.m, got, tc.want)
		}
	}
}

// A rule set that was never validated (built in code, or decoded without
// Parse) still reckons months in its own zone, not in UTC.
func TestAnUnvalidatedRuleSetUsesItsZone(t *testing.T) {
	rs := RuleSet{Timezone: "Asia/Shanghai", ExpiryMonths: 12}
	at := time.Date(2026, 1, 31, 20, 0, 0, 0, time.UTC) // 04:00 on 1 February in Shanghai
	if got := rs.MonthOf(at); got != "2026-02" {
		t.Errorf("month of %s = %s, want 2026-02", at, got)
	}
	want := time.Date(2027, 3, 1, 0, 0, 0, 0, shanghai)
	if got := rs.ExpiresAt(at); !got.Equal(want) {
		t.Errorf("earned %s expires %s, want %s", at, got, want)
	}
}

// InRange takes the years 1970 to 2999 in UTC, whatever the offset an
// instant is written with.
func TestInRange(t *testing.T) {
	plus8 := time.FixedZone("+08:00", 8*3600)
	for _, tc := range []struct {
		t    time.Time
		want bool
	}{
		{time.Date(2026, 3, 15, 10, 0, 0, 0, plus8), true},
		{time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC), true},
		{time.Date(1970, 1, 1, 7, 59, 59, 0, plus8), false}, // 1969 in UTC
		{time.Date(2999, 12, 31, 23, 59, 59, 999999999, time.UTC), true},
		{time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), false},
		{time.Date(2999, 12, 31, 23, 59, 59, 0, time.FixedZone("-23:59", -(23*3600+59*60))), false}, // 3000 in UTC
		{time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC), false},
		{time.Time{}, false},
	} {
		if got := InRange(tc.t); got != tc.want {
			t.Errorf("InRange(%s) = %v, want %v", tc.t.Format(time.RFC3339Nano), got, tc.want)
		}
	}
}
