package ledger_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tally-ledger/tally/ledger"
)

// A reversal counts, in the month's figures and in the movements by kind,
// in the kind of the entry it reversed; any other entry counts in its own
// kind, whatever its metadata says. A manual entry's metadata is its
// caller's: one saying {"reversed_kind": "earn"} (helper-153's finding:
// with "deposit", a hand adjustment of a customer's rebate was reported as
// rebate granted) counts as the adjustment it is.
func TestOnlyAReversalCountsInAnotherKind(t *testing.T) {
	l := closingLedger(t)
	ctx := context.Background()
	mustPost(t, l, at(earn("C1", "100"), octStart.Add(time.Hour)))
	twice := mustPost(t, l, at(earn("C1", "30"), octStart.Add(2*time.Hour)))
	if _, _, err := l.Reverse(ctx, twice.ID, ledger.ReversalInput{Actor: "ops", Reason: "posted twice"}); err != nil {
		t.Fatal(err)
	}
	forged := earn("C1", "5")
	forged.Kind, forged.Metadata = "adjust", json.RawMessage(`{"reversed_kind":"earn"}`)
	mustPost(t, l, at(forged, octStart.Add(3*time.Hour)))
	// The reversal is dated when it is made (December): the month after
	// October holds it.
	figures, err := l.PeriodFigures(ctx, "2026-10", octStart, novStart)
	if err != nil {
		t.Fatal(err)
	}
	const oct = "account customer:C1:points PTS opening 0 closing 135\n  adjust 5\n  earn 130\n"
	if !strings.Contains(figures, oct) {
		t.Errorf("October's figures do not render C1 as %q:\n%s", oct, figures)
	}
	figures, err = l.PeriodFigures(ctx, "2026-12", decStart, decStart.AddDate(0, 1, 0))
	if err != nil {
		t.Fatal(err)
	}
	const dec = "account customer:C1:points PTS opening 135 closing 105\n  earn -30\n"
	if !strings.Contains(figures, dec) {
		t.Errorf("December's figures do not render C1 as %q:\n%s", dec, figures)
	}
	got := map[string]string{}
	err = l.Movements(ctx, ledger.MovementFilter{Prefix: "customer:C1:"}, octStart, decStart.AddDate(0, 1, 0), func(m ledger.Movements) error {
		if m.Account == "customer:C1:points" {
			for k, v := range m.ByKind {
				got[k] = v.String()
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"earn": "100", "adjust": "5"}; len(got) != len(want) || got["earn"] != want["earn"] || got["adjust"] != want["adjust"] {
		t.Errorf("C1's movements by kind, October to December: %v, want %v", got, want)
	}
}
