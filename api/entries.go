package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tally-ledger/tally/catalog"
	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
	"github.com/tally-ledger/tally/prepaid"
)

type entryJSON struct {
	ID          int64           `json:"id"`
	Kind        string          `json:"kind"`
	EffectiveAt time.Time       `json:"effective_at"`
	RecordedAt  time.Time       `json:"recorded_at"`
	Metadata    json.RawMessage `json:"metadata"`
	Actor       string          `json:"actor"`
	Reason      string          `json:"reason"`
	ReversalOf  *int64          `json:"reversal_of"`
	ReversedBy  *int64          `json:"reversed_by"`
	Postings    []postingJSON   `json:"postings"`
}

type postingJSON struct {
	ID           int64        `json:"id"`
	Account      string       `json:"account"`
	Asset        ledger.Asset `json:"asset"`
	Amount       string       `json:"amount"`
	BalanceAfter *string      `json:"balance_after"`
}

func toEntryJSON(e *ledger.Entry) entryJSON {
	out := entryJSON{ID: e.ID, Kind: e.Kind, EffectiveAt: e.EffectiveAt, RecordedAt: e.RecordedAt,
		Metadata: e.Metadata, Actor: e.Actor, Reason: e.Reason, ReversalOf: e.ReversalOf, ReversedBy: e.ReversedBy,
		Postings: make([]postingJSON, 0, len(e.Postings))}
	for _, p := range e.Postings {
		pj := postingJSON{ID: p.ID, Account: p.Account, Asset: p.Asset, Amount: money(p.Amount, p.Asset)}
		if p.BalanceAfter != nil {
			b := money(*p.BalanceAfter, p.Asset)
			pj.BalanceAfter = &b
		}
		out.Postings = append(out.Postings, pj)
	}
	return out
}

// created answers a write: 201 with the entry, and Idempotent-Replayed:
// true when it repeats an earlier identical request.
func (s *Server) created(c echo.Context, e *ledger.Entry, replayed bool) error {
	if err := s.replay(c, replayed); err != nil {
		return err
	}
	return reply(c, http.StatusCreated, toEntryJSON(e))
}

// replay, for an answer that repeats what an earlier request recorded
// (replayed), waits until that is durable (ledger.Durable: on the
// standbys too, with synchronous replication) and marks the answer
// Idempotent-Replayed: true. A new write needs neither.
func (s *Server) replay(c echo.Context, replayed bool) error {
	if !replayed {
		return nil
	}
	if err := s.ledger.Durable(c.Request().Context()); err != nil {
		return err
	}
	c.Response().Header().Set("Idempotent-Replayed", "true")
	return nil
}

var (
	idempotencyKeyPattern = regexp.MustCompile(`^[\x21-\x7e]{1,255}$`)
	kindPattern           = regexp.MustCompile(`^[a-z][a-z0-9_.]{0,39}$`)
)

// idempotencyKey reads the Idempotency-Key header, scoped to the key's space
// (ledger.APIKey.Space: its partner's, shared by every key of the partner)
// so that two callers can never collide. Empty when the header is absent.
func idempotencyKey(c echo.Context, route string) (string, error) {
	v := c.Request().Header.Get("Idempotency-Key")
	if v == "" {
		return "", nil
	}
	if !idempotencyKeyPattern.MatchString(v) {
		return "", &fault.Error{Code: fault.Invalid, Message: "Idempotency-Key must be 1 to 255 visible ASCII characters",
			Fields: map[string]string{"Idempotency-Key": "1-255 visible ASCII characters"}}
	}
	return "api:" + idempotencySpace(keyOf(c)) + ":" + route + ":" + v, nil
}

// idempotencySpace is the key's space as idempotency keys carry it: a key's
// own space is written as its id alone, as the keys recorded before there
// were partners are.
func idempotencySpace(k ledger.APIKey) string {
	if s := k.Space(); s != "key:"+itoa(k.ID) {
		return s
	}
	return itoa(k.ID)
}

type postingRequest struct {
	Account string       `json:"account"`
	Asset   ledger.Asset `json:"asset,omitempty"`
	Amount  Amount       `json:"amount"`
}

type entryRequest struct {
	Kind        string           `json:"kind,omitempty"`
	Reason      string           `json:"reason"`
	EffectiveAt *time.Time       `json:"effective_at,omitempty"`
	Metadata    json.RawMessage  `json:"metadata,omitempty"`
	Postings    []postingRequest `json:"postings"`
}

// serviceKind reports whether entries of the kind are written by the
// service's own flows (events, redemptions, money movements, expiry,
// settlements), which also correct them: never by hand.
func serviceKind(kind string) bool {
	return loyalty.Owns(kind) || catalog.Owns(kind) || prepaid.Owns(kind)
}

// metadataHas reports whether the metadata object raw (canonical, or nil)
// has the key.
func metadataHas(raw json.RawMessage, key string) bool {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return false
	}
	_, ok := m[key]
	return ok
}

