// Package pgarray writes the slices the ledger's writers send as array
// parameters ([]string, []int64, []int32, []time.Time, [][]byte, and
// []*string, []*int64 and []*time.Time whose nil elements are NULL: a group's entries,
// postings, lots, events and notifications go as one array per column)
// in PostgreSQL's binary array format itself, byte for byte what pgx's
// array codec writes. pgx
// boxes each element in an interface and looks its plan up again, which
// was a tenth of the server's CPU in the event scenarios; this writes the
// header and the elements from the typed slice.
package pgarray

import (
	"encoding/binary"
	"slices"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
)

// Register makes m encode those slices itself, in binary, to text[],
// int8[], int4[], timestamptz[], bytea[] and json[] parameters; any other
// value, and the text format, go to pgx's codec as before. Call it on each
// connection's type map before its first query (pgxpool.Config.AfterConnect).
func Register(m *pgtype.Map) {
	for _, a := range [...]struct{ array, elem uint32 }{
		{pgtype.TextArrayOID, pgtype.TextOID},
		{pgtype.Int8ArrayOID, pgtype.Int8OID},
		{pgtype.Int4ArrayOID, pgtype.Int4OID},
		{pgtype.TimestamptzArrayOID, pgtype.TimestamptzOID},
		{pgtype.ByteaArrayOID, pgtype.ByteaOID},
		{pgtype.JSONArrayOID, pgtype.JSONOID},
	} {
		t, ok := m.TypeForOID(a.array)
		if !ok {
			continue
		}
		if _, done := t.Codec.(*codec); done {
			continue
		}
		m.RegisterType(&pgtype.Type{Name: t.Name, OID: t.OID, Codec: &codec{Codec: t.Codec, elem: a.elem}})
	}
}

// codec is pgx's array codec with the plans of this package first.
type codec struct {
	pgtype.Codec
	elem uint32
}

func (c *codec) PlanEncode(m *pgtype.Map, oid uint32, format int16, value any) pgtype.EncodePlan {
	if format == pgtype.BinaryFormatCode {
		if p := c.plan(value); p != nil {
			return p
		}
	}
	return c.Codec.PlanEncode(m, oid, format, value)
}

// plan is this package's plan for value to an array of c.elem, nil when
// it has none. JSON in binary is its text as is (jsonb, which has a
// version byte first, is not among them).
func (c *codec) plan(value any) pgtype.EncodePlan {
	switch value.(type) {
	case []string:
		if c.elem == pgtype.TextOID || c.elem == pgtype.JSONOID {
			return plan[string]{elem: c.elem, put: putText, size: textSize}
		}
	case []*string:
		if c.elem == pgtype.TextOID {
			return plan[*string]{elem: c.elem, put: putTextPtr, null: isNil[string], size: textPtrSize}
		}
	case [][]byte:
		if c.elem == pgtype.ByteaOID || c.elem == pgtype.JSONOID {
			return plan[[]byte]{elem: c.elem, put: putBytes, null: isNilBytes, size: bytesSize}
		}
	case []int64:
		if c.elem == pgtype.Int8OID {
			return plan[int64]{elem: c.elem, put: putInt8, fixed: 12}
		}
	case []*int64:
		if c.elem == pgtype.Int8OID {
			return plan[*int64]{elem: c.elem, put: putInt8Ptr, null: isNil[int64], fixed: 12}
		}
	case []int32:
		if c.elem == pgtype.Int4OID {
			return plan[int32]{elem: c.elem, put: putInt4, fixed: 8}
		}
	case []time.Time:
		if c.elem == pgtype.TimestamptzOID {
			return plan[time.Time]{elem: c.elem, put: putTimestamptz, fixed: 12}
		}
	case []*time.Time:
		if c.elem == pgtype.TimestamptzOID {
			return plan[*time.Time]{elem: c.elem, put: putTimestamptzPtr, null: isNil[time.Time], fixed: 12}
		}
	}
	return nil
}

// plan writes a []T as a one-dimensional array of elem, each element by
// put (its length, then its bytes), or as NULL where null says so; a nil
// slice is NULL. The buffer is grown at most once an array, by the
// array's size and what the buffer holds already: an element takes fixed
// bytes, or size's when fixed is 0 (a NULL's 4 bytes are within either).
// A group's arrays are tens of kilobytes, and growing by appends copied
// each several times.
type plan[T any] struct {
	elem  uint32
	put   func([]byte, T) []byte
	null  func(T) bool // nil: no element is NULL
	fixed int
	size  func(T) int
}

func (p plan[T]) Encode(value any, buf []byte) ([]byte, error) {
	s := value.([]T)
	if s == nil {
		return nil, nil
	}
	var nulls uint32
	if p.null != nil && slices.ContainsFunc(s, p.null) {
		nulls = 1
	}
	need := 20 + p.fixed*len(s)
	if p.fixed == 0 {
		for _, v := range s {
			need += p.size(v)
		}
	}
	if cap(buf)-len(buf) < need {
		// buf holds the statement's arguments before this one (pgx
		// starts each statement's at 256 bytes): with room for as much
		// again, the arguments after it seldom copy them once more.
		buf = slices.Grow(buf, len(buf)+need)
	}
	buf = binary.BigEndian.AppendUint32(buf, 1) // one dimension, even empty
	buf = binary.BigEndian.AppendUint32(buf, nulls)
	buf = binary.BigEndian.AppendUint32(buf, p.elem)
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(s)))
	buf = binary.BigEndian.AppendUint32(buf, 1) // lower bound
	for _, v := range s {
		if nulls != 0 && p.null(v) {
			buf = binary.BigEndian.AppendUint32(buf, 0xFFFFFFFF) // length -1: NULL
			continue
		}
		buf = p.put(buf, v)
	}
	return buf, nil
}

func isNil[T any](v *T) bool { return v == nil }

func isNilBytes(b []byte) bool { return b == nil }

func putText(buf []byte, s string) []byte {
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(s)))
	return append(buf, s...)
}

func putTextPtr(buf []byte, s *string) []byte { return putText(buf, *s) }

func textSize(s string) int { return 4 + len(s) }

func textPtrSize(s *string) int {
	if s == nil {
		return 4
	}
	return 4 + len(*s)
}

func bytesSize(b []byte) int { return 4 + len(b) }

func putBytes(buf []byte, b []byte) []byte {
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(b)))
	return append(buf, b...)
}

func putInt8Ptr(buf []byte, n *int64) []byte { return putInt8(buf, *n) }

func putInt8(buf []byte, n int64) []byte {
	buf = binary.BigEndian.AppendUint32(buf, 8)
	return binary.BigEndian.AppendUint64(buf, uint64(n))
}

func putInt4(buf []byte, n int32) []byte {
	buf = binary.BigEndian.AppendUint32(buf, 4)
	return binary.BigEndian.AppendUint32(buf, uint32(n))
}

// microsecFromUnixEpochToY2K is where PostgreSQL's instants count from.
const microsecFromUnixEpochToY2K = 946684800 * 1000000

func putTimestamptzPtr(buf []byte, t *time.Time) []byte { return putTimestamptz(buf, *t) }

func putTimestamptz(buf []byte, t time.Time) []byte {
	buf = binary.BigEndian.AppendUint32(buf, 8)
	us := t.Unix()*1000000 + int64(t.Nanosecond())/1000 - microsecFromUnixEpochToY2K
	return binary.BigEndian.AppendUint64(buf, uint64(us))
}
