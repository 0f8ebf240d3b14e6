package replica

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// TestATokenAtAPageBoundaryIsReachedByTheStandby: when the last WAL record
// before a write's token is read ends exactly at a WAL page's end (about
// one commit in a thousand: records are 8-byte aligned in 8 kB pages),
// pg_current_wal_insert_lsn() answers the position after the next page's
// header (page + 24; + 40 at a segment's start), where no record ends,
// while a standby that replayed everything reports the page's end
// (pg_last_wal_replay_lsn(), a record's end). Until the primary writes
// more WAL, no standby ever reaches that token: every read presenting it
// polls the standbys for Wait and goes to the primary. The standby holds
// the write, and must serve it.
func TestATokenAtAPageBoundaryIsReachedByTheStandby(t *testing.T) {
	ctx := context.Background()
	primaryURL, standbyURL := streamingStandby(t, "pgpageboundary")
	primary, err := pgxpool.New(ctx, primaryURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(primary.Close)
	standby, err := pgxpool.New(ctx, standbyURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(standby.Close)
	if _, err := primary.Exec(ctx, `CREATE TABLE w (v int); INSERT INTO w VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	// Bring the WAL to end exactly at a page's end, as a commit record
	// sometimes does: a non-transactional logical message of the size left
	// on the page (header 24 + data header 2 or 5 + message header 24 +
	// prefix "t\0" + payload).
	lsnOf := func(q string) uint64 {
		t.Helper()
		var text string
		if err := primary.QueryRow(ctx, q).Scan(&text); err != nil {
			t.Fatal(err)
		}
		lsn, err := ParseLSN(text)
		if err != nil {
			t.Fatal(err)
		}
		return lsn
	}
	const page = 8192
	at := false
	for i := 0; i < 50 && !at; i++ {
		x := lsnOf(`SELECT pg_current_wal_insert_lsn()::text`)
		left := int(page - x%page)
		size := left - 52 // short data header: 26 + payload < 256
		if size >= 230 {
			size = left - 55
		}
		if size < 0 {
			size = 100 // too little left: fill it, try on the next page
		}
		if _, err := primary.Exec(ctx, `SELECT pg_logical_emit_message(false, 't', repeat('x', $1))`, size); err != nil {
			t.Fatal(err)
		}
		at = lsnOf(`SELECT pg_current_wal_insert_lsn()::text`)%page == 24
	}
	if !at {
		t.Skip("could not bring the WAL to a page's end (other WAL was written meanwhile)")
	}
	s := New(primary, []*pgxpool.Pool{standby}, 5*time.Second, 500*time.Millisecond)
	tok, err := s.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	flushed := lsnOf(`SELECT pg_current_wal_flush_lsn()::text`)
	// The standby replays everything the primary wrote.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		lsn, _, err := replayed(ctx, standby)
		if err != nil {
			t.Fatal(err)
		}
		if lsn >= flushed && flushed%page == 0 {
			t.Logf("token %s; the primary flushed to %s; the standby replayed to %s", FormatLSN(tok), FormatLSN(flushed), FormatLSN(lsn))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the standby replayed to %s, the primary flushed to %s", FormatLSN(lsn), FormatLSN(flushed))
		}
		flushed = lsnOf(`SELECT pg_current_wal_flush_lsn()::text`)
	}
	s.Refresh(ctx)
	start := time.Now()
	if n := s.Choose(ctx, tok); n == nil {
		t.Errorf("a read with the token %s went to the primary after %v: the standby, which holds every write before it, was never chosen",
			FormatLSN(tok), time.Since(start).Round(time.Millisecond))
	}
}
