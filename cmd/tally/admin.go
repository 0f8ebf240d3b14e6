package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/golang-migrate/migrate/v4"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/pgdev"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
	"github.com/tally-ledger/tally/migrations"
)

func migrateCmd(ctx context.Context, env environment, args []string) error {
	var force int
	switch {
	case len(args) == 2 && args[0] == "force":
		n, err := strconv.Atoi(args[1])
		vs, verr := migrations.Versions()
		if verr != nil {
			return verr
		}
		if err != nil || n < 1 || !slices.Contains(vs, uint(n)) {
			return usageError{msg: fmt.Sprintf("migrate force takes the version of a migration, from %d to %d", vs[0], vs[len(vs)-1])}
		}
		force = n
	case len(args) != 1 || !slices.Contains([]string{"up", "down", "version"}, args[0]):
		// Before the database: a mistyped command must not create or
		// start the local cluster only to be refused.
		return usageError{msg: "migrate takes one of up, down, version, force N"}
	}
	url, stopDB, err := env.database(ctx)
	if err != nil {
		return err
	}
	defer stopDB()
	// In its turn, as a server's migrations are: a migrator waiting for
	// golang-migrate's lock would deadlock with a migration that builds an
	// index CONCURRENTLY.
	return migrations.Exclusive(ctx, url, func() error {
		return migrateInTurn(env, url, args[0], force)
	})
}

// migrateInTurn runs the migrate command cmd on the database at url and
// prints the version it leaves.
func migrateInTurn(env environment, url, cmd string, force int) error {
	m, err := migrations.New(url)
	if err != nil {
		return err
	}
	defer m.Close()
	switch cmd {
	case "up":
		err = m.Up()
	case "down":
		err = m.Steps(-1)
	case "version":
	case "force":
		// What a failed migration left half done was put right by hand:
		// the schema is at version force, clean, and nothing runs. Only a
		// schema left dirty: forcing a clean one would make up run
		// migrations again over what they did.
		if _, dirty, verr := m.Version(); verr != nil || !dirty {
			return usageError{msg: "migrate force is for a schema a failed migration left dirty; this one is not"}
		}
		err = m.Force(force)
	default:
		return usageError{msg: fmt.Sprintf("unknown migrate command %q", cmd)}
	}
	if err != nil && !errors.Is(err, migrate.ErrNoChange) {
		return err
	}
	version, dirty, err := m.Version()
	if errors.Is(err, migrate.ErrNilVersion) {
		fmt.Fprintln(env.stdout, "version: none")
		return nil
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "version: %d dirty: %v\n", version, dirty)
	return nil
}

