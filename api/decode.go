package api

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/textclass"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/rules"
)

// maxBody bounds every request body.
const maxBody = 1 << 20

// decode reads the JSON body into v strictly: application/json only, one
// value, no unknown fields, within maxBody.
func decode(c echo.Context, v any) error {
	body, err := readBody(c)
	if err != nil {
		return err
	}
	return jsonError(decodeStrict(body, v))
}

// readBody reads a JSON body of at most maxBody bytes.
func readBody(c echo.Context) ([]byte, error) {
	req := c.Request()
	mt, _, err := mime.ParseMediaType(req.Header.Get(echo.HeaderContentType))
	if err != nil || mt != echo.MIMEApplicationJSON {
		return nil, fault.Errorf(fault.UnsupportedMediaType, "the body must be application/json")
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Response(), req.Body, maxBody))
	if err != nil {
		return nil, jsonError(err)
	}
	return body, nil
}

// noBody refuses a body where none is taken.
func noBody(c echo.Context) error {
	if c.Request().ContentLength != 0 {
		return fault.Errorf(fault.InvalidJSON, "%s %s takes no body: its parameters are in the query", c.Request().Method, c.Path())
	}
	return nil
}

// decodeStrict decodes one JSON value with no unknown fields, and refuses
// text over its bound (limits.go). A NUL
// character is refused: PostgreSQL text cannot hold it. Every body (and
// every event of a batch) is an object, so null is refused too.
func decodeStrict(data []byte, v any) error {
	if hasNUL(data) {
		return fault.Errorf(fault.InvalidJSON, "strings may not contain the NUL character (\\u0000)")
	}
	if bytes.Equal(bytes.TrimSpace(data), []byte("null")) {
		return fault.Errorf(fault.InvalidJSON, "the body must be a JSON object, not null")
	}
	if err := decodeReader(bytes.NewReader(data), v); err != nil {
		return err
	}
	return checkText(v)
}

// hasNUL says whether JSON text holds the NUL character's escape.
func hasNUL(data []byte) bool {
	return bytes.Contains(data, []byte(`\u0000`)) || bytes.Contains(data, []byte(`\U0000`))
}

func decodeReader(r io.Reader, v any) error {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if err != nil {
			return err
		}
		return fault.Errorf(fault.InvalidJSON, "the body must hold a single JSON value")
	}
	return nil
}

// requestHash is the SHA-256 of a request as decoded and normalised (method,
// path and canonical JSON of v), which idempotency keys are checked against:
// two requests that mean the same thing hash the same.
func requestHash(c echo.Context, v any) []byte {
	return requestHashAt(c, c.Request().URL.Path, v)
}

// numberedHash is requestHash of a request whose route names a resource by
// its number (":id"), with the number written as parsed: "/entries/01/…"
// and "/entries/+1/…" name entry 1 and hash as "/entries/1/…" does. A
// canonical path hashes as requestHash always did; a path written otherwise
// also gives earlier, its hash as sent, under which a version before this
// one recorded such a request's key (so that key still replays).
func numberedHash(c echo.Context, id int64, v any) (hash, earlier []byte) {
	canonical := strings.Replace(c.Path(), ":id", strconv.FormatInt(id, 10), 1)
	hash = requestHashAt(c, canonical, v)
	if sent := c.Request().URL.Path; sent != canonical {
		earlier = requestHashAt(c, sent, v)
	}
	return hash, earlier
}

func requestHashAt(c echo.Context, path string, v any) []byte {
	canon, _ := json.Marshal(v)
	h := sha256.New()
	fmt.Fprintf(h, "%s %s\n", c.Request().Method, path)
	h.Write(canon)
	return h.Sum(nil)
}

// canonicalObject re-encodes a JSON object with sorted keys and no
// duplicates, as PostgreSQL's jsonb will store it; nil stays nil.
func canonicalObject(raw json.RawMessage, field string) (json.RawMessage, error) {
	if raw == nil {
		return nil, nil
	}
	// Numbers stay as written (json.Number), not rounded through float64.
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil || m == nil || dec.More() {
		return nil, &fault.Error{Code: fault.Invalid, Message: field + " must be a JSON object",
			Fields: map[string]string{field: "not an object"}}
	}
	return json.Marshal(m)
}

