package replica

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-ledger/tally/internal/testdb"
)

// TestAPromotedStandbysPoolLetsItsConnectionsGo: a standby that answers
// as a primary (promoted, or failed over to) is out of rotation, and the
// connections its pool holds are closed at once, not left idle on the new
// primary.
func TestAPromotedStandbysPoolLetsItsConnectionsGo(t *testing.T) {
	ctx := context.Background()
	url := testdb.New(t)
	primary, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer primary.Close()
	// The "standby" is the primary itself: it answers not in recovery, as
	// a standby does once promoted. Its pool has room for the 8 reads.
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 16
	standby, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer standby.Close()
	s := New(primary, []*pgxpool.Pool{standby}, time.Second, 0)
	n := s.Nodes[0]
	n.up = true // it served as a standby until now
	var held []*pgxpool.Conn
	for range 8 { // the reads it served left connections idle
		c, err := standby.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	for _, c := range held {
		c.Release()
	}
	if got := standby.Stat().TotalConns(); got != 8 {
		t.Fatalf("%d connections before the refresh, want 8", got)
	}
	s.Refresh(ctx)
	if n.up {
		t.Fatal("a node not in recovery is still up")
	}
	if got := standby.Stat().TotalConns(); got != 0 {
		t.Errorf("%d connections of the promoted node's pool left open after the refresh, want 0", got)
	}
}
