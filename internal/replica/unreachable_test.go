package replica

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-ledger/tally/internal/testdb"
)

// TestAnUnreachableStandbysStatusNamesNoRoleDatabaseOrError: a standby
// that does not answer is reported, in the Status /readyz shows anyone,
// as unreachable without the driver's error (which names the role, the
// database and the address it dialled); OnUnreachable hears that error
// once while the standby stays unreachable.
func TestAnUnreachableStandbysStatusNamesNoRoleDatabaseOrError(t *testing.T) {
	ctx := context.Background()
	primary := testdb.Pool(t)
	cfg, err := pgxpool.ParseConfig("postgres://secret_role:pw@127.0.0.1:1/secret_db?sslmode=disable&connect_timeout=1")
	if err != nil {
		t.Fatal(err)
	}
	standby, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(standby.Close)
	s := New(primary, []*pgxpool.Pool{standby}, time.Second, 0)
	var heard []string
	s.OnUnreachable = func(name string, err error) { heard = append(heard, name+": "+err.Error()) }
	s.Refresh(ctx)
	s.Refresh(ctx)
	st := s.Statuses()
	if len(st) != 1 || st[0].InRotation || st[0].Error != unreachable {
		t.Fatalf("statuses %+v, want one out of rotation, error %q", st, unreachable)
	}
	for _, leak := range []string{"secret_role", "secret_db", "dial", "refused"} {
		if strings.Contains(st[0].Error, leak) {
			t.Errorf("the status's error %q holds %q", st[0].Error, leak)
		}
	}
	if len(heard) != 1 || !strings.Contains(heard[0], "secret_db") {
		t.Errorf("OnUnreachable heard %q, want the driver's error once", heard)
	}
}