// postEntry records a manual, balanced entry (an adjustment) with a reason.
func (s *Server) postEntry(c echo.Context) error {
	var req entryRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	key, err := idempotencyKey(c, "entries")
	if err != nil {
		return err
	}
	if req.Kind == "" {
		req.Kind = "manual"
	}
	req.Reason = strings.TrimSpace(req.Reason)
	if req.EffectiveAt != nil {
		utc := req.EffectiveAt.UTC()
		req.EffectiveAt = &utc
	}
	if req.Metadata, err = canonicalObject(req.Metadata, "metadata"); err != nil {
		return err
	}
	fields := map[string]string{}
	switch {
	case !kindPattern.MatchString(req.Kind) || req.Kind == "reversal":
		fields["kind"] = "lowercase letters, digits, '_' or '.', up to 40; not \"reversal\""
	case serviceKind(req.Kind):
		// Such an entry would be refused the hand reversal that corrects a
		// manual entry, with no flow of its own to correct it, and the
		// reports would count it as that business.
		fields["kind"] = fmt.Sprintf("%q is the kind of the entries the service writes for that business; "+
			"a manual entry takes another, such as manual or adjustment", req.Kind)
	}
	if req.Reason == "" {
		fields["reason"] = "required: say why this manual entry is made"
	}
	if metadataHas(req.Metadata, ledger.ReversedKind) {
		// The ledger writes it on reversals alone, and a statement words
		// a reversal by it.
		fields["metadata."+ledger.ReversedKind] = "written by the service on reversals only"
	}
	for _, p := range req.Postings {
		if strings.HasSuffix(p.Account, ":points_owed") {
			fields["postings"] = "points owed move only by refunds and their settlements"
		}
	}
	now := s.ledger.Now() // the one instant of this request
	if req.EffectiveAt != nil && req.EffectiveAt.After(now) {
		fields["effective_at"] = "must not be in the future"
	}
	if len(fields) > 0 {
		return &fault.Error{Code: fault.Invalid, Message: "the entry is invalid", Fields: fields}
	}
	ctx := c.Request().Context()
	// Effective now unless the request says otherwise; the hash is the
	// request's, so a retry without effective_at is still the same request.
	in := ledger.EntryInput{Kind: req.Kind, EffectiveAt: now, IdempotencyKey: key, RequestHash: requestHash(c, req),
		Metadata: req.Metadata, Actor: actor(c), Reason: req.Reason}
	if req.EffectiveAt != nil {
		in.EffectiveAt = *req.EffectiveAt
	}
	for _, p := range req.Postings {
		posting := ledger.PostingInput{Account: p.Account, Asset: p.Asset, Amount: p.Amount.Decimal}
		if spec, err := ledger.Chart(p.Account); err == nil && spec.Asset == ledger.PTS && !spec.AllowNegative && p.Amount.IsPositive() {
			// Points credited by hand are a lot like any other, expiring
			// per the rules in effect when it takes effect.
			if posting.Lot, err = s.loyalty.LotAt(ctx, in.EffectiveAt); err != nil {
				return err
			}
		}
		in.Postings = append(in.Postings, posting)
	}
	// Bad input is refused first, whatever the key or the window says.
	if err := ledger.Validate(in); err != nil {
		return err
	}
	if req.EffectiveAt != nil {
		if err := s.loyalty.CheckEffectiveAt(ctx, now, *req.EffectiveAt); err != nil {
			// The window holds back new entries, not the retry of one
			// recorded while its effective_at was inside it.
			if key == "" {
				return err
			}
			e, found, rerr := s.ledger.Replay(ctx, key, requestHash(c, req))
			if rerr != nil {
				return rerr
			}
			if !found {
				return err
			}
			return s.created(c, e, true)
		}
	}
	e, replayed, err := s.prepaid.PostEntry(ctx, in)
	if err != nil {
		return err
	}
	return s.created(c, e, replayed)
}

func entryID(c echo.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, fault.Errorf(fault.NotFound, "no entry %q", clip(c.Param("id")))
	}
	return id, nil
}

func (s *Server) getEntry(c echo.Context) error {
	id, err := entryID(c)
	if err != nil {
		return err
	}
	e, err := s.ledger.Entry(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return reply(c, http.StatusOK, toEntryJSON(e))
}

func (s *Server) reverseEntry(c echo.Context) error {
	id, err := entryID(c)
	if err != nil {
		return err
	}
	var req struct {
		Reason string `json:"reason"`
	}
	if err := decode(c, &req); err != nil {
		return err
	}
	key, err := idempotencyKey(c, "reversal")
	if err != nil {
		return err
	}
	req.Reason = strings.TrimSpace(req.Reason)
	// An entry that moved a customer's prepaid money is asked what a
	// movement's reversal is asked (prepaid.ReverseEntry), after a recorded
	// key is answered.
	hash, earlier := numberedHash(c, id, req)
	e, replayed, err := s.prepaid.ReverseEntry(c.Request().Context(), id, ledger.ReversalInput{
		IdempotencyKey: key, RequestHash: hash, EarlierHash: earlier, Actor: actor(c), Reason: req.Reason},
		func(kind string) error {
			if serviceKind(kind) {
				return fault.Errorf(fault.NotReversible, "a %s entry is corrected through its own flow "+
					"(a refund event, a cancelled redemption, the movement's reversal endpoint), not reversed by hand", kind)
			}
			return nil
		})
	if err != nil {
		return err
	}
	return s.created(c, e, replayed)
}
