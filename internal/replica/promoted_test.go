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
	// The "standby" is a database that answers not in recovery, as a
	// standby does once promoted.
	primary, standby := testdb.Pool(t), testdb.Pool(t)
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
