package ledger_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/tally-ledger/tally/ledger"
)

// The entry Post answers with (what a client is told) is the entry the
// ledger recorded, posting for posting.
func TestPostAnswersWithTheRecordedEntry(t *testing.T) {
	l, _ := newLedger(t)
	ctx := context.Background()
	version := 2
	deposit := ledger.EntryInput{Kind: "deposit", Actor: "billing", Reason: "prepaid", RuleVersion: &version,
		EffectiveAt: time.Date(2026, 3, 10, 4, 0, 0, 0, time.UTC), Metadata: json.RawMessage(`{"deposit":"D1"}`),
		Postings: []ledger.PostingInput{
			{Account: "platform:cash", Amount: d("-12345.67")},
			{Account: "customer:C1:prepaid", Amount: d("12345.67")},
			{Account: "platform:rebate:expense", Amount: d("-493.82")},
			{Account: "customer:C1:rebate", Amount: d("493.82")},
		}}
	for _, in := range []ledger.EntryInput{deposit, earn("C1", "148"), redeem("C1", "48")} {
		got, _, err := l.Post(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		want, err := l.Entry(ctx, got.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Kind != want.Kind || !got.EffectiveAt.Equal(want.EffectiveAt) || !got.RecordedAt.Equal(want.RecordedAt) ||
			got.Actor != want.Actor || got.Reason != want.Reason || !jsonEqual(got.Metadata, string(want.Metadata)) ||
			(got.RuleVersion == nil) != (want.RuleVersion == nil) || (got.RuleVersion != nil && *got.RuleVersion != *want.RuleVersion) {
			t.Errorf("Post answered %+v, the ledger recorded %+v", got, want)
		}
		if len(got.Postings) != len(want.Postings) {
			t.Fatalf("Post answered %d postings, the ledger recorded %d", len(got.Postings), len(want.Postings))
		}
		for i, g := range got.Postings {
			w := want.Postings[i]
			if g.ID != w.ID || g.Account != w.Account || g.Asset != w.Asset || !g.Amount.Equal(w.Amount) ||
				(g.BalanceAfter == nil) != (w.BalanceAfter == nil) || (g.BalanceAfter != nil && !g.BalanceAfter.Equal(*w.BalanceAfter)) {
				t.Errorf("entry %d posting %d: answered %+v, recorded %+v", got.ID, i, g, w)
			}
		}
	}
	wantBalance(t, l, "customer:C1:points", "100")
}
