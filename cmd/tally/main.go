// Command tally is the Tally service and its operator tools in one binary.
//
//	tally serve                   run the HTTP API (applies pending migrations first)
//	tally migrate up|down|version|force N manage the database schema
//	tally keys create|list|revoke manage API keys
//	tally expire [--as-of T] [--dry-run]  expire points lots due by T (or preview)
//	tally expire undo --run ID --reason R undo an expiry run
//	tally notices [--as-of T]      write the notices due by T (points expiring, ...)
//	tally reconcile               check every invariant; announce a failure
//	tally webhooks prune [--keep D]  delete the webhook delivery log older than D
//	tally verify [--seq N --digest D]  walk the tamper-evident chain
//	tally devdb start|stop|url    the project-local PostgreSQL cluster (make run/test)
//	tally devdb ha start|stop|status  the project-local replicated cluster (make ha)
//
// Configuration comes from the environment (DATABASE_URL, TALLY_ADDR, ...:
// `tally --help` lists every variable).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(exitCode(run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr), os.Stderr))
}

// exitCode tells stderr what err was and answers the exit status: 0
// without an error, 2 for a command line that cannot run (the whole usage
// when the command itself was missing or unknown, a pointer to it
// otherwise), 1 for any other error.
func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	fmt.Fprintln(stderr, "tally:", err)
	var u usageError
	if !errors.As(err, &u) {
		return 1
	}
	if u.whole {
		fmt.Fprint(stderr, usage)
	} else {
		fmt.Fprintln(stderr, "(tally --help lists every command and variable)")
	}
	return 2
}

const usage = `usage: tally <command> [arguments]

commands:
  serve                         run the HTTP API; applies pending migrations first
  migrate up|down|version       manage the database schema (down reverts one step)
  migrate force N               mark the schema clean at version N, running nothing
                                (after a failed migration was put right by hand)
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
  notices [--as-of T]           write the notices due by T (default now; never later
                                than now plus 5 minutes): points.expiring, the month
                                turn's customer.tier_changed downgrades,
                                referral.bonus_available; each once only, safe to rerun
  reconcile                     check every invariant; a failure is announced
                                (reconciliation.failed) and exits 1
  webhooks prune [--keep D]     delete the webhook delivery log older than D (a Go
                                duration, at least 168h; default $TALLY_WEBHOOK_LOG_KEEP,
                                else 720h): attempts, and deliveries settled (delivered
                                or failed); what is pending stays; safe to interrupt
                                and rerun
  verify [--seq N --digest HEX]
                                walk the tamper-evident chain (progress on stderr) and
                                name the first broken link; with a head kept elsewhere
                                (GET /v1/audit/head), check the chain still holds it
  devdb start|stop|url [--dir D] [--fast]
                                the project-local PostgreSQL cluster
  devdb ha start|stop|status [--dir D]
                                the project-local replicated cluster (pg_auto_failover:
                                a monitor, a primary, two synchronous standbys); start
                                prints DATABASE_URL and TALLY_READ_DATABASE_URL to export

environment:
  DATABASE_URL        PostgreSQL URL; unset: a project-local cluster under $TALLY_DATA_DIR/pg
  TALLY_ADDR          listen address (default 127.0.0.1:8080)
  TALLY_ADMIN_KEY     make sure an admin key with this value exists at start
  TALLY_LOG_LEVEL     debug, info (default), warn or error
  TALLY_DATA_DIR      where the project-local cluster lives (default .data)
  TALLY_EVENT_WRITERS how many groups of partner events are written at once (default 2)
  TALLY_PPROF_ADDR    serve Go's pprof on this separate address (default off)
  TALLY_PUBLIC_URL    scheme and host the pages are reached at, for portal links and
                      the pages' origin check (default: the request's own)
  TALLY_READ_DATABASE_URL  standbys (one or several hosts) that serve balance reads,
                      statements, catalogue views and reports (default none)
  TALLY_READ_MAX_LAG  a standby lagging more leaves the rotation (default 2s)
  TALLY_READ_WAIT     how long a read with a consistency token waits for a standby
                      to replay that far before the primary serves it (default 250ms)
  TALLY_NOTICES_EVERY   serve runs the notice jobs at start, then this often
                        (default 15m; 0: never)
  TALLY_RECONCILE_EVERY serve runs the reconciliation this often (default 24h; 0: never)
  TALLY_WEBHOOK_HOSTS   hosts webhook endpoints may be on, comma-separated (default none)
  TALLY_WEBHOOK_ALLOW_LOOPBACK  1: webhooks may reach loopback and private addresses
  TALLY_WEBHOOK_TIMEOUT how long one webhook request may take, at most 5m (default 10s)
  TALLY_WEBHOOK_LOG_KEEP how long the webhook delivery log is kept, at least 168h;
                        serve prunes it at start, then hourly (default 720h; 0: forever)
  TALLY_SEAL_INTERVAL   serve seals committed entries into the chain this often
                        (default 1s; 0: never, and verify covers what was sealed)
`