func keysCmd(ctx context.Context, env environment, args []string) error {
	if len(args) == 0 {
		return usageError{msg: "keys takes one of create, list, revoke"}
	}
	var run func(*ledger.Ledger) error
	switch args[0] {
	case "create":
		fs := flag.NewFlagSet("keys create", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		role := fs.String("role", "", "admin, partner, finance or customer")
		customer := fs.String("customer", "", "customer id, for --role customer")
		partner := fs.Int64("partner", 0, "an existing partner's id, for another key of that partner")
		name := fs.String("name", "", "what the key is for")
		const usage = "keys create --role R [--customer ID] --name N, or keys create --partner ID --name N"
		if err := fs.Parse(args[1:]); err != nil || fs.NArg() > 0 {
			return usageError{msg: usage}
		}
		if *partner != 0 && (*role != "" && *role != string(ledger.RolePartner) || *customer != "") {
			return usageError{msg: usage + ": --partner adds a partner key"}
		}
		// The secret alone goes to stdout (scripts capture it); the partner
		// a new partner key founded goes to stderr.
		run = func(l *ledger.Ledger) error {
			if *partner != 0 {
				secret, _, err := l.AddPartnerKey(ctx, *partner, *name)
				if err != nil {
					return err
				}
				fmt.Fprintln(env.stdout, secret)
				return nil
			}
			secret, k, err := l.CreateKey(ctx, *name, ledger.Role(*role), *customer)
			if err != nil {
				return err
			}
			fmt.Fprintln(env.stdout, secret)
			if k.CustomerID != "" {
				// A key may come before its customer's registration; a
				// mistyped id would open whoever registers under it later.
				err := l.ReadTx(ctx, func(tx *ledger.Tx) error {
					_, err := loyalty.ReadCustomer(ctx, tx, k.CustomerID)
					return err
				})
				if fault.CodeOf(err) == fault.UnknownCustomer {
					fmt.Fprintf(env.stderr, "note: no customer %s is registered yet: the key reads its accounts, and whoever registers as %s (check the id)\n",
						k.CustomerID, k.CustomerID)
				} else if err != nil {
					return err
				}
			}
			if k.PartnerID != 0 {
				fmt.Fprintf(env.stderr, "partner %d (add keys to it with keys create --partner %d)\n", k.PartnerID, k.PartnerID)
			}
			return nil
		}
	case "list":
		run = func(l *ledger.Ledger) error {
			keys, err := l.Keys(ctx)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tROLE\tCUSTOMER\tPARTNER\tNAME\tCREATED\tREVOKED")
			for _, k := range keys {
				revoked := ""
				if k.RevokedAt != nil {
					revoked = k.RevokedAt.Format("2006-01-02T15:04:05Z07:00")
				}
				partner := ""
				if k.PartnerID != 0 {
					partner = strconv.FormatInt(k.PartnerID, 10)
				}
				fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Role, k.CustomerID, partner, shownName(k.Name),
					k.CreatedAt.Format("2006-01-02T15:04:05Z07:00"), revoked)
			}
			return w.Flush()
		}
	case "revoke":
		if len(args) != 2 {
			return usageError{msg: "keys revoke ID"}
		}
		id, err := strconv.ParseInt(args[1], 10, 64)
		if err != nil {
			return usageError{msg: "keys revoke ID: ID is a number from keys list"}
		}
		run = func(l *ledger.Ledger) error { return l.RevokeKey(ctx, id) }
	default:
		return usageError{msg: fmt.Sprintf("unknown keys command %q", args[0])}
	}
	pool, _, closeDB, err := env.open(ctx)
	if err != nil {
		return err
	}
	defer closeDB()
	return run(ledger.New(pool))
}

// expireCmd runs the points expiry job, printing progress per chunk on
// stderr and the outcome on stdout; --dry-run previews it, and `expire undo`
// undoes a run.
func expireCmd(ctx context.Context, env environment, args []string) error {
	if len(args) > 0 && args[0] == "undo" {
		return expireUndoCmd(ctx, env, args[1:])
	}
	fs := flag.NewFlagSet("expire", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	asOf := fs.String("as-of", "", "expire the lots due by this instant (RFC 3339); default now")
	dryRun := fs.Bool("dry-run", false, "say what would expire, per customer, and write nothing")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		return usageError{msg: "expire [--as-of 2027-04-01T00:00:00+08:00] [--dry-run]"}
	}
	at := time.Now()
	if *asOf != "" {
		var err error
		if at, err = time.Parse(time.RFC3339, *asOf); err != nil {
			return usageError{msg: "--as-of must be an RFC 3339 time such as 2027-04-01T00:00:00+08:00"}
		}
	}
	pool, _, closeDB, err := env.open(ctx)
	if err != nil {
		return err
	}
	defer closeDB()
	svc := loyalty.New(pool, ledger.New(pool))
	if *dryRun {
		rep, err := svc.PreviewExpiry(ctx, at)
		if err != nil {
			return fmt.Errorf("expire --dry-run: %w", err)
		}
		for _, c := range rep.ByCustomer {
			fmt.Fprintf(env.stdout, "%s\t%d\n", c.CustomerID, c.Points)
		}
		more := ""
		if rep.Truncated {
			more = fmt.Sprintf(" (the first %d customers listed)", len(rep.ByCustomer))
		}
		fmt.Fprintf(env.stdout, "would expire %d points of %d customers as of %s%s; nothing written\n", rep.Points, rep.Customers,
			rep.AsOf.Format(time.RFC3339), more)
		return nil
	}
	start := time.Now()
	rep, err := svc.Expire(ctx, at, "tally expire", func(r loyalty.ExpiryReport) {
		fmt.Fprintf(env.stderr, "tally expire: run %d: chunk %d: %d customers, %d points so far (%s)\n",
			r.RunID, r.Chunks, r.Customers, r.Points, time.Since(start).Round(time.Millisecond))
	})
	if err != nil {
		return fmt.Errorf("expire (whole chunks done so far stay done; run again to finish): %w", err)
	}
	if rep.RunID == 0 {
		fmt.Fprintf(env.stdout, "nothing to expire as of %s\n", rep.AsOf.Format(time.RFC3339))
		return nil
	}
	fmt.Fprintf(env.stdout, "run %d expired %d points of %d customers as of %s in %d chunks\n", rep.RunID, rep.Points, rep.Customers,
		rep.AsOf.Format(time.RFC3339), rep.Chunks)
	return nil
}

