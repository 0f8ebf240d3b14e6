package rules

import "time"

// The instants the service takes in lie in the years 1970 to 2999 (UTC),
// and the months in 1971-01 to 2998-12, a year inside on each side, so
// that a month begins and ends inside the instants' years in any time zone
// (1970-01 begins in 1969 in UTC when it is reckoned in Asia/Shanghai, and
// a report of it would ask for an instant refused). No business is dated
// outside them,
// and far outside them JSON and PostgreSQL stop agreeing on how a year is
// written: Go writes no year past 9999 nor before 0, PostgreSQL writes
// 10000 and "BC". An instant taken in outside them, stored, would fail
// every read that answers it.
var (
	FirstInstant = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	// EndOfInstants is the first instant past the range.
	EndOfInstants = time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)
)

// InstantsRange says the range in words, for a refusal.
const InstantsRange = "from 1970-01-01T00:00:00Z to 2999-12-31T23:59:59Z"

// InRange reports whether t lies in the years 1970 to 2999 (UTC).
func InRange(t time.Time) bool {
	return !t.Before(FirstInstant) && t.Before(EndOfInstants)
}