// helpOf is what the usage says of command, each of its lines (those
// that name it, with the lines that go on from them), and where the rest
// is; the whole usage for a command it does not name.
func helpOf(command string) string {
	var b strings.Builder
	in := false
	for _, line := range strings.Split(usage, "\n") {
		switch {
		case strings.HasPrefix(line, "  "+command+" ") || line == "  "+command:
			in = true
		case !strings.HasPrefix(line, "    "):
			in = false
		}
		if in {
			b.WriteString(line + "\n")
		}
	}
	if b.Len() == 0 {
		return usage
	}
	return "usage:\n" + b.String() + "(tally --help lists every command and variable)\n"
}

// boolFlags are the commands' flags that take no value: after any other
// flag, the next argument is its value, whatever it reads.
var boolFlags = []string{"dry-run", "fast"}

// asksForHelp reports whether -h, -help or --help is on the line where a
// flag may stand: not as the value of the flag before it (a reason, a
// key's name, a customer id may be "-h", as the flag package reads them),
// nor after "--".
func asksForHelp(args []string) bool {
	valueNext := false
	for _, a := range args {
		if valueNext {
			valueNext = false
			continue
		}
		switch {
		case a == "--":
			return false
		case a == "-h" || a == "-help" || a == "--help":
			return true
		case strings.HasPrefix(a, "-") && len(a) > 1 && !strings.Contains(a, "="):
			valueNext = !slices.Contains(boolFlags, strings.TrimLeft(a, "-"))
		}
	}
	return false
}

// usageError is a command line the program cannot run: its message says
// how the command is used; whole, the command itself was missing or
// unknown, and the whole usage is shown.
type usageError struct {
	msg   string
	whole bool
}

func (u usageError) Error() string { return u.msg }

// run is the whole program, callable from tests with its own arguments,
// environment and streams.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{msg: "no command", whole: true}
	}
	env := environment{getenv: getenv, stdout: stdout, stderr: stderr}
	// Help asked anywhere on the line answers it, and runs nothing.
	if asksForHelp(args) {
		fmt.Fprint(stdout, helpOf(args[0]))
		return nil
	}
	switch args[0] {
	case "serve":
		return serve(ctx, env, args[1:])
	case "migrate":
		return migrateCmd(ctx, env, args[1:])
	case "keys":
		return keysCmd(ctx, env, args[1:])
	case "expire":
		return expireCmd(ctx, env, args[1:])
	case "notices":
		return noticesCmd(ctx, env, args[1:])
	case "reconcile":
		return reconcileCmd(ctx, env, args[1:])
	case "webhooks":
		return webhooksCmd(ctx, env, args[1:])
	case "verify":
		return verifyCmd(ctx, env, args[1:])
	case "devdb":
		return devdbCmd(ctx, env, args[1:])
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	return usageError{msg: fmt.Sprintf("unknown command %q", args[0]), whole: true}
}
