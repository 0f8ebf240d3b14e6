package loyalty

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/ledger"
)

// ExpiryChunk is how many customers one expiry transaction covers.
const ExpiryChunk = 500

// ExpiryReport is what an expiry run did.
type ExpiryReport struct {
	AsOf      time.Time `json:"as_of"`
	Customers int       `json:"customers"`
	Points    int64     `json:"points,string"`
	Chunks    int       `json:"chunks"`
}

// Expire posts, per customer, one entry expiring every remaining point of
// the lots that expire at or before asOf. It works through customers in
// chunks of ExpiryChunk, each its own transaction, in bounded memory: an
// interrupted run leaves whole chunks done, and running again (or twice)
// posts only what is still unexpired. progress, if not nil, hears after
// each chunk.
func (s *Service) Expire(ctx context.Context, asOf time.Time, actor string, progress func(ExpiryReport)) (ExpiryReport, error) {
	rep := ExpiryReport{AsOf: asOf}
	meta, _ := json.Marshal(map[string]any{"as_of": asOf})
	after := ""
	for {
		var codes []string
		rows, err := s.ledger.Pool().Query(ctx, `SELECT a.code FROM accounts a
WHERE a.code > $1 AND a.asset = 'PTS' AND NOT a.allow_negative
  AND EXISTS (SELECT 1 FROM points_lots l WHERE l.account_id = a.id AND l.remaining > 0 AND l.expires_at <= $2)
ORDER BY a.code LIMIT $3`, after, asOf, ExpiryChunk)
		if err != nil {
			return rep, err
		}
		if codes, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			return rep, err
		}
		if len(codes) == 0 {
			return rep, nil
		}
		var customers int
		var points int64
		err = s.ledger.InTx(ctx, func(tx *ledger.Tx) error {
			customers, points = 0, 0
			effective := asOf
			if now := tx.Now(); effective.After(now) {
				effective = now // an early run: the points go now
			}
			for _, code := range codes {
				// Lock the account (as every posting does) before reading
				// what its lots hold, so nothing draws on them meanwhile.
				// (Two statements: at READ COMMITTED the sum must be read
				// after the lock is granted, in a snapshot that follows it.)
				var accountID, expiring int64
				if err := tx.QueryRow(ctx, `SELECT b.account_id FROM balance_buckets b JOIN accounts a ON a.id = b.account_id
WHERE a.code = $1 AND b.bucket = 0 FOR UPDATE OF b`, code).Scan(&accountID); err != nil {
					return err
				}
				if err := tx.QueryRow(ctx, `SELECT coalesce(sum(remaining), 0) FROM points_lots
WHERE account_id = $1 AND remaining > 0 AND expires_at <= $2`, accountID, asOf).Scan(&expiring); err != nil {
					return err
				}
				if expiring == 0 {
					continue
				}
				amount := decimal.NewFromInt(expiring)
				if _, err := tx.Post(ctx, ledger.EntryInput{Kind: "expiry", EffectiveAt: effective, Actor: actor,
					Reason: "points expired", Metadata: meta, Postings: []ledger.PostingInput{
						{Account: code, Amount: amount.Neg(), ExpiringBy: &asOf},
						{Account: "platform:points:expired", Amount: amount},
					}}); err != nil {
					return err
				}
				customers++
				points += expiring
			}
			return nil
		})
		if err != nil {
			return rep, err
		}
		rep.Customers += customers
		rep.Points += points
		rep.Chunks++
		if progress != nil {
			progress(rep)
		}
		after = codes[len(codes)-1]
	}
}

// ExpiringPoints are points that expire on one day.
type ExpiringPoints struct {
	Date      string    `json:"date"` // the day they expire at its start, in the rules' time zone
	ExpiresAt time.Time `json:"expires_at"`
	Points    int64     `json:"points,string"`
}

// Expiring lists the customer's points that expire within the next days,
// grouped by expiry date, soonest first.
//
// Errors: fault.UnknownCustomer.
func (s *Service) Expiring(ctx context.Context, customerID string, within time.Duration) ([]ExpiringPoints, error) {
	out := []ExpiringPoints{}
	err := s.ledger.InTx(ctx, func(tx *ledger.Tx) error {
		now := tx.Now()
		if _, err := customer(ctx, tx, customerID, false); err != nil {
			return err
		}
		rs, err := s.rulesAt(ctx, tx, now)
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT l.expires_at, sum(l.remaining) FROM points_lots l
JOIN accounts a ON a.id = l.account_id
WHERE a.code = $1 AND l.remaining > 0 AND l.expires_at > $2 AND l.expires_at <= $3
GROUP BY l.expires_at ORDER BY l.expires_at`, ledger.CustomerAccount(customerID, "points"), now, now.Add(within))
		if err != nil {
			return err
		}
		groups, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (ExpiringPoints, error) {
			var e ExpiringPoints
			err := row.Scan(&e.ExpiresAt, &e.Points)
			return e, err
		})
		if err != nil {
			return err
		}
		out = out[:0]
		for _, g := range groups {
			// Lots expire at midnight starting a day; group by that day.
			g.Date = g.ExpiresAt.In(rs.Location()).Format("2006-01-02")
			if n := len(out); n > 0 && out[n-1].Date == g.Date {
				out[n-1].Points += g.Points
				continue
			}
			g.ExpiresAt = g.ExpiresAt.UTC()
			out = append(out, g)
		}
		return nil
	})
	return out, err
}
