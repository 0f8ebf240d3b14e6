// Package jsonw appends JSON values to a byte slice exactly as
// encoding/json writes them with HTML escaping off (json.Encoder with
// SetEscapeHTML(false)), for the few documents the event path writes once
// per event (an event's result, its notices): written by hand they cost a
// fraction of encoding/json's reflection. Each type that uses it proves
// its output equal to encoding/json's over random values.
package jsonw

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/internal/dectext"
)

// String appends s as a JSON string.
func String(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' {
			return slow(b, s)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// Plain reports whether s is written as it is between quotes by
// encoding/json with HTML escaping on or off: printable ASCII but the
// quote, the backslash and the characters HTML escaping changes (<, >, &).
func Plain(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

// slow appends what encoding/json writes for a string with characters it
// escapes or checks (control characters, quotes, backslashes, non-ASCII:
// invalid UTF-8, U+2028 and U+2029).
func slow(b []byte, s string) []byte {
	b, _ = Value(b, s) // a string always encodes
	return b
}

// Value appends v as encoding/json writes it with HTML escaping off,
// through encoding/json itself: for values with no appender of their own.
func Value(b []byte, v any) ([]byte, error) {
	buf := bytes.NewBuffer(b)
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return b, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// Key appends a member's name and its colon, after a comma unless it is the
// object's first ('{' just written).
func Key(b []byte, name string) []byte {
	if len(b) > 0 && b[len(b)-1] != '{' {
		b = append(b, ',')
	}
	b = append(b, '"')
	b = append(b, name...)
	return append(b, '"', ':')
}

// Int appends n as a JSON number.
func Int(b []byte, n int64) []byte { return strconv.AppendInt(b, n, 10) }

// QuotedInt appends n as a JSON string (a field tagged ",string").
func QuotedInt(b []byte, n int64) []byte {
	b = append(b, '"')
	b = strconv.AppendInt(b, n, 10)
	return append(b, '"')
}

// Bool appends v.
func Bool(b []byte, v bool) []byte { return strconv.AppendBool(b, v) }

// Decimal appends d as decimal.Decimal's MarshalJSON writes it.
func Decimal(b []byte, d decimal.Decimal) []byte {
	if decimal.MarshalJSONWithoutQuotes {
		return dectext.Append(b, d)
	}
	b = append(b, '"')
	b = dectext.Append(b, d)
	return append(b, '"')
}

// Time appends t as time.Time's MarshalJSON writes it (RFC 3339 with the
// nanoseconds it has), for the times it writes at all (TimeEncodes); the
// callers' times are validated to lie well inside.
func Time(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// TimeEncodes reports whether time.Time's MarshalJSON writes t: a year from
// 0 to 9999 and a zone offset under 24 hours either way (it refuses any
// other).
func TimeEncodes(t time.Time) bool {
	_, off := t.Zone()
	y := t.Year()
	return y >= 0 && y <= 9999 && off > -24*3600 && off < 24*3600
}

// Null appends null.
func Null(b []byte) []byte { return append(b, "null"...) }
