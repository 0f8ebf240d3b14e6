package ledger_test

import (
	"testing"

	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/ledger"
)

// The sealer renders an entry's postings in Go (renderPostings), Verify in
// SQL (chainColumns): entries sealed one way verify the other, whatever
// their postings hold. Here: codes whose byte order is not the database
// collation's, amounts with their scale ("12.30", "0.05"), a hundred
// postings in one entry, and, done behind the ledger's back before the
// seal, a posting whose instant is not its entry's (to the microsecond,
// trailing zeros written) and postings whose account rows are gone (two in
// one entry: they follow the others, by posting id). Any byte the two
// renderings disagree on is an "altered" entry.
func TestEntriesSealedVerifyWhateverTheirPostingsHold(t *testing.T) {
	l, pool := newLedger(t)
	testdb.SkipBooks(t, "postings redated and an account row deleted behind the ledger's back")
	mustPost(t, l, ledger.EntryInput{Kind: "adjustment", Actor: "test", Reason: "test", Postings: []ledger.PostingInput{
		{Account: "customer:Bob:points_owed", Amount: d("-5")},
		{Account: "customer:alice:points", Amount: d("5"), Lot: farFuture},
		{Account: "customer:_x:points_owed", Amount: d("-7")},
		{Account: "customer:Zed:points", Amount: d("7"), Lot: farFuture},
	}})
	cash := mustPost(t, l, ledger.EntryInput{Kind: "deposit", Actor: "test", Postings: []ledger.PostingInput{
		{Account: "platform:cash", Amount: d("-12.35")},
		{Account: "customer:alice:prepaid", Amount: d("12.30")},
		{Account: "customer:alice:rebate", Amount: d("0.05")},
	}})
	many := ledger.EntryInput{Kind: "earn", Actor: "test"}
	for i := range 50 {
		c := string(rune('a'+i%26)) + string(rune('A'+i/26))
		many.Postings = append(many.Postings,
			ledger.PostingInput{Account: "customer:" + c + ":points", Amount: d("3"), Lot: farFuture},
			ledger.PostingInput{Account: "customer:" + c + ":points_owed", Amount: d("-3")})
	}
	mustPost(t, l, many)
	redated := mustPost(t, l, earn("alice", "10"))
	orphan := mustPost(t, l, earn("Carol", "4"))
	asAttacker(t, pool, `UPDATE postings SET effective_at = date_trunc('second', effective_at) - interval '40 days' + interval '120 microseconds'
WHERE entry_id = $1 AND amount > 0`, redated.ID)
	asAttacker(t, pool, `DELETE FROM accounts WHERE code IN ('customer:Carol:points', 'customer:Bob:points_owed', 'customer:_x:points_owed')`)
	if n := sealCommitted(t, l); n != 5 {
		t.Fatalf("sealed %d, want 5", n)
	}
	if v := verify(t, l, nil); !v.OK || v.Checked != 5 {
		t.Fatalf("verify after the seal: checked %d, broken %+v; want 5 intact (entries %d to %d)", v.Checked, v.Broken, cash.ID-1, orphan.ID)
	}
}

// A posting redated behind the ledger's back to an instant before the
// common era (or to year 1 BC, Go's year 0) renders its year as
// PostgreSQL's to_char writes it in chainColumns ("0044", no sign, no
// era), not as Go's time.Format does ("-0043"): otherwise the entry,
// sealed as it was, verifies as "altered".
func TestEntriesRedatedBeforeTheCommonEraVerifyOnceSealed(t *testing.T) {
	l, pool := newLedger(t)
	testdb.SkipBooks(t, "postings redated behind the ledger's back")
	bc := mustPost(t, l, earn("alice", "10"))
	yearOne := mustPost(t, l, earn("bob", "10"))
	asAttacker(t, pool, `UPDATE postings SET effective_at = '0044-03-15 12:00:00.00012+00 BC' WHERE entry_id = $1 AND amount > 0`, bc.ID)
	asAttacker(t, pool, `UPDATE postings SET effective_at = '0001-12-31 23:59:59+00 BC' WHERE entry_id = $1 AND amount > 0`, yearOne.ID)
	if n := sealCommitted(t, l); n != 2 {
		t.Fatalf("sealed %d, want 2", n)
	}
	if v := verify(t, l, nil); !v.OK || v.Checked != 2 {
		t.Fatalf("verify after the seal: checked %d, broken %+v; want 2 intact", v.Checked, v.Broken)
	}
}
