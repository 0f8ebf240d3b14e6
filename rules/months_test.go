package rules

import (
	"testing"
	"time"
)

// Month.Valid guards the month a client names (a report's period).
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
