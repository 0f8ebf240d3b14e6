package ledger_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-ledger/tally/ledger"
)

// recordingConn keeps a copy of each write to PostgreSQL.
type recordingConn struct {
	net.Conn
	mu     sync.Mutex
	writes [][]byte
}

func (c *recordingConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	c.writes = append(c.writes, bytes.Clone(b))
	c.mu.Unlock()
	return c.Conn.Write(b)
}

// last is the latest write.
func (c *recordingConn) last() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writes[len(c.writes)-1]
}

// groupLikeBatch is a batch of the shape of a group's: one statement per
// table, a column per array of every type the group writers send, n rows.
func groupLikeBatch(n int) *pgx.Batch {
	var (
		texts, jsons     []string
		opt              []*string
		hashes           [][]byte
		ids              []int64
		optIDs           []*int64
		versions         []int32
		optVersions      []*int32
		instants         []time.Time
		optInstants      []*time.Time
		flags            []bool
		at               = time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)
		payload          = `{"points":"12","channel":"volume","entry_id":` // varied lengths below
		customer, amount = "customer:C%d:points", "%d.%02d"
	)
	for i := range n {
		s := fmt.Sprintf(customer, i)
		texts, jsons = append(texts, s, fmt.Sprintf(amount, i, i%100)), append(jsons, payload+fmt.Sprint(i)+strings.Repeat(" ", i%50)+"}")
		if i%3 == 0 {
			opt, optIDs, optInstants = append(opt, nil), append(optIDs, nil), append(optInstants, nil)
		} else {
			id, t := int64(i), at.Add(time.Duration(i)*time.Second)
			opt, optIDs, optInstants = append(opt, &s), append(optIDs, &id), append(optInstants, &t)
		}
		hashes = append(hashes, bytes.Repeat([]byte{byte(i)}, 32))
		ids, versions = append(ids, int64(i)<<40), append(versions, int32(i))
		if v := int32(i); i%4 != 0 {
			optVersions = append(optVersions, &v)
		} else {
			optVersions = append(optVersions, nil)
		}
		instants, flags = append(instants, at.Add(-time.Duration(i)*time.Minute)), append(flags, i%2 == 0)
	}
	b := &pgx.Batch{}
	b.Queue(`SELECT count(*) FROM unnest($1::text[], $2::bigint[], $3::timestamptz[]) AS u (a, b, c) WHERE u.a <> $4`, texts, ids, instants, "x")
	b.Queue(`SELECT count(*) FROM unnest($1::json[], $2::bytea[], $3::int4[], $4::bool[], $5::int4[]) AS u (a, b, c, d, e)
WHERE $6::jsonb IS NOT NULL`, jsons, hashes, versions, flags, optVersions, json.RawMessage(`{"metadata":"`+strings.Repeat("m", n)+`"}`))
	b.Queue(`SELECT count(*) FROM unnest($1::text[], $2::bigint[], $3::timestamptz[]) AS u (a, b, c) WHERE $4::timestamptz IS NOT NULL`,
		opt, optIDs, optInstants, at)
	return b
}

// TestABatchIsEstimatedAtLeastWhatItWrites: the estimate a group's batch
// presizes the write buffer by covers what pgx writes of it (or the buffer
// grows again), and exceeds it by little (or the memory is wasted); and
// presizing writes nothing of its own: the batch's bytes on the wire are
// the same with it and without it.
func TestABatchIsEstimatedAtLeastWhatItWrites(t *testing.T) {
	ctx := context.Background()
	_, pool := newLedger(t)
	var rc *recordingConn
	one := onePool(t, pool, func(cfg *pgxpool.Config) {
		dial := cfg.ConnConfig.DialFunc
		cfg.ConnConfig.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dial(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			rc = &recordingConn{Conn: c}
			return rc, nil
		}
	})
	conn, err := one.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	send := func(b *pgx.Batch, presize bool) []byte {
		t.Helper()
		if presize {
			ledger.Presize(ctx, conn.Conn(), b)
		}
		br := conn.Conn().SendBatch(ctx, b)
		for range b.Len() {
			var n int64
			if err := br.QueryRow().Scan(&n); err != nil {
				t.Fatal(err)
			}
		}
		if err := br.Close(); err != nil {
			t.Fatal(err)
		}
		return rc.last()
	}
	for _, n := range []int{1, 8, 500, 5000} {
		send(groupLikeBatch(n), false) // prepares the statements: the sends below are one write each
		plain := send(groupLikeBatch(n), false)
		presized := send(groupLikeBatch(n), true)
		if !bytes.Equal(plain, presized) {
			t.Fatalf("%d rows: presizing changed what went to PostgreSQL: %d bytes, against %d without", n, len(presized), len(plain))
		}
		est, wrote := ledger.BatchBytes(groupLikeBatch(n)), len(plain)
		t.Logf("%d rows: %d bytes written, %d estimated", n, wrote, est)
		if est < wrote || est > wrote+wrote/8+1024 {
			t.Errorf("%d rows: estimated %d bytes for a batch of %d: want from %d to %d", n, est, wrote, wrote, wrote+wrote/8+1024)
		}
	}
}

