package ledger_test

import (
	"context"
	"fmt"
	"testing"
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
			if len(first) != 2 || next != first[1].PostingID {
				t.Fatalf("first page of 2: %d lines, next %d; want 2, next %d", len(first), next, first[len(first)-1].PostingID)
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
