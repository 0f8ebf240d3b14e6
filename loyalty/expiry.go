package loyalty

import (
	"context"
	"encoding/json"
	"time"

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
		codes, err := s.ledger.ExpiringAccounts(ctx, asOf, after, ExpiryChunk)
		if err != nil {
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
				if err := tx.LockBalance(ctx, code); err != nil {
					return err
				}
				groups, err := tx.ExpiringLots(ctx, code, time.Time{}, asOf)
				if err != nil {
					return err
				}
				var expiring int64
				for _, g := range groups {
					expiring += g.Points
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
		groups, err := tx.ExpiringLots(ctx, ledger.CustomerAccount(customerID, "points"), now, now.Add(within))
		if err != nil {
			return err
		}
		out = out[:0]
		for _, g := range groups {
			// Lots expire at midnight starting a day; group by that day.
			date := g.ExpiresAt.In(rs.Location()).Format("2006-01-02")
			if n := len(out); n > 0 && out[n-1].Date == date {
				out[n-1].Points += g.Points
				continue
			}
			out = append(out, ExpiringPoints{Date: date, ExpiresAt: g.ExpiresAt.UTC(), Points: g.Points})
		}
		return nil
	})
	return out, err
}
