package ledger

import (
	"errors"
	"slices"
	"testing"
)

// TestUntilSureReadsAgainAtMostUnsureReadsTimes checks the retry loop of
// the statements' horizon: a read that stays unsure is made unsureReads
// times, the last one told it is last, with between run before each read
// after the first; a sure read or an error ends it.
func TestUntilSureReadsAgainAtMostUnsureReadsTimes(t *testing.T) {
	var calls []string
	read := func(sureAt int, fail error) func(bool) (bool, error) {
		return func(last bool) (bool, error) {
			calls = append(calls, map[bool]string{true: "last", false: "read"}[last])
			if len(calls) > 20 {
				return true, errors.New("called more than 20 times")
			}
			return len(calls) == sureAt, fail
		}
	}
	between := func() error { calls = append(calls, "between"); return nil }

	if err := untilSure(read(0, nil), between); err != nil {
		t.Fatal(err)
	}
	if want := []string{"read", "between", "read", "between", "read", "between", "last"}; !slices.Equal(calls, want) {
		t.Fatalf("always unsure: %v, want %v", calls, want)
	}

	calls = nil
	if err := untilSure(read(3, nil), between); err != nil || len(calls) != 3 {
		t.Fatalf("sure at the second read: %v, err %v", calls, err)
	}

	calls = nil
	if err := untilSure(read(0, nil), nil); err != nil || !slices.Equal(calls, []string{"read", "read", "read", "last"}) {
		t.Fatalf("no between: %v, err %v", calls, err)
	}

	boom := errors.New("boom")
	calls = nil
	if err := untilSure(read(0, boom), between); !errors.Is(err, boom) || len(calls) != 1 {
		t.Fatalf("failing read: %v, err %v; want one read and its error", calls, err)
	}

	calls = nil
	err := untilSure(read(0, nil), func() error { calls = append(calls, "between"); return boom })
	if !errors.Is(err, boom) || !slices.Equal(calls, []string{"read", "between"}) {
		t.Fatalf("failing between: %v, err %v; want a read, between, and its error", calls, err)
	}
}
