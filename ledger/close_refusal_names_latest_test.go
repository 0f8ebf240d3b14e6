package ledger_test

import (
	"context"
	"strings"
	"testing"

	"github.com/tally-ledger/tally/internal/fault"
)

// A month closed already is refused with period_closed either way; when
// it is not the latest closed month, the refusal names the latest, which
// is what closed it (closes cover everything before them).
func TestClosingAMonthBeforeTheLatestClosedNamesTheLatest(t *testing.T) {
	l := closingLedger(t)
	ctx := context.Background()
	if _, err := l.ClosePeriod(ctx, "2026-10", octStart, novStart, "finance"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.ClosePeriod(ctx, "2026-11", novStart, decStart, "finance"); err != nil {
		t.Fatal(err)
	}
	_, err := l.ClosePeriod(ctx, "2026-10", octStart, novStart, "finance")
	wantCode(t, err, fault.PeriodClosed)
	if msg := err.Error(); !strings.Contains(msg, "2026-10 is closed already") || !strings.Contains(msg, "up to 2026-11") {
		t.Errorf("closing October after November: %q, want it closed already, up to 2026-11", msg)
	}
	_, err = l.ClosePeriod(ctx, "2026-11", novStart, decStart, "finance")
	wantCode(t, err, fault.PeriodClosed)
	if msg := err.Error(); !strings.Contains(msg, "2026-11 is closed already") || strings.Contains(msg, "up to") {
		t.Errorf("closing November again: %q, want it closed already and no other month named", msg)
	}
}
