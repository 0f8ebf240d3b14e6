package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/tally-ledger/tally/internal/pgdev"
)

// devdbHA manages the project-local replicated cluster (pg_auto_failover:
// a monitor, a primary and two standbys): `start` prints the URLs to
// export, `stop` stops it keeping its data, `status` shows the nodes.
func devdbHA(ctx context.Context, env environment, args []string) error {
	const use = "devdb ha start|stop|status [--dir D]"
	if len(args) == 0 {
		return usageError{msg: use}
	}
	fs := flag.NewFlagSet("devdb ha", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	dir := fs.String("dir", env.get("TALLY_DATA_DIR", ".data")+"/ha", "directory of the cluster")
	if err := fs.Parse(args[1:]); err != nil || fs.NArg() > 0 {
		return usageError{msg: use}
	}
	h, err := pgdev.OpenHA(*dir, pgdev.Options{Log: func(f string, a ...any) { fmt.Fprintf(env.stderr, "tally: "+f+"\n", a...) }})
	if err != nil {
		return err
	}
	switch args[0] {
	case "start":
		write, read, err := h.Start(ctx, "tally")
		if err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "export DATABASE_URL='%s'\nexport TALLY_READ_DATABASE_URL='%s'\n", write, read)
		return nil
	case "stop":
		return h.Stop()
	case "status":
		out, err := h.Status()
		if err != nil {
			return err
		}
		fmt.Fprint(env.stdout, out)
		return nil
	}
	return usageError{msg: fmt.Sprintf("unknown devdb ha command %q", args[0])}
}