// expireUndoCmd undoes an expiry run: `expire undo --run ID --reason R`.
func expireUndoCmd(ctx context.Context, env environment, args []string) error {
	fs := flag.NewFlagSet("expire undo", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	runID := fs.Int64("run", 0, "the run id an expiry run printed")
	reason := fs.String("reason", "", "why the run is undone (required)")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 || *runID <= 0 || strings.TrimSpace(*reason) == "" {
		return usageError{msg: "expire undo --run ID --reason \"why\""}
	}
	pool, _, closeDB, err := env.open(ctx)
	if err != nil {
		return err
	}
	defer closeDB()
	u, _, err := loyalty.New(pool, ledger.New(pool)).UndoExpiry(ctx, *runID, loyalty.UndoInput{Reason: *reason, Actor: "tally expire undo"})
	if err != nil {
		return fmt.Errorf("expire undo: %w", err)
	}
	fmt.Fprintf(env.stdout, "undid run %d (as of %s): %d points of %d customers restored to their lots\n", u.RunID,
		u.AsOf.Format(time.RFC3339), u.Points, u.Customers)
	return nil
}

// devdbCmd manages the project-local cluster for the Makefile: `start`
// prints the URL of its "tally" database.
func devdbCmd(ctx context.Context, env environment, args []string) error {
	if len(args) == 0 {
		return usageError{msg: "devdb takes one of start, stop, url, ha"}
	}
	if args[0] == "ha" {
		return devdbHA(ctx, env, args[1:])
	}
	fs := flag.NewFlagSet("devdb", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	dir := fs.String("dir", env.get("TALLY_DATA_DIR", ".data")+"/pg", "data directory")
	fast := fs.Bool("fast", false, "fsync off: for throwaway test clusters")
	db := fs.String("db", "tally", "database to create and print the URL of")
	if err := fs.Parse(args[1:]); err != nil || fs.NArg() > 0 {
		return usageError{msg: "devdb start|stop|url [--dir D] [--fast] [--db NAME]"}
	}
	c, err := pgdev.Open(*dir, pgdev.Options{Fast: *fast,
		Log: func(f string, a ...any) { fmt.Fprintf(env.stderr, "tally: "+f+"\n", a...) }})
	if err != nil {
		return err
	}
	switch args[0] {
	case "start":
		url, _, err := c.Ensure(ctx, *db)
		if err != nil {
			return err
		}
		fmt.Fprintln(env.stdout, url)
		return nil
	case "stop":
		return c.Stop()
	case "url":
		url, err := c.URL(*db)
		if err != nil {
			return err
		}
		fmt.Fprintln(env.stdout, url)
		return nil
	}
	return usageError{msg: fmt.Sprintf("unknown devdb command %q", args[0])}
}

// shownName is a key's name as keys list prints it: quoted when a rune of
// it would not show as itself (a key made before names were checked may
// hold a tab that breaks the columns, or an escape sequence that a
// terminal runs).
func shownName(name string) string {
	if strings.ContainsFunc(name, func(r rune) bool { return !strconv.IsPrint(r) }) {
		return strconv.Quote(name)
	}
	return name
}
