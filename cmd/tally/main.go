// Command tally is the Tally service and its operator tools in one binary.
//
//	tally serve                   run the HTTP API (applies pending migrations first)
//	tally migrate up|down|version manage the database schema
//	tally keys create|list|revoke manage API keys
//	tally expire [--as-of T] [--dry-run]  expire points lots due by T (or preview)
//	tally expire undo --run ID --reason R undo an expiry run
//	tally verify [--seq N --digest D]  walk the tamper-evident chain
//	tally devdb start|stop|url    the project-local PostgreSQL cluster (make run/test)
//
// Configuration comes from the environment: DATABASE_URL, TALLY_ADDR,
// TALLY_ADMIN_KEY, TALLY_LOG_LEVEL, TALLY_DATA_DIR, TALLY_SEAL_INTERVAL.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr); err != nil {
		var u usageError
		if errors.As(err, &u) {
			fmt.Fprintln(os.Stderr, "tally:", err)
			fmt.Fprint(os.Stderr, usage)
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "tally:", err)
		os.Exit(1)
	}
}

const usage = `usage: tally <command> [arguments]

commands:
  serve                         run the HTTP API; applies pending migrations first
  migrate up|down|version       manage the database schema (down reverts one step)
  keys create --role R [--customer ID] --name N
                                create an API key and print it alone on stdout; a
                                partner key founds a new partner, its id on stderr
  keys create --partner ID --name N
                                add a key to partner ID (same event and other ids)
  keys list                     list API keys (never their secrets)
  keys revoke ID                revoke an API key
  expire [--as-of T] [--dry-run]
                                expire the points lots due by T (RFC 3339; default now; never
                                later than now plus 5 minutes), in chunks that commit separately;
                                safe to interrupt and rerun; --dry-run lists what would expire
                                by T (T may then be later), writing nothing
  expire undo --run ID --reason R
                                undo an expiry run: its points back in their lots
  verify [--seq N --digest HEX]
                                walk the tamper-evident chain (progress on stderr) and
                                name the first broken link; with a head kept elsewhere
                                (GET /v1/audit/head), check the chain still holds it
  devdb start|stop|url [--dir D] [--fast]
                                the project-local PostgreSQL cluster

environment:
  DATABASE_URL        PostgreSQL URL; unset: a project-local cluster under $TALLY_DATA_DIR/pg
  TALLY_ADDR          listen address (default 127.0.0.1:8080)
  TALLY_ADMIN_KEY     make sure an admin key with this value exists at start
  TALLY_LOG_LEVEL     debug, info (default), warn or error
  TALLY_DATA_DIR      where the project-local cluster lives (default .data)
  TALLY_SEAL_INTERVAL how often serve seals committed entries into the chain (default 1s)
  TALLY_EVENT_WRITERS how many groups of partner events are written at once (default 2)
  TALLY_PPROF_ADDR    serve Go's pprof on this separate address (default off)
`

type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

// run is the whole program, callable from tests with its own arguments,
// environment and streams.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{"no command"}
	}
	env := environment{getenv: getenv, stdout: stdout, stderr: stderr}
	switch args[0] {
	case "serve":
		return serve(ctx, env, args[1:])
	case "migrate":
		return migrateCmd(ctx, env, args[1:])
	case "keys":
		return keysCmd(ctx, env, args[1:])
	case "expire":
		return expireCmd(ctx, env, args[1:])
	case "verify":
		return verifyCmd(ctx, env, args[1:])
	case "devdb":
		return devdbCmd(ctx, env, args[1:])
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	return usageError{fmt.Sprintf("unknown command %q", args[0])}
}
