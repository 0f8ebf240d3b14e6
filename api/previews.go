package api

import (
	"github.com/labstack/echo/v4"

	"github.com/tally-ledger/tally/catalog"
	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/prepaid"
)

// Previews: POST /v1/events, /v1/events/batch, /v1/deposits, /v1/charges,
// /v1/withdrawals and /v1/redemptions with ?dry_run=true answer what the
// call would answer now, with 200 instead of 201 and "preview": true, and
// write nothing (ledger.Preview): the same code runs in a transaction that
// is rolled back. An entry it would post is answered as "entry_id": null;
// an id recorded already answers its record, as the call would, with
// Idempotent-Replayed: true.

// dryRun reads ?dry_run: true for a preview.
//
// Errors: fault.Invalid (neither true nor false).
func dryRun(c echo.Context) (bool, error) {
	switch c.QueryParam("dry_run") {
	case "", "false":
		return false, nil
	case "true":
		return true, nil
	}
	return false, fault.InvalidField("dry_run", "true or false")
}

// moneyPreview is a money movement as a preview answers it.
type moneyPreview struct {
	prepaid.MoneyMovement
	EntryID *int64 `json:"entry_id"` // null: the entry was never committed
	Preview bool   `json:"preview"`
}

func previewOfMoney(m prepaid.MoneyMovement, replayed bool) moneyPreview {
	p := moneyPreview{MoneyMovement: m, Preview: true}
	if replayed {
		p.EntryID = &m.EntryID
	}
	return p
}

// redemptionPreview is a redemption as a preview answers it.
type redemptionPreview struct {
	catalog.Redemption
	EntryID *int64 `json:"entry_id"` // null: the entry was never committed
	Preview bool   `json:"preview"`
}

func previewOfRedemption(r catalog.Redemption, replayed bool) redemptionPreview {
	p := redemptionPreview{Redemption: r, Preview: true}
	if replayed {
		p.EntryID = &r.EntryID
	}
	return p
}
