package api

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tally-ledger/tally/ledger"
)

type accountJSON struct {
	Code          string       `json:"code"`
	Asset         ledger.Asset `json:"asset"`
	AllowNegative bool         `json:"allow_negative"`
	Balance       string       `json:"balance"`
	CreatedAt     time.Time    `json:"created_at"`
}

func toAccountJSON(a ledger.Account) accountJSON {
	return accountJSON{Code: a.Code, Asset: a.Asset, AllowNegative: a.AllowNegative,
		Balance: money(a.Balance, a.Asset), CreatedAt: a.CreatedAt}
}

func (s *Server) listAccounts(c echo.Context) error {
	limit, err := limitParam(c, 100, 1000)
	if err != nil {
		return err
	}
	accounts, err := s.ledger.Accounts(c.Request().Context(), ledger.AccountFilter{
		Prefix: c.QueryParam("prefix"), After: c.QueryParam("cursor"), Limit: limit + 1})
	if err != nil {
		return err
	}
	out := struct {
		Accounts   []accountJSON `json:"accounts"`
		NextCursor *string       `json:"next_cursor"`
	}{Accounts: []accountJSON{}}
	if len(accounts) > limit {
		accounts = accounts[:limit]
		out.NextCursor = &accounts[limit-1].Code
	}
	for _, a := range accounts {
		out.Accounts = append(out.Accounts, toAccountJSON(a))
	}
	if n := fitPage(out.Accounts); n < len(out.Accounts) {
		out.Accounts = out.Accounts[:n]
		out.NextCursor = &out.Accounts[n-1].Code
	}
	return reply(c, http.StatusOK, out)
}

// accountCode is the {code} path parameter (decoded, and text: textInput),
// after checking that the key may read it.
func accountCode(c echo.Context) (string, error) {
	code := c.Param("code")
	return code, canReadAccount(keyOf(c), code)
}

func (s *Server) getAccount(c echo.Context) error {
	code, err := accountCode(c)
	if err != nil {
		return err
	}
	a, err := s.ledger.Account(c.Request().Context(), code)
	if err != nil {
		return err
	}
	return reply(c, http.StatusOK, toAccountJSON(a))
}

func (s *Server) getBalance(c echo.Context) error {
	code, err := accountCode(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	out := struct {
		Account string       `json:"account"`
		Asset   ledger.Asset `json:"asset"`
		Balance string       `json:"balance"`
		AsOf    *time.Time   `json:"as_of"`
	}{Account: code}
	if c.QueryParam("as_of") == "" {
		a, err := s.ledger.Account(ctx, code)
		if err != nil {
			return err
		}
		out.Asset, out.Balance = a.Asset, money(a.Balance, a.Asset)
		return reply(c, http.StatusOK, out)
	}
	asOf, err := timeParam(c, "as_of", time.Time{})
	if err != nil {
		return err
	}
	bal, err := s.ledger.BalanceAsOf(ctx, code, asOf)
	if err != nil {
		return err
	}
	spec, _ := ledger.Chart(code)
	out.Asset, out.Balance, out.AsOf = spec.Asset, money(bal, spec.Asset), &asOf
	return reply(c, http.StatusOK, out)
}

type statementLineJSON struct {
	PostingID    int64     `json:"posting_id"`
	EntryID      int64     `json:"entry_id"`
	Kind         string    `json:"kind"`
	EffectiveAt  time.Time `json:"effective_at"`
	RecordedAt   time.Time `json:"recorded_at"`
	Amount       string    `json:"amount"`
	BalanceAfter string    `json:"balance_after"`
}

func (s *Server) listPostings(c echo.Context) error {
	code, err := accountCode(c)
	if err != nil {
		return err
	}
	// A statement's cursor may be negative (a platform account's names an
	// entry): ledger.Statement tells its own from another.
	cursor, err := signedCursorParam(c)
	if err != nil {
		return err
	}
	limit, err := limitParam(c, 50, 500)
	if err != nil {
		return err
	}
	lines, next, err := s.ledger.Statement(c.Request().Context(), code, cursor, limit)
	if err != nil {
		return err
	}
	spec, _ := ledger.Chart(code)
	out := struct {
		Account    string              `json:"account"`
		Asset      ledger.Asset        `json:"asset"`
		Postings   []statementLineJSON `json:"postings"`
		NextCursor *string             `json:"next_cursor"`
	}{Account: code, Asset: spec.Asset, Postings: make([]statementLineJSON, 0, len(lines))}
	for _, l := range lines {
		out.Postings = append(out.Postings, statementLineJSON{PostingID: l.PostingID, EntryID: l.EntryID,
			Kind: l.Kind, EffectiveAt: l.EffectiveAt, RecordedAt: l.RecordedAt,
			Amount: money(l.Amount, spec.Asset), BalanceAfter: money(l.BalanceAfter, spec.Asset)})
	}
	if n := fitPage(out.Postings); n < len(out.Postings) {
		out.Postings = out.Postings[:n]
		next = lines[n-1].Cursor
	}
	if next != 0 {
		n := itoa(next)
		out.NextCursor = &n
	}
	return reply(c, http.StatusOK, out)
}
