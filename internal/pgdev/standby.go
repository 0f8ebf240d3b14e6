package pgdev

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"
)

// Standby makes dir a streaming (asynchronous) standby of c, the primary,
// with pg_basebackup, and starts it on a port of its own. It replaces
// what dir held. The benchmark reads from it.
func (c *Cluster) Standby(ctx context.Context, dir string) (*Cluster, error) {
	s, err := Open(dir, c.opts)
	if err != nil {
		return nil, err
	}
	if err := s.Stop(); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if err := os.RemoveAll(s.Dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return nil, err
	}
	if err := c.chownToServerUser(s.Dir); err != nil {
		return nil, err
	}
	primary, err := c.URL("postgres")
	if err != nil {
		return nil, err
	}
	c.opts.Log("cloning %s into a standby in %s", c.Dir, s.Dir)
	if err := c.run(filepath.Join(c.bin, "pg_basebackup"), "-D", s.Dir, "-R", "-X", "stream", "-c", "fast", "-d", primary); err != nil {
		return nil, fmt.Errorf("pg_basebackup: %w", err)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(s.Dir, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return nil, err
	}
	if _, err := fmt.Fprintf(f, "\n# a standby of %s\nport = %d\nhot_standby = on\n", c.Dir, port); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	if err := s.pgctl("start", "-w", "-t", "60", "-l", filepath.Join(s.Dir, "server.log")); err != nil {
		return nil, fmt.Errorf("start the standby (see %s): %w", filepath.Join(s.Dir, "server.log"), err)
	}
	// Answering, and in recovery.
	url, err := s.URL("postgres")
	if err != nil {
		return nil, err
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		conn, err := pgx.Connect(ctx, url)
		if err == nil {
			var recovery bool
			err = conn.QueryRow(ctx, `SELECT pg_is_in_recovery()`).Scan(&recovery)
			conn.Close(ctx)
			if err == nil && recovery {
				return s, nil
			}
			if err == nil {
				err = errors.New("not in recovery")
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("standby in %s: %w", s.Dir, err)
		}
	}
}
