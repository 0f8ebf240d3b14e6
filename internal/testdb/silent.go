package testdb

import (
	"context"
	"net"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
)

// SilentPool is a pool on a listener that accepts connections and never
// answers: a PostgreSQL that hangs (a primary whose position cannot be
// read, a dropped network). Its connections are closed when the test ends.
func SilentPool(tb testing.TB) *pgxpool.Pool {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c) // never answered
		}
	}()
	p, err := pgxpool.New(context.Background(), "postgres://tally@"+ln.Addr().String()+"/x?sslmode=disable&connect_timeout=10")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(p.Close)
	return p
}