// TestAGroupsBatchIsAllocatedAboutOnce: a batch sent in a ledger
// transaction (pipeTx) is encoded into a buffer grown once to its size,
// where pgx alone grows its buffer from 1 KB by a quarter at a time once
// large. Measured as the bytes the process allocates while the batch is
// sent and answered, presized and not: about 3 and 5 times the batch's
// own bytes (the arguments' encoding takes about twice them; all of it
// more under the race detector), so presizing saves at least half the
// batch's size.
func TestAGroupsBatchIsAllocatedAboutOnce(t *testing.T) {
	ctx := context.Background()
	_, pool := newLedger(t)
	l := ledger.New(onePool(t, pool, nil)) // one connection: the statements prepared once stay prepared
	const rows = 5000
	send := func() (allocated uint64) {
		t.Helper()
		err := l.InTx(ctx, func(tx *ledger.Tx) error {
			b := groupLikeBatch(rows)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			br := tx.Tx.SendBatch(ctx, b)
			for range b.Len() {
				var n int64
				if err := br.QueryRow().Scan(&n); err != nil {
					return err
				}
			}
			if err := br.Close(); err != nil {
				return err
			}
			runtime.ReadMemStats(&after)
			allocated = after.TotalAlloc - before.TotalAlloc
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return allocated
	}
	send() // prepares the statements, in a write of its own
	size := uint64(ledger.BatchBytes(groupLikeBatch(rows)))
	for range 3 {
		presized := send()
		from := ledger.PresizeFrom(t, 1<<62)
		plain := send()
		ledger.PresizeFrom(t, from)
		t.Logf("sending a batch of %d bytes allocated %d bytes presized, %d not", size, presized, plain)
		if presized+size/2 > plain {
			t.Fatalf("sending a batch of %d bytes allocated %d bytes presized, %d not: want at least %d fewer", size, presized, plain, size/2)
		}
	}
}

// TestPresizeLeavesAConnectionPgxClosedAlone: once a batch fails to encode
// an argument, pgx closes the connection, and a goroutine of its own writes
// the Terminate through the connection's Frontend; presizing it then would
// write the same buffer from another goroutine. Presize leaves it alone: the
// buffer pgx's goroutine leaves is not grown. (Found by review of 0634e53.)
func TestPresizeLeavesAConnectionPgxClosedAlone(t *testing.T) {
	ctx := context.Background()
	conn := ownConn(t)
	b := &pgx.Batch{}
	b.Queue(`SELECT 1`)
	b.Queue(`SELECT $1::text`, make(chan int)) // no encoding for it
	if err := conn.SendBatch(ctx, b).Close(); err == nil {
		t.Fatal("a batch with an argument pgx cannot encode succeeded")
	}
	if !conn.IsClosed() {
		t.Fatal("pgx kept the connection open after a batch failed to encode: the test needs another way to close it")
	}
	big := groupLikeBatch(5000)
	ledger.Presize(ctx, conn, big)
	<-conn.PgConn().CleanupDone() // pgx's goroutine has written the Terminate: the Frontend is the test's
	var p capProbe
	conn.PgConn().Frontend().Send(&p)
	if p.cap >= ledger.BatchBytes(big) {
		t.Fatalf("a closed connection's write buffer was grown to %d bytes", p.cap)
	}
}

// ownConn is a connection of the test's own, outside any pool, to a fresh
// ledger's database; it closes when the test ends.
func ownConn(t *testing.T) *pgx.Conn {
	t.Helper()
	ctx := context.Background()
	_, pool := newLedger(t)
	conn, err := pgx.Connect(ctx, pool.Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(ctx) })
	return conn
}

// capProbe is a message of no bytes that records the capacity of the
// buffer it is appended to.
type capProbe struct{ cap int }

func (*capProbe) Frontend() {}

func (p *capProbe) Encode(dst []byte) ([]byte, error) { p.cap = cap(dst); return dst, nil }

func (*capProbe) Decode([]byte) error { return nil }

// TestPresizeLeavesABatchWhoseContextEndedAlone: a batch whose context has
// ended is not written, and a buffer grown for it would stay the pooled
// connection's; one sent under a live context is presized.
func TestPresizeLeavesABatchWhoseContextEndedAlone(t *testing.T) {
	ctx := context.Background()
	conn := ownConn(t)
	big := groupLikeBatch(5000)
	ended, cancel := context.WithCancel(ctx)
	cancel()
	for _, c := range []struct {
		ctx   context.Context
		grown bool
	}{{ended, false}, {ctx, true}} {
		ledger.Presize(c.ctx, conn, big)
		var p capProbe
		conn.PgConn().Frontend().Send(&p)
		if grown := p.cap >= ledger.BatchBytes(big); grown != c.grown {
			t.Fatalf("context ended %v: write buffer of %d bytes, grown %v, want %v", c.ctx.Err() != nil, p.cap, grown, c.grown)
		}
	}
}
