package ledger_test

import (
	"context"
	"fmt"
	"github.com/jackc/pgx/v5"
	"testing"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/ledger"
)

// The page that holds the last postings says so (next 0), also when it is
// exactly full, so a client never asks for an empty page.
func TestStatementLastPageExactlyFull(t *testing.T) {
	l, _ := newLedger(t)
	ctx := context.Background()
	for i := 1; i <= 4; i++ {
		mustPost(t, l, earn("C1", fmt.Sprint(i)))
	}
	for _, code := range []string{"customer:C1:points", "platform:points:earned:volume"} {
		t.Run(code, func(t *testing.T) {
			lines, next, err := l.Statement(ctx, code, 0, 4)
			if err != nil {
				t.Fatal(err)
			}
			if len(lines) != 4 || next != 0 {
				t.Errorf("one page of 4 for 4 postings: %d lines, next %d; want 4 lines, next 0", len(lines), next)
			}
			first, next, err := l.Statement(ctx, code, 0, 2)
			if err != nil {
				t.Fatal(err)
			}
			if len(first) != 2 || next != first[1].Cursor {
				t.Fatalf("first page of 2: %d lines, next %d; want 2, next %d (its last line's cursor)", len(first), next, first[len(first)-1].Cursor)
			}
			second, next, err := l.Statement(ctx, code, next, 2)
			if err != nil {
				t.Fatal(err)
			}
			if len(second) != 2 || next != 0 || second[0].PostingID >= first[1].PostingID {
				t.Errorf("second page of 2: %+v, next %d; want the two older postings and next 0", second, next)
			}
		})
	}
}

// A platform statement's cursor names an entry, negated; an account that
// may not go negative has a posting id. Each statement refuses the other's
// cursor, and a platform statement refuses a posting id, a cursor given
// before 0040, rather than read it as an entry.
func TestStatementCursorsAreTheirAccountsOwn(t *testing.T) {
	l, _ := newLedger(t)
	ctx := context.Background()
	var entries []*ledger.Entry
	for i := 1; i <= 3; i++ {
		entries = append(entries, mustPost(t, l, earn("C1", fmt.Sprint(i))))
	}
	hot, hotNext, err := l.Statement(ctx, "platform:points:earned:volume", 0, 1)
	if err != nil || len(hot) != 1 || hotNext != -entries[2].ID {
		t.Fatalf("platform's first page: %+v, next %d, %v; want the newest entry's, next %d", hot, hotNext, err, -entries[2].ID)
	}
	cold, coldNext, err := l.Statement(ctx, "customer:C1:points", 0, 1)
	if err != nil || len(cold) != 1 || coldNext != cold[0].PostingID || coldNext <= 0 {
		t.Fatalf("customer's first page: %+v, next %d, %v; want next its posting id", cold, coldNext, err)
	}
	for _, c := range []struct {
		code   string
		cursor int64
	}{
		{"platform:points:earned:volume", hot[0].PostingID}, // a posting id, as before 0040
		{"platform:points:earned:volume", coldNext},
		{"platform:points:earned:volume", -999999}, // no such entry
		{"customer:C1:points", hotNext},
	} {
		if _, _, err := l.Statement(ctx, c.code, c.cursor, 1); fault.CodeOf(err) != fault.Invalid {
			t.Errorf("%s from cursor %d: %v, want %s", c.code, c.cursor, err, fault.Invalid)
		}
	}
	second, _, err := l.Statement(ctx, "platform:points:earned:volume", hotNext, 1)
	if err != nil || len(second) != 1 || second[0].EntryID != entries[1].ID {
		t.Errorf("platform's second page: %+v, %v; want entry %d's posting", second, err, entries[1].ID)
	}
}

// TestAPlatformStatementsBalancesAfterAreTheRunningSumAtEveryDepth: a
// platform account's balance after each posting, derived on read from the
// postings on the cheaper side of the page (above it near the top, below
// it deep down), is at every page the running sum of its postings in the
// statement's order, oldest first: 61 postings (earnings and redemptions,
// each its own transaction), pages of 3, summing at most 5 postings above
// a page before weighing the sides (so that the three ways are taken).
func TestAPlatformStatementsBalancesAfterAreTheRunningSumAtEveryDepth(t *testing.T) {
	ledger.SumAtMostAboveAHotPage(t, 5)
	l, pool := newLedger(t)
	ctx := context.Background()
	for i := range 61 {
		mustPost(t, l, earn(fmt.Sprintf("C%d", i%5), fmt.Sprint(10+i*7)))
		if i%4 == 3 {
			mustPost(t, l, redeem(fmt.Sprintf("C%d", i%5), fmt.Sprint(1+i)))
		}
	}
	for _, code := range []string{"platform:points:earned:volume", "platform:points:redeemed"} {
		want := map[int64]string{}
		rows, err := pool.Query(ctx, `SELECT p.id, (sum(p.amount) OVER (ORDER BY p.xid, p.entry_id))::text FROM postings p
JOIN accounts a ON a.id = p.account_id WHERE a.code = $1`, code)
		if err != nil {
			t.Fatal(err)
		}
		var id int64
		var sum string
		if _, err := pgx.ForEachRow(rows, []any{&id, &sum}, func() error { want[id] = sum; return nil }); err != nil {
			t.Fatal(err)
		}
		seen, cursor := 0, int64(0)
		for {
			lines, next, err := l.Statement(ctx, code, cursor, 3)
			if err != nil {
				t.Fatal(err)
			}
			for _, ln := range lines {
				seen++
				if ln.BalanceAfter.String() != want[ln.PostingID] {
					t.Errorf("%s, posting %d (line %d): balance after %s, the running sum is %s", code, ln.PostingID, seen, ln.BalanceAfter, want[ln.PostingID])
				}
			}
			if next == 0 {
				break
			}
			cursor = next
		}
		if seen != len(want) {
			t.Errorf("%s: %d lines shown of %d postings", code, seen, len(want))
		}
	}
}
