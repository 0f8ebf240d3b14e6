package main

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/tally-ledger/tally/ledger"
)

// errBroken is verify's failure: the chain and the books disagree.
var errBroken = errors.New("the chain is broken")

// verifyCmd walks the tamper-evident chain, with its progress on stderr,
// and names the first broken link; --seq and --digest check a head kept
// elsewhere too.
func verifyCmd(ctx context.Context, env environment, args []string) error {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	seq := fs.Int64("seq", 0, "the position of a head kept elsewhere (GET /v1/audit/head)")
	digest := fs.String("digest", "", "that head's digest, 64 hex digits")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 || (*seq == 0) != (*digest == "") {
		return usageError{msg: "verify [--seq N --digest HEX]"}
	}
	var expect *ledger.Expect
	if *seq != 0 {
		d, err := hex.DecodeString(*digest)
		if err != nil || len(d) != 32 || *seq < 1 {
			return usageError{msg: "--seq must be a link's position and --digest its 64 hex digits"}
		}
		expect = &ledger.Expect{Seq: *seq, Digest: d}
	}
	pool, _, closeDB, err := env.open(ctx)
	if err != nil {
		return err
	}
	defer closeDB()
	v, err := ledger.New(pool).Verify(ctx, expect, func(done, total int64) {
		fmt.Fprintf(env.stderr, "verify: %d of %d links checked\n", done, total)
	})
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	if b := v.Broken; b != nil {
		fmt.Fprintf(env.stdout, "broken at link %d, entry %d: %s: %s\n", b.Seq, b.EntryID, b.Problem, b.Detail)
		return errBroken
	}
	if v.Head == nil {
		fmt.Fprintln(env.stdout, "ok: nothing sealed yet")
		return nil
	}
	fmt.Fprintf(env.stdout, "ok: %d links; head link %d (entry %d) %s, sealed %s; %d entries not sealed yet\n",
		v.Checked, v.Head.Seq, v.Head.EntryID, v.Head.Digest, v.Head.SealedAt.UTC().Format("2006-01-02T15:04:05Z"), v.Head.Unsealed)
	return nil
}