func jsonError(err error) error {
	if err == nil {
		return nil
	}
	var tooBig *http.MaxBytesError
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var le *fault.Error
	switch {
	case errors.As(err, &tooBig):
		return fault.Errorf(fault.BodyTooLarge, "the body is larger than %d bytes", maxBody)
	case errors.As(err, &le):
		return le
	case errors.As(err, &syntax):
		return fault.Errorf(fault.InvalidJSON, "malformed JSON at byte %d: %v", syntax.Offset, syntax)
	case errors.As(err, &typ) && typ.Field == "":
		return fault.Errorf(fault.InvalidJSON, "expected a JSON %s, got a JSON %s", jsonKind(typ.Type), typ.Value)
	case errors.As(err, &typ):
		field := clip(typ.Field)
		return &fault.Error{Code: fault.InvalidJSON, Message: fmt.Sprintf("field %q must be a JSON %s, not %s", field, jsonKind(typ.Type), typ.Value),
			Fields: map[string]string{field: "must be a JSON " + jsonKind(typ.Type)}}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return fault.Errorf(fault.InvalidJSON, "the body is empty or cut short")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := clip(strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`))
		return &fault.Error{Code: fault.InvalidJSON, Message: "unknown field " + strconv.Quote(field),
			Fields: map[string]string{field: "unknown"}}
	}
	// The error may quote the value sent (a time, a decimal): quote little.
	return fault.Errorf(fault.InvalidJSON, "the body is not valid JSON: %s", clipMessage(err.Error()))
}

// jsonKind names the JSON kind a Go type decodes from, without Go's names.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return "object"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Pointer:
		return jsonKind(t.Elem())
	}
	return "number"
}

var decimalMaxPoints = decimal.NewFromInt(1_000_000_000_000)

// Amount is a decimal carried as a JSON string ("123.45"): never a JSON
// number, never an exponent, NaN or infinity, at most 18 digits before the
// point and 8 after.
type Amount struct{ decimal.Decimal }

// isAmount reports whether s is an amount as ^-?(0|[1-9][0-9]{0,17})(\.[0-9]{1,8})?$
// has it: an optional minus, 0 or up to 18 digits without a leading zero,
// and an optional point with 1 to 8 digits. Written out, not a regexp: a
// batch checks it for every event.
func isAmount(s string) bool {
	s = strings.TrimPrefix(s, "-")
	whole, frac, point := strings.Cut(s, ".")
	if len(whole) > 18 || (len(whole) > 1 && whole[0] == '0') || !digits(whole) { // digits: one at least
		return false
	}
	return !point || (len(frac) <= 8 && digits(frac))
}

// UnmarshalJSON implements json.Unmarshaler.
func (a *Amount) UnmarshalJSON(b []byte) error {
	var s string
	if len(b) == 0 || b[0] != '"' || json.Unmarshal(b, &s) != nil {
		return fault.Errorf(fault.InvalidAmount, "amounts are decimal strings such as \"123.45\", not %s", clip(string(b)))
	}
	if !isAmount(s) {
		return fault.Errorf(fault.InvalidAmount, "%s is not a decimal amount such as \"123.45\"", strconv.Quote(clip(s)))
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return fault.Errorf(fault.InvalidAmount, "%s is not a decimal amount", strconv.Quote(clip(s)))
	}
	a.Decimal = d
	return nil
}

// MarshalJSON implements json.Marshaler.
func (a Amount) MarshalJSON() ([]byte, error) { return json.Marshal(a.String()) }

// clipMessage bounds an error message that may quote what was sent.
func clipMessage(s string) string {
	if len(s) > 200 {
		return strings.ToValidUTF8(s[:200], "") + "..."
	}
	return s
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// money formats an amount at its asset's scale: "150.00" CNY, "148" PTS.
func money(d decimal.Decimal, asset ledger.Asset) string { return d.StringFixed(asset.Scale()) }

// timeParam parses an RFC 3339 query parameter; empty gives def.
func timeParam(c echo.Context, name string, def time.Time) (time.Time, error) {
	v := c.QueryParam(name)
	if v == "" {
		return def, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return t, &fault.Error{Code: fault.Invalid, Message: name + " must be an RFC 3339 time such as 2026-03-15T10:00:00+08:00",
			Fields: map[string]string{name: "not an RFC 3339 time"}}
	}
	if !rules.InRange(t) {
		return t, fault.InvalidField(name, "out of range: "+rules.InstantsRange)
	}
	return t, nil
}

// limitParam parses ?limit= within [1, max], defaulting to def.
func limitParam(c echo.Context, def, max int) (int, error) {
	v := c.QueryParam("limit")
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > max {
		return 0, &fault.Error{Code: fault.Invalid, Message: fmt.Sprintf("limit must be a whole number from 1 to %d", max),
			Fields: map[string]string{"limit": fmt.Sprintf("1 to %d", max)}}
	}
	return n, nil
}

// pageParams reads a statement page's ?cursor= and ?limit= (50 by default,
// at most 500).
func pageParams(c echo.Context) (cursor int64, limit int, err error) {
	if cursor, err = cursorParam(c); err != nil {
		return 0, 0, err
	}
	limit, err = limitParam(c, 50, 500)
	return cursor, limit, err
}

// listLimit reads the ?limit= of a list of what admins fill (products,
// catalogues, campaigns, rule versions): 100 by default, at most 500.
func listLimit(c echo.Context) (int, error) {
	return limitParam(c, 100, 500)
}

// nullIfEmpty is a string cursor as answered: null on the last page.
func nullIfEmpty(cursor string) *string {
	if cursor == "" {
		return nil
	}
	return &cursor
}

// cursorParam parses an opaque numeric ?cursor=, a positive whole number.
func cursorParam(c echo.Context) (int64, error) {
	n, err := signedCursorParam(c)
	if n < 0 {
		return 0, badCursorParam
	}
	return n, err
}

// signedCursorParam parses an opaque numeric ?cursor= that may be negative
// (an account statement's: a platform account's names an entry, negated).
func signedCursorParam(c echo.Context) (int64, error) {
	v := c.QueryParam("cursor")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n == 0 {
		return 0, badCursorParam
	}
	return n, nil
}

var badCursorParam = &fault.Error{Code: fault.Invalid, Message: "cursor must be a next_cursor from an earlier page",
	Fields: map[string]string{"cursor": "not a cursor"}}

func encodeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// reply writes v as JSON with the status; an encoding failure is a 500, not
// a half-written 200.
func reply(c echo.Context, status int, v any) error {
	var buf bytes.Buffer
	if err := encodeJSON(&buf, v); err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	c.Response().WriteHeader(status)
	_, err := c.Response().Write(buf.Bytes())
	return err
}

// createdOrRepeated answers a registration: 201 when it created something,
// 200 when the very same registration was made before, once that earlier
// registration is durable (ledger.Durable, as a replayed write's: it may
// be the client's own first attempt, whose commit was cut short while it
// waited for the standbys, visible on the primary and on no standby).
func (s *Server) createdOrRepeated(c echo.Context, created bool, v any) error {
	if created {
		return reply(c, http.StatusCreated, v)
	}
	if err := s.ledger.Durable(c.Request().Context()); err != nil {
		return err
	}
	return reply(c, http.StatusOK, v)
}

// textInput refuses a request whose query values or path parameters are
// not text (not UTF-8, or holding a control character such as NUL), which
// no parameter of the API accepts and PostgreSQL could not store or compare,
// or are longer than maxParamBytes: 422 invalid, naming the parameter, or
// 422 unknown_customer for a customer route's id. Path parameters are
// decoded first, exactly once (decodeParams).
func textInput(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if err := decodeParams(c); err != nil {
			return err
		}
		for name, values := range c.QueryParams() {
			for _, v := range values {
				if !textclass.IsText(v) {
					return notText(name)
				}
				if len(v) > maxParamBytes || len(name) > maxParamBytes {
					return tooLong(clip(name), maxParamBytes)
				}
			}
		}
		for i, name := range c.ParamNames() {
			if i >= len(c.ParamValues()) {
				break
			}
			v := c.ParamValues()[i]
			if textclass.IsText(v) && len(v) <= maxParamBytes {
				continue
			}
			if strings.HasPrefix(c.Path(), "/v1/customers/:id") {
				// What every customer route answers for an id it does not know.
				return fault.Errorf(fault.UnknownCustomer, "no customer is registered with this id")
			}
			if !textclass.IsText(v) {
				return notText(name)
			}
			return tooLong(name, maxParamBytes)
		}
		return next(c)
	}
}

// decodeParams percent-decodes the path parameters when Echo routed on
// the request's escaped path, so that every handler gets them decoded,
// once. Go keeps a path's escaped form (URL.RawPath) only when it differs
// from the form Go would write (lower-case hex: %3a; an escaped slash),
// and Echo then routes on it and hands the parameters over still escaped;
// otherwise they come decoded already, and decoding them again would turn
// a %25 sent for a literal % into whatever followed it.
func decodeParams(c echo.Context) error {
	if c.Request().URL.RawPath == "" {
		return nil
	}
	values := slices.Clone(c.ParamValues())
	for i, v := range values {
		d, err := url.PathUnescape(v)
		if err != nil {
			return fault.Errorf(fault.Invalid, "path parameter %s is not properly escaped", clip(c.ParamNames()[i]))
		}
		values[i] = d
	}
	c.SetParamValues(values...)
	return nil
}

func notText(name string) error {
	if !textclass.IsText(name) {
		name = "query"
	}
	return &fault.Error{Code: fault.Invalid, Message: clip(name) + " is not text",
		Fields: map[string]string{clip(name): "UTF-8 text without control characters"}}
}
