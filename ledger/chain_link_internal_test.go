package ledger

import (
	"bytes"
	"crypto/sha256"
	"math/rand/v2"
	"testing"
	"time"
)

// TestLinkIsTheDocumentedDigest pins a link to its definition, written out
// by hand: SHA-256 of the previous link and the entry's fields, each as
// "length:value," ("-," for an optional field that is absent), postings
// counted before them. Links already stored were made so: a change of the
// bytes would turn every sealed chain into a broken one.
func TestLinkIsTheDocumentedDigest(t *testing.T) {
	rev, rule, key := int64(7), int32(3), "k-1"
	at := time.Date(2026, 11, 30, 23, 59, 59, 999999000, time.FixedZone("CST", 8*3600))
	prev := bytes.Repeat([]byte{0xab}, 32)
	cases := []struct {
		c    chainEntry
		want string
	}{
		{chainEntry{id: 42, xid: 9001, kind: "shipment", effectiveAt: at, recordedAt: at.Add(time.Microsecond),
			actor: "partner:p1", reason: "", metadata: `{"a": 1}`,
			postings: []string{"customer:C1:points PTS 120", "platform:points:earned:volume PTS -120"}},
			"2:42,4:9001,8:shipment,27:2026-11-30T15:59:59.999999Z,27:2026-11-30T16:00:00.000000Z,10:partner:p1,0:,-,-,-,8:{\"a\": 1},1:2," +
				"26:customer:C1:points PTS 120,38:platform:points:earned:volume PTS -120,"},
		{chainEntry{id: 1, xid: 2, kind: "reversal", effectiveAt: at, recordedAt: at, actor: "admin", reason: "wrong",
			reversalOf: &rev, ruleVersion: &rule, idempotencyKey: &key, metadata: "{}"},
			"1:1,1:2,8:reversal,27:2026-11-30T15:59:59.999999Z,27:2026-11-30T15:59:59.999999Z,5:admin,5:wrong,1:7,1:3,3:k-1,2:{},1:0,"},
	}
	for _, tc := range cases {
		want := sha256.Sum256(append(append([]byte{}, prev...), tc.want...))
		var l linker
		for range 2 { // a linker used again gives the same link
			if got := l.link(&tc.c, prev); !bytes.Equal(got, want[:]) {
				t.Errorf("entry %d: link %x, want the digest of %q, %x", tc.c.id, got, tc.want, want)
			}
		}
	}
}

// BenchmarkLink links a shipment-like entry after another, as the sealer
// does: what one link costs the server, in time and allocations.
func BenchmarkLink(b *testing.B) {
	at := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	c := chainEntry{id: 123456, xid: 987654, kind: "shipment", effectiveAt: at, recordedAt: at, actor: "partner:p1",
		metadata: `{"amount": "120.00", "shipment_id": "S-000123"}`,
		postings: []string{"customer:C000123:points PTS 120", "platform:points:earned:volume PTS -120"}}
	prev := genesis
	var l linker
	b.ReportAllocs()
	for b.Loop() {
		prev = l.link(&c, prev)
	}
}

// appendChainTime writes what time's layout writes for chainTime, in
// every zone and at every precision, for instants spread over years 1 to
// 9999 and beyond (which time writes itself), appended after what the
// buffer held.
func TestAppendChainTimeIsTimesLayout(t *testing.T) {
	zones := []*time.Location{time.UTC, time.FixedZone("CST", 8*3600), time.FixedZone("W", -(9*3600 + 30*60))}
	r := rand.New(rand.NewPCG(1, 2))
	lo, hi := time.Date(-2, 1, 1, 0, 0, 0, 0, time.UTC).Unix(), time.Date(10001, 12, 31, 23, 59, 59, 0, time.UTC).Unix()
	instants := []time.Time{
		time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(0, 12, 31, 23, 59, 59, 999999999, time.UTC), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 11, 30, 23, 59, 59, 999999500, time.UTC),
	}
	for range 200000 {
		instants = append(instants, time.Unix(lo+r.Int64N(hi-lo), r.Int64N(1e9)))
	}
	for i, at := range instants {
		at = at.In(zones[i%len(zones)])
		want := at.UTC().AppendFormat([]byte("x"), chainTime)
		if got := appendChainTime([]byte("x"), at); !bytes.Equal(got, want) {
			t.Fatalf("appendChainTime(%s) = %q, time writes %q", at, got, want)
		}
	}
}
