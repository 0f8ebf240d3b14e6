package pgarray_test

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/tally-ledger/tally/internal/pgarray"
)

// The arrays written here are pgx's own bytes: for 4,000 random slices
// of each type (empty strings, multi-byte text, the integers' extremes,
// instants from year 1 to 9999 in several zones with nanoseconds, before
// 1970 and after), a nil slice and an empty one, the registered map's
// encoding equals a plain map's, and it is this package's plan that wrote
// it (a plan left to pgx would pass the comparison by itself).
func TestArraysAreWrittenAsPgxWritesThem(t *testing.T) {
	fast, plain := pgtype.NewMap(), pgtype.NewMap()
	pgarray.Register(fast)
	pgarray.Register(fast) // twice is once
	r := rand.New(rand.NewPCG(16, 30))
	zones := []*time.Location{time.UTC, time.FixedZone("CST", 8*3600), time.FixedZone("odd", -(3*3600 + 1799))}
	values := map[uint32][]any{}
	for range 4000 {
		n := r.IntN(12)
		strs, i8s, i4s, times := make([]string, n), make([]int64, n), make([]int32, n), make([]time.Time, n)
		for i := range n {
			var b strings.Builder
			for range r.IntN(20) {
				b.WriteRune([]rune("aZ0 :é点积分\U0001F600")[r.IntN(10)])
			}
			strs[i] = b.String()
			i8s[i] = []int64{0, 1, -1, math.MaxInt64, math.MinInt64, r.Int64(), -r.Int64()}[r.IntN(7)]
			i4s[i] = []int32{0, 1, -1, math.MaxInt32, math.MinInt32, r.Int32(), -r.Int32()}[r.IntN(7)]
			sec := r.Int64N(time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC).Unix()-time.Date(1, 1, 2, 0, 0, 0, 0, time.UTC).Unix()) +
				time.Date(1, 1, 2, 0, 0, 0, 0, time.UTC).Unix()
			times[i] = time.Unix(sec, r.Int64N(1e9)).In(zones[r.IntN(len(zones))])
		}
		// Nullable elements: nil pointers and nil byte slices are NULL (an
		// empty byte slice is not).
		strPtrs, i8Ptrs, timePtrs, bytess := make([]*string, n), make([]*int64, n), make([]*time.Time, n), make([][]byte, n)
		for i := range n {
			if r.IntN(3) > 0 {
				strPtrs[i], i8Ptrs[i], timePtrs[i] = &strs[i], &i8s[i], &times[i]
			}
			switch r.IntN(3) {
			case 1:
				bytess[i] = []byte{}
			case 2:
				bytess[i] = []byte(strs[i])
			}
		}
		jsons := make([]string, n)
		for i := range n {
			jsons[i] = fmt.Sprintf(`{"n":%d,"s":%q}`, i8s[i], strs[i])
		}
		values[pgtype.TextArrayOID] = append(values[pgtype.TextArrayOID], strPtrs)
		values[pgtype.Int8ArrayOID] = append(values[pgtype.Int8ArrayOID], i8Ptrs)
		values[pgtype.TimestamptzArrayOID] = append(values[pgtype.TimestamptzArrayOID], timePtrs)
		values[pgtype.ByteaArrayOID] = append(values[pgtype.ByteaArrayOID], bytess)
		values[pgtype.JSONArrayOID] = append(values[pgtype.JSONArrayOID], jsons, bytess)
		values[pgtype.TextArrayOID] = append(values[pgtype.TextArrayOID], strs)
		values[pgtype.Int8ArrayOID] = append(values[pgtype.Int8ArrayOID], i8s)
		values[pgtype.Int4ArrayOID] = append(values[pgtype.Int4ArrayOID], i4s)
		values[pgtype.TimestamptzArrayOID] = append(values[pgtype.TimestamptzArrayOID], times)
	}
	values[pgtype.TextArrayOID] = append(values[pgtype.TextArrayOID], []string(nil), []string{})
	values[pgtype.Int8ArrayOID] = append(values[pgtype.Int8ArrayOID], []int64(nil), []int64{})
	values[pgtype.Int4ArrayOID] = append(values[pgtype.Int4ArrayOID], []int32(nil), []int32{})
	values[pgtype.TimestamptzArrayOID] = append(values[pgtype.TimestamptzArrayOID], []time.Time(nil), []time.Time{})
	values[pgtype.TextArrayOID] = append(values[pgtype.TextArrayOID], []*string(nil), []*string{}, []*string{nil})
	values[pgtype.Int8ArrayOID] = append(values[pgtype.Int8ArrayOID], []*int64(nil), []*int64{}, []*int64{nil})
	values[pgtype.TimestamptzArrayOID] = append(values[pgtype.TimestamptzArrayOID], []*time.Time(nil), []*time.Time{}, []*time.Time{nil})
	values[pgtype.ByteaArrayOID] = append(values[pgtype.ByteaArrayOID], [][]byte(nil), [][]byte{}, [][]byte{nil}, [][]byte{{}})
	values[pgtype.JSONArrayOID] = append(values[pgtype.JSONArrayOID], []string(nil), []string{}, [][]byte{nil})
	for oid, vs := range values {
		for _, v := range vs {
			if p := fmt.Sprintf("%T", fast.PlanEncode(oid, pgtype.BinaryFormatCode, v)); !strings.HasPrefix(p, "pgarray.plan[") {
				t.Fatalf("%T to OID %d is written by %s, not this package", v, oid, p)
			}
			got, err := fast.Encode(oid, pgtype.BinaryFormatCode, v, []byte("prefix"))
			if err != nil {
				t.Fatal(err)
			}
			want, err := plain.Encode(oid, pgtype.BinaryFormatCode, v, []byte("prefix"))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) || (got == nil) != (want == nil) {
				t.Fatalf("%T %v to OID %d:\n got %x\nwant %x", v, v, oid, got, want)
			}
		}
	}
	// Anything else is pgx's as before: a slice of another type, another
	// array type, the text format.
	for _, c := range []struct {
		oid    uint32
		format int16
		v      any
	}{
		{pgtype.Int4ArrayOID, pgtype.BinaryFormatCode, []*int32{nil}},
		{pgtype.JSONBArrayOID, pgtype.BinaryFormatCode, []string{`{}`}},
		{pgtype.Int8ArrayOID, pgtype.BinaryFormatCode, []int32{1}},
		{pgtype.BoolArrayOID, pgtype.BinaryFormatCode, []bool{true}},
		{pgtype.TextArrayOID, pgtype.TextFormatCode, []string{"a", "b c"}},
	} {
		got, err := fast.Encode(c.oid, c.format, c.v, nil)
		want, err2 := plain.Encode(c.oid, c.format, c.v, nil)
		if err != nil || err2 != nil || !bytes.Equal(got, want) {
			t.Errorf("%T to OID %d (format %d): %x, %v; pgx writes %x, %v", c.v, c.oid, c.format, got, err, want, err2)
		}
	}
}

// BenchmarkTextArray writes a group's worth of text (500 account codes) as
// a parameter would be: appended to a buffer that holds the ones before.
func BenchmarkTextArray(b *testing.B) {
	m := pgtype.NewMap()
	pgarray.Register(m)
	codes := make([]string, 500)
	for i := range codes {
		codes[i] = fmt.Sprintf("customer:C%06d:points", i)
	}
	b.ReportAllocs()
	var buf []byte
	for b.Loop() {
		var err error
		buf, err = m.Encode(pgtype.TextArrayOID, pgtype.BinaryFormatCode, codes, buf[:0:0])
		if err != nil {
			b.Fatal(err)
		}
	}
	_ = buf
}
