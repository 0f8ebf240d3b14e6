package api

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/prepaid"
)

type moneyRequest struct {
	DepositID    string     `json:"deposit_id,omitempty"`
	ChargeID     string     `json:"charge_id,omitempty"`
	WithdrawalID string     `json:"withdrawal_id,omitempty"`
	CustomerID   string     `json:"customer_id"`
	Amount       Amount     `json:"amount"`
	OccurredAt   *time.Time `json:"occurred_at,omitempty"`
	ShipmentID   string     `json:"shipment_id,omitempty"`
}

// moneyHandler answers POST /v1/deposits, /v1/charges and /v1/withdrawals:
// 201 with the movement, Idempotent-Replayed: true for a repeat.
func (s *Server) moneyHandler(kind string) echo.HandlerFunc {
	return func(c echo.Context) error {
		var req moneyRequest
		preview, err := dryRun(c)
		if err != nil {
			return err
		}
		if err := decode(c, &req); err != nil {
			return err
		}
		ids := map[string]string{prepaid.Deposit: req.DepositID, prepaid.Charge: req.ChargeID, prepaid.Withdrawal: req.WithdrawalID}
		for k, v := range ids {
			if k != kind && v != "" {
				return &fault.Error{Code: fault.InvalidJSON, Message: "unknown field \"" + k + "_id\"",
					Fields: map[string]string{k + "_id": "unknown"}}
			}
		}
		if kind != prepaid.Charge && req.ShipmentID != "" {
			return &fault.Error{Code: fault.InvalidJSON, Message: "unknown field \"shipment_id\"", Fields: map[string]string{"shipment_id": "unknown"}}
		}
		if kind == prepaid.Charge && req.ShipmentID == "" {
			return &fault.Error{Code: fault.Invalid, Message: "a charge names the shipment it pays for",
				Fields: map[string]string{"shipment_id": "required"}}
		}
		in := prepaid.MoneyInput{ID: ids[kind], CustomerID: req.CustomerID, Amount: req.Amount.Decimal, ShipmentID: req.ShipmentID,
			Space: keyOf(c).Space(), Preview: preview}
		if req.OccurredAt != nil {
			in.OccurredAt = *req.OccurredAt
		}
		do := map[string]func(context.Context, prepaid.MoneyInput, string) (prepaid.MoneyMovement, bool, error){
			prepaid.Deposit: s.prepaid.Deposit, prepaid.Charge: s.prepaid.Charge, prepaid.Withdrawal: s.prepaid.Withdraw,
		}[kind]
		m, replayed, err := do(c.Request().Context(), in, actor(c))
		if err != nil {
			return err
		}
		if err := s.replay(c, replayed); err != nil {
			return err
		}
		if preview {
			return reply(c, http.StatusOK, previewOfMoney(m, replayed))
		}
		return reply(c, http.StatusCreated, m)
	}
}

// moneyReversal answers POST /v1/{deposits,charges,withdrawals}/{id}/reversal.
func (s *Server) moneyReversal(kind string) echo.HandlerFunc {
	return func(c echo.Context) error {
		var req struct {
			Reason string `json:"reason"`
		}
		if err := decode(c, &req); err != nil {
			return err
		}
		if strings.TrimSpace(req.Reason) == "" {
			return &fault.Error{Code: fault.Invalid, Message: "a reversal needs a reason", Fields: map[string]string{"reason": "required"}}
		}
		space, err := namedSpace(c)
		if err != nil {
			return err
		}
		key, err := idempotencyKey(c, kind+".reversal")
		if err != nil {
			return err
		}
		m, replayed, err := s.prepaid.ReverseMoneyWithKey(c.Request().Context(), kind, space, c.Param("id"),
			strings.TrimSpace(req.Reason), actor(c), key, requestHash(c, req))
		if err != nil {
			return err
		}
		if err := s.replay(c, replayed); err != nil {
			return err
		}
		return reply(c, http.StatusCreated, m)
	}
}
