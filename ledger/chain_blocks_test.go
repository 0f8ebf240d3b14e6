package ledger_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-ledger/tally/ledger"
)

// The tests of SealAll with a backlog come first in the package: a
// SealAll that never stops while its blocks are short would hang every
// test that seals less than a block, before these could fail.

// One SealAll links a backlog of more than a block: a full block, then
// the rest, each a block of its own.
func TestSealAllLinksMoreThanABlockInOneCall(t *testing.T) {
	l, pool := newLedger(t)
	n := ledger.SealBlock + 1
	postInOneTransaction(t, l, n)
	if sealed := sealAllOnce(t, l); sealed != n {
		t.Fatalf("SealAll linked %d of the %d entries committed, want all", sealed, n)
	}
	wantHead(t, l, int64(n))
	wantBlocks(t, pool, [][3]int64{{1, 1, int64(ledger.SealBlock)}, {2, int64(n), int64(n)}})
}

// A backlog of exactly a block is linked by one SealAll as one block: the
// pass after the full block finds nothing and records no block.
func TestSealAllLinksExactlyABlockAsOneBlock(t *testing.T) {
	l, pool := newLedger(t)
	n := ledger.SealBlock
	postInOneTransaction(t, l, n)
	if sealed := sealAllOnce(t, l); sealed != n {
		t.Fatalf("SealAll linked %d of the %d entries committed, want all", sealed, n)
	}
	wantHead(t, l, int64(n))
	wantBlocks(t, pool, [][3]int64{{1, 1, int64(n)}})
}

// Successive seals make blocks 1, 2, 3, each covering the links that
// follow the previous block's, its head the link of its last entry, and
// every link names its block.
func TestSealNumbersItsBlocksOneAfterAnother(t *testing.T) {
	l, pool := newLedger(t)
	ctx := context.Background()
	var order []int64 // the entries, in the order posted
	for _, k := range []int{2, 3, 1} {
		// One transaction per block: its entries are sealed together or
		// not at all.
		err := l.InTx(ctx, func(tx *ledger.Tx) error {
			for i := range k {
				e, err := tx.Post(ctx, earn("C1", fmt.Sprint(i+1)))
				if err != nil {
					return err
				}
				order = append(order, e.ID)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if sealed := sealCommitted(t, l); sealed != k {
			t.Fatalf("sealed %d, want the %d just posted", sealed, k)
		}
	}
	wantBlocks(t, pool, [][3]int64{{1, 1, 2}, {2, 3, 5}, {3, 6, 6}})
	wantBlock := []int64{1, 1, 2, 2, 2, 3}
	rows, _ := pool.Query(ctx, `SELECT seq, entry_id, block FROM chain_links ORDER BY seq`)
	links, err := pgx.CollectRows(rows, pgx.RowToStructByPos[struct{ Seq, Entry, Block int64 }])
	if err != nil {
		t.Fatal(err)
	}
	if len(links) != len(order) {
		t.Fatalf("%d links, want %d", len(links), len(order))
	}
	for i, k := range links {
		if k.Seq != int64(i+1) || k.Entry != order[i] || k.Block != wantBlock[i] {
			t.Errorf("link %d = seq %d, entry %d, block %d; want seq %d, entry %d, block %d",
				i+1, k.Seq, k.Entry, k.Block, i+1, order[i], wantBlock[i])
		}
	}
	if v := verify(t, l, nil); !v.OK || v.Checked != 6 {
		t.Fatalf("verify = ok %v, %d checked, broken %+v; want 6 links", v.OK, v.Checked, v.Broken)
	}
}

// postInOneTransaction posts n earnings in one transaction, so that the
// horizon lets all of them be sealed or none.
func postInOneTransaction(t *testing.T, l *ledger.Ledger, n int) {
	t.Helper()
	ctx := context.Background()
	err := l.InTx(ctx, func(tx *ledger.Tx) error {
		ins := make([]ledger.EntryInput, n)
		for i := range ins {
			ins[i] = earn(fmt.Sprintf("C%d", i%40), "2")
		}
		return tx.PostMany(ctx, ins, nil, nil)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// sealAllOnce answers what the first SealAll that links anything links:
// SealAll finds nothing while a transaction the horizon counts is in
// flight (autovacuum's, say).
func sealAllOnce(t *testing.T, l *ledger.Ledger) int {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) { // no signal tells when another transaction ends
		n, err := l.SealAll(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return n
		}
		if time.Now().After(deadline) {
			t.Fatal("nothing sealed after 30s")
		}
	}
}

func wantHead(t *testing.T, l *ledger.Ledger, seq int64) {
	t.Helper()
	head, err := l.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if head == nil || head.Seq != seq || head.Unsealed != 0 {
		t.Fatalf("head %+v, want link %d with nothing unsealed", head, seq)
	}
}

// wantBlocks checks chain_blocks against want's (id, first_seq, last_seq),
// and each block's head against the link of its last seq.
func wantBlocks(t *testing.T, pool *pgxpool.Pool, want [][3]int64) {
	t.Helper()
	ctx := context.Background()
	rows, _ := pool.Query(ctx, `SELECT b.id, b.first_seq, b.last_seq, b.head, c.link
FROM chain_blocks b LEFT JOIN chain_links c ON c.seq = b.last_seq ORDER BY b.first_seq`)
	type block struct {
		ID, First, Last int64
		Head, Link      []byte
	}
	got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[block])
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d blocks, want %d: %v", len(got), len(want), want)
	}
	for i, b := range got {
		if w := want[i]; b.ID != w[0] || b.First != w[1] || b.Last != w[2] {
			t.Errorf("block %d: id %d, seqs %d to %d; want id %d, seqs %d to %d", i+1, b.ID, b.First, b.Last, w[0], w[1], w[2])
		}
		if !bytes.Equal(b.Head, b.Link) {
			t.Errorf("block %d: head %x, link %d is %x", i+1, b.Head, b.Last, b.Link)
		}
	}
}
