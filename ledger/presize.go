package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// A group's batch goes out as one write of hundreds of kilobytes, encoded by
// pgx into its connection's write buffer. That buffer starts each batch at
// 1 KB (pgx drops a larger one after each write) and grows by appends,
// by a quarter at a time once large: each group's bytes were allocated
// about five times over and copied as often (a quarter of the server's
// allocated bytes in scenario 3, and 7% of its CPU in memmove). presize
// grows the buffer once, to what the batch's messages will take, before
// pgx encodes them.

// presizeMin is the estimate under which a batch is left to pgx's growth:
// from its 1 KB, one doubling at most. A group's writes take about 3 KB
// and 0.8 KB an event (400 KB for 500), a group's reads about 1 KB.
var presizeMin = 2 << 10 // a variable for its test alone

// presize grows conn's write buffer to what b, about to be sent under ctx,
// is estimated to take. It does nothing on a connection pgx has closed,
// whose Frontend pgx's closing goroutine may be writing to, nor once ctx
// has ended: the batch would not be written, and a buffer grown for a
// batch not written stays the connection's until its next write of more
// than 1 KB (as it does when an argument fails to encode: bounded by the
// largest batch). A batch whose statements pgx prepares first (a
// connection's first use of them) goes out on a buffer grown again: pgx
// writes the preparation on its own, and drops the presized buffer.
func presize(ctx context.Context, conn *pgx.Conn, b *pgx.Batch) {
	if n := batchBytes(b); n >= presizeMin && ctx.Err() == nil && !conn.IsClosed() {
		conn.PgConn().Frontend().Send(reserve(n))
	}
}

// presizeStatement grows conn's write buffer to what a statement with args
// is estimated to take, for a statement run on its own (Exec).
func presizeStatement(ctx context.Context, conn *pgx.Conn, args ...any) {
	presize(ctx, conn, &pgx.Batch{QueuedQueries: []*pgx.QueuedQuery{{Arguments: args}}})
}

// batchBytes estimates the bytes b's Bind, Describe and Execute messages
// take: each argument's encoded size as pgarray or pgx writes it in binary
// (a string or a []byte its length, an array its header and each element's
// length and bytes), and the messages' own few dozen bytes a query. An
// argument of another type counts 16 bytes: none is large.
func batchBytes(b *pgx.Batch) int {
	n := 5 // the Sync after them
	for _, q := range b.QueuedQueries {
		n += 96 + len(q.Arguments)*6 // Bind, Describe and Execute: headers, the statement's name, formats and lengths
		for _, a := range q.Arguments {
			n += argBytes(a)
		}
	}
	return n
}

func argBytes(a any) int {
	const header = 20 // an array's dimensions, flags, element type, length and bound
	switch v := a.(type) {
	case string:
		return len(v)
	case []byte:
		return len(v)
	case json.RawMessage:
		return len(v)
	case []string:
		n := header
		for _, s := range v {
			n += 4 + len(s)
		}
		return n
	case []*string:
		n := header
		for _, s := range v {
			n += 4
			if s != nil {
				n += len(*s)
			}
		}
		return n
	case [][]byte:
		n := header
		for _, s := range v {
			n += 4 + len(s)
		}
		return n
	case []int64:
		return header + 12*len(v)
	case []*int64:
		return header + 12*len(v)
	case []int32:
		return header + 8*len(v)
	case []*int32:
		return header + 8*len(v)
	case []time.Time:
		return header + 12*len(v)
	case []*time.Time:
		return header + 12*len(v)
	case []bool:
		return header + 5*len(v)
	}
	return 16
}

// reserve is a message of no bytes whose encoding grows the buffer it is
// appended to by its value: sent to a pgproto3.Frontend, it writes nothing
// to PostgreSQL.
type reserve int

func (reserve) Frontend() {}

func (r reserve) Encode(dst []byte) ([]byte, error) { return slices.Grow(dst, int(r)), nil }

func (reserve) Decode([]byte) error { return errors.New("ledger: reserve is never read") }
