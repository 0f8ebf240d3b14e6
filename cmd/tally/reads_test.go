package main

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-ledger/tally/internal/testdb"
)

// TestReadPoolLetsAsManyReadsInAsThePrimarys: a standby's pool, which
// serves the balance reads, lets poolFloor requests use the database at
// once, as the primary's does. pgx's default size, the number of cores,
// made the eighth of 8 concurrent reads on 2 cores wait for a connection.
func TestReadPoolLetsAsManyReadsInAsThePrimarys(t *testing.T) {
	url := testdb.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	env := environment{getenv: getenv(map[string]string{"TALLY_READ_DATABASE_URL": url})}
	primary, err := env.pool(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer primary.Close()
	reads, closeReads, err := env.reads(ctx, primary, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer closeReads()
	for name, pool := range map[string]*pgxpool.Pool{"primary": primary, "standby": reads.Set.Nodes[0].Pool} {
		var held []*pgxpool.Conn
		for i := range poolFloor {
			actx, acancel := context.WithTimeout(ctx, 5*time.Second)
			c, err := pool.Acquire(actx)
			acancel()
			if err != nil {
				t.Errorf("%s pool: connection %d of %d held at once: %v", name, i+1, poolFloor, err)
				break
			}
			held = append(held, c)
		}
		for _, c := range held {
			c.Release()
		}
	}
}
