package api

import (
	"encoding/json"
	"math/big"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
)

// FuzzAmount: an amount is accepted exactly when it is a JSON string
// holding a plain decimal (an optional '-', 1 to 18 integer digits without a
// leading zero, optionally '.' and 1 to 8 decimals), and then it round-trips
// exactly: its value is the string's, it is answered as the same string
// without trailing decimal zeros ("-0.50" -> "-0.5", "-0" -> "0"), that
// answer reads back to itself, and at the fen it is the string padded to two
// decimals. Anything else is refused as invalid_amount (or as malformed
// JSON).
func FuzzAmount(f *testing.F) {
	for _, s := range []string{`"123.45"`, `"-0"`, `"0.00000001"`, `"1e9999"`, `"NaN"`, `123.45`, `"١٢٣"`, `"999999999999999999.99999999"`,
		`"-"`, `"."`, `"1."`, `".5"`, `null`, `""`, `"+1"`, `" 1"`, `"0x10"`, `"Infinity"`,
		// Boundaries: 18 and 19 integer digits, 8 and 9 decimals, zeros
		// that must go or must be refused, an escaped digit.
		`"-999999999999999999"`, `"1000000000000000000"`, `"0.12345678"`, `"0.123456789"`, `"-0.00"`, `"1.50"`,
		`"100"`, `"00"`, `"01.5"`, `"-01"`, `"0.5"`, `"\u0031.5"`, ` "7" `, `"1,5"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var a Amount
		err := json.Unmarshal(data, &a)
		var v any
		isJSON := json.Unmarshal(data, &v) == nil
		s, isString := v.(string)
		if want := isJSON && isString && plainDecimal(s); err != nil {
			if want {
				t.Fatalf("%q refused: %v", data, err)
			}
			if code := fault.CodeOf(err); isJSON && code != fault.InvalidAmount {
				t.Fatalf("%q refused with %q (%v), want invalid_amount", data, code, err)
			}
			return
		} else if !want {
			t.Fatalf("accepted %q as %s", data, a.String())
		}
		exact, _ := new(big.Rat).SetString(s)
		if a.Rat().Cmp(exact) != 0 {
			t.Fatalf("%q reads as %s", s, a.String())
		}
		canon := canonicalDecimal(s)
		for _, out := range [][]byte{must(json.Marshal(a)), must(json.Marshal(a.Decimal))} {
			if string(out) != strconv.Quote(canon) {
				t.Fatalf("%q is answered as %s, want %q", s, out, canon)
			}
			var back Amount
			if err := json.Unmarshal(out, &back); err != nil || string(must(json.Marshal(back))) != string(out) {
				t.Fatalf("the answer %s does not read back to itself: %v", out, err)
			}
		}
		if intPart, frac, _ := strings.Cut(canon, "."); len(frac) <= 2 {
			want := intPart + "." + frac + strings.Repeat("0", 2-len(frac))
			if got := money(a.Decimal, ledger.CNY); got != want {
				t.Fatalf("%q at the fen is %q, want %q", s, got, want)
			}
		}
	})
}

// plainDecimal is the grammar of an amount, spelt out: an optional '-', 1 to
// 18 ASCII digits with no leading zero unless the only one, then optionally
// '.' and 1 to 8 digits.
func plainDecimal(s string) bool {
	s = strings.TrimPrefix(s, "-")
	intPart, frac, hasPoint := strings.Cut(s, ".")
	digits := func(x string) bool {
		for _, c := range []byte(x) {
			if c < '0' || c > '9' {
				return false
			}
		}
		return true
	}
	switch {
	case len(intPart) < 1 || len(intPart) > 18 || !digits(intPart) || (len(intPart) > 1 && intPart[0] == '0'):
		return false
	case hasPoint:
		return len(frac) >= 1 && len(frac) <= 8 && digits(frac)
	}
	return true
}

// canonicalDecimal is a plain decimal without trailing decimal zeros, a
// bare '.', or the sign of zero.
func canonicalDecimal(s string) string {
	neg := strings.HasPrefix(s, "-")
	intPart, frac, _ := strings.Cut(strings.TrimPrefix(s, "-"), ".")
	frac = strings.TrimRight(frac, "0")
	out := intPart
	if frac != "" {
		out += "." + frac
	}
	if neg && out != "0" {
		out = "-" + out
	}
	return out
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// FuzzEvent: decoding and validating an event body never panics, and an
// event that passes validation is well-formed enough to price.
func FuzzEvent(f *testing.F) {
	f.Add([]byte(`{"event_id":"e1","type":"shipment.completed","customer_id":"C1","shipment_id":"S1","amount":"123.45","occurred_at":"2026-03-01T10:00:00+08:00"}`))
	f.Add([]byte(`{"event_id":"e2","type":"feedback.submitted","customer_id":"C1","shipment_id":"S1","rating":5,"occurred_at":"2026-03-01T10:00:00Z"}`))
	f.Add([]byte(`{"event_id":"e3","type":"shipment.refunded","customer_id":"C1","shipment_id":"S1","amount":"-0","occurred_at":"2026-03-01T10:00:00Z"}`))
	f.Add([]byte(`{"event_id":"","type":"x","amount":1e9999}`))
	f.Add([]byte(`[{"event_id":"e"}]`))
	svc := loyalty.New(nil, ledger.New(nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		var req eventRequest
		if err := decodeStrict(data, &req); err != nil {
			if p := problemFor(jsonError(err)); p.Status < 400 || p.Status >= 500 {
				t.Fatalf("decode error %v answers %d", err, p.Status)
			}
			return
		}
		ev := req.event()
		if err := svc.Validate(&ev); err != nil {
			if p := problemFor(err); p.Status < 400 || p.Status >= 500 {
				t.Fatalf("validation error %v answers %d", err, p.Status)
			}
			return
		}
		if ev.OccurredAt.IsZero() || ev.OccurredAt.After(time.Now().Add(10*time.Minute)) {
			t.Fatalf("accepted occurred_at %s", ev.OccurredAt)
		}
		if ev.Type != loyalty.FeedbackSubmitted && (ev.Amount == nil || !ev.Amount.IsPositive()) {
			t.Fatalf("accepted amount %v", ev.Amount)
		}
	})
}
