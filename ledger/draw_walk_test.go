package ledger_test

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tally-ledger/tally/ledger"
)

// A draw walks an account's lots only as far as it takes: from an account
// of 3,000 open lots, a spend of 25 points (three lots of 10) reads a few
// entries of the open-lots index, through draw_lots_many (a group's
// redemptions) and through draw_lots (a redemption alone), and takes 10,
// 10 and 5 from the three lots that expire first.
func TestADrawReadsOnlyTheLotsItTakesFrom(t *testing.T) {
	ctx := context.Background()
	l, pool := newLedger(t)
	now := time.Now()
	mustPost(t, l, earnLot("C1", "10", ledger.Lot{AvailableAt: now.Add(-time.Hour), ExpiresAt: now.AddDate(2, 0, 0)}))
	for _, call := range []string{
		`SELECT draw_lots_many(ARRAY['customer:C1:points'], ARRAY[currval('entries_id_seq')], ARRAY[25::bigint], now())`,
		`SELECT draw_lots('customer:C1:points', 25, NULL, NULL, now())`,
	} {
		name, _, _ := strings.Cut(strings.TrimPrefix(call, "SELECT "), "(")
		t.Run(name, func(t *testing.T) {
			tx, err := pool.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(ctx)
			// 3,000 lots of 10 points, expiring a minute apart from tomorrow
			// on, inserted in the reverse of their draw order (in the
			// transaction rolled back: the books hold no such credits).
			if _, err := tx.Exec(ctx, `INSERT INTO points_lots (account_id, entry_id, amount, remaining, available_at, expires_at)
SELECT a.id, 800000000 + g, 10, 10, now() - interval '1 hour', now() + interval '1 day' + (3000 - g) * interval '1 minute'
FROM accounts a, generate_series(1, 3000) g WHERE a.code = 'customer:C1:points'`); err != nil {
				t.Fatal(err)
			}
			var entry int64
			if err := tx.QueryRow(ctx, `INSERT INTO entries (kind, effective_at, request_hash, actor) VALUES ('redeem', now(), '\x00', 'test') RETURNING id`).Scan(&entry); err != nil {
				t.Fatal(err)
			}
			read := func() int64 {
				var n int64
				if err := tx.QueryRow(ctx, `SELECT sum(pg_stat_get_xact_tuples_returned(indexrelid)) FROM pg_index WHERE indrelid = 'points_lots'::regclass`).Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n
			}
			before := read()
			if _, err := tx.Exec(ctx, call); err != nil {
				t.Fatal(err)
			}
			if n := read() - before; n > 20 {
				t.Errorf("the draw of 25 points read %d index entries of points_lots, want at most 20 (three lots, and the probes' ends)", n)
			}
			var got []int64
			var last []time.Time
			rows, _ := tx.Query(ctx, `SELECT d.amount, l.expires_at FROM lot_draws d JOIN points_lots l ON l.id = d.lot_id
WHERE d.entry_id = $1 ORDER BY l.expires_at`, entry)
			var amount int64
			var expires time.Time
			if _, err := pgx.ForEachRow(rows, []any{&amount, &expires}, func() error {
				got, last = append(got, amount), append(last, expires)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			var first time.Time
			if err := tx.QueryRow(ctx, `SELECT min(expires_at) FROM points_lots l JOIN accounts a ON a.id = l.account_id
WHERE a.code = 'customer:C1:points' AND l.entry_id >= 800000000`).Scan(&first); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, []int64{10, 10, 5}) || len(last) != 3 || !last[0].Equal(first) {
				t.Errorf("drew %v from lots expiring %v, want 10, 10 and 5 from the three expiring first (%v)", got, last, first)
			}
		})
	}
}

// draw_lots_many, now walking the lots, takes what laying every open lot
// of each account end to end takes: random lots (some spent, some not yet
// available, some expired) on four accounts, random asks of them in one
// call, checked against the draws worked out in Go from the lots as they
// were. 200 rounds, each rolled back.
func TestDrawLotsManyTakesWhatTheWholeLineOfLotsGives(t *testing.T) {
	ctx := context.Background()
	l, pool := newLedger(t)
	now := time.Now().Truncate(time.Microsecond)
	codes := []string{"customer:W1:points", "customer:W2:points", "customer:W3:points", "customer:W4:points"}
	for _, c := range []string{"W1", "W2", "W3", "W4"} {
		mustPost(t, l, earnLot(c, "1", ledger.Lot{AvailableAt: now.Add(-time.Hour), ExpiresAt: now.AddDate(5, 0, 0)}))
	}
	type lot struct {
		id, account, remaining int64
		available, expires     time.Time
	}
	r := rand.New(rand.NewPCG(16, 30))
	for round := range 200 {
		t.Run(fmt.Sprint(round), func(t *testing.T) {
			tx, err := pool.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(ctx)
			// Lots: expiries on a coarse grid, so that some share an instant
			// and the id decides.
			var accts, remains []int64
			var avail, expire []time.Time
			for range 1 + r.IntN(40) {
				accts = append(accts, int64(r.IntN(len(codes))))
				remains = append(remains, int64(r.IntN(4)*r.IntN(30))) // zero often: spent
				avail = append(avail, now.Add(time.Duration(r.IntN(10)-8)*time.Hour))
				expire = append(expire, now.Add(time.Duration(r.IntN(12)-2)*24*time.Hour))
			}
			rows, err := tx.Query(ctx, `INSERT INTO points_lots (account_id, entry_id, amount, remaining, available_at, expires_at)
SELECT a.id, 700000000 + u.ord, greatest(u.remaining, 1), u.remaining, least(u.available, u.expires - interval '1 hour'), u.expires
FROM unnest($1::bigint[], $2::bigint[], $3::timestamptz[], $4::timestamptz[]) WITH ORDINALITY AS u (acct, remaining, available, expires, ord)
JOIN accounts a ON a.code = ($5::text[])[u.acct + 1]
ORDER BY u.ord
RETURNING id, account_id, remaining, available_at, expires_at`, accts, remains, avail, expire, codes)
			if err != nil {
				t.Fatal(err)
			}
			lots, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (lot, error) {
				var x lot
				return x, row.Scan(&x.id, &x.account, &x.remaining, &x.available, &x.expires)
			})
			if err != nil {
				t.Fatal(err)
			}
			// The seed lot of each account counts too.
			rows, _ = tx.Query(ctx, `SELECT l.id, l.account_id, l.remaining, l.available_at, l.expires_at FROM points_lots l
JOIN accounts a ON a.id = l.account_id WHERE a.code = ANY($1) AND l.entry_id < 700000000`, codes)
			seeds, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (lot, error) {
				var x lot
				return x, row.Scan(&x.id, &x.account, &x.remaining, &x.available, &x.expires)
			})
			if err != nil {
				t.Fatal(err)
			}
			lots = append(lots, seeds...)
			var accountOf = map[string]int64{}
			for _, c := range codes {
				var id int64
				if err := tx.QueryRow(ctx, `SELECT id FROM accounts WHERE code = $1`, c).Scan(&id); err != nil {
					t.Fatal(err)
				}
				accountOf[c] = id
			}
			// Asks: a few lines over the accounts, of entries made here.
			var askCodes []string
			var askEntries, askAmounts []int64
			for range 1 + r.IntN(6) {
				var e int64
				if err := tx.QueryRow(ctx, `INSERT INTO entries (kind, effective_at, request_hash, actor) VALUES ('redeem', now(), '\x00', 'test') RETURNING id`).Scan(&e); err != nil {
					t.Fatal(err)
				}
				askCodes = append(askCodes, codes[r.IntN(len(codes))])
				askEntries = append(askEntries, e)
				askAmounts = append(askAmounts, int64(1+r.IntN(60)))
			}

			// The reference: each account's open lots in draw order, end to
			// end; each line's stretch after the account's lines before it.
			want := map[[2]int64]int64{} // (entry, lot) -> points
			short := false
			byAccount := map[int64][]lot{}
			for _, x := range lots {
				if x.remaining > 0 && !x.available.After(now) && x.expires.After(now) {
					byAccount[x.account] = append(byAccount[x.account], x)
				}
			}
			for a := range byAccount {
				slices.SortFunc(byAccount[a], func(p, q lot) int {
					return cmp.Or(p.expires.Compare(q.expires), cmp.Compare(p.id, q.id))
				})
			}
			asked := map[int64]int64{}
			for i, c := range askCodes {
				a := accountOf[c]
				start, end := asked[a], asked[a]+askAmounts[i]
				asked[a] = end
				var took, at int64
				for _, x := range byAccount[a] {
					lo, hi := max(start, at), min(end, at+x.remaining)
					if hi > lo {
						want[[2]int64{askEntries[i], x.id}] += hi - lo
						took += hi - lo
					}
					at += x.remaining
				}
				if took < askAmounts[i] {
					short = true
				}
			}

			_, err = tx.Exec(ctx, `SELECT draw_lots_many($1, $2, $3, $4)`, askCodes, askEntries, askAmounts, now)
			if short {
				if err == nil || !strings.Contains(err.Error(), "lacks") {
					t.Fatalf("asks %v %v of lots %v: err %v, want a lack", askCodes, askAmounts, lots, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("asks %v %v of lots %v: %v", askCodes, askAmounts, lots, err)
			}
			got := map[[2]int64]int64{}
			rows, _ = tx.Query(ctx, `SELECT entry_id, lot_id, amount FROM lot_draws WHERE entry_id = ANY($1)`, askEntries)
			var e, lt, amt int64
			if _, err := pgx.ForEachRow(rows, []any{&e, &lt, &amt}, func() error {
				got[[2]int64{e, lt}] += amt
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(got, want) {
				t.Fatalf("asks %v %v of lots %v: drew %v, want %v", askCodes, askAmounts, lots, got, want)
			}
			// And each lot's remaining is what it had less what was drawn.
			for _, x := range lots {
				var drawn int64
				for k, v := range want {
					if k[1] == x.id {
						drawn += v
					}
				}
				var rem int64
				if err := tx.QueryRow(ctx, `SELECT remaining FROM points_lots WHERE id = $1`, x.id).Scan(&rem); err != nil {
					t.Fatal(err)
				}
				if rem != x.remaining-drawn {
					t.Fatalf("lot %d: %d remaining, want %d - %d", x.id, rem, x.remaining, drawn)
				}
			}
		})
	}
}
