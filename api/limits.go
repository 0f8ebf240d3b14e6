package api

import (
	"bytes"
	"encoding"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/textclass"
	"github.com/tally-ledger/tally/notify/webhook"
	"github.com/tally-ledger/tally/rules"
)

// The bounds of what a caller sends as text, in bytes of UTF-8, and of what
// a list answers. openapi.yaml states each (maxLength, maxProperties).
const (
	// maxReasonBytes bounds a reason (reversals, cancellations, manual
	// entries).
	maxReasonBytes = 1000
	// maxTextBytes bounds every other string of a body: names, ids, codes,
	// kinds, segments. Most have a narrower grammar of their own.
	maxTextBytes = 200
	// maxMetadataBytes bounds an entry's metadata as sent; it holds at most
	// maxMetadataKeys keys, each at most maxTextBytes, each with a value of
	// at most maxMetadataValueBytes as sent.
	maxMetadataBytes      = 4096
	maxMetadataKeys       = 32
	maxMetadataValueBytes = 1000
	// maxParamBytes bounds a query or path parameter.
	maxParamBytes = 256
	// maxPageBytes bounds the rows of a page as encoded: a page stops before
	// the row that would pass it (it always holds one row), and its cursor
	// continues from there.
	maxPageBytes = 512 << 10
)

// textLimit is the bound of a body's string field by its JSON name.
func textLimit(field string) int {
	switch field {
	case "reason":
		return maxReasonBytes
	case "url":
		return webhook.MaxURLBytes
	}
	return maxTextBytes
}

// tooLong is the refusal of an over-long field: 422 invalid naming it.
func tooLong(field string, limit int) error {
	return fault.InvalidField(field, fmt.Sprintf("too long: at most %d bytes", limit))
}

// checkText walks a decoded body and refuses the first string (or map key)
// over its bound, and metadata over its, and every instant outside the
// years the service takes (checkInstant). Values that parse themselves
// (amounts) have grammars of their own and are not walked.
func checkText(v any) error {
	return walkText(reflect.ValueOf(v), "")
}

var (
	timeType            = reflect.TypeFor[time.Time]()
	rawMessageType      = reflect.TypeFor[json.RawMessage]()
	jsonUnmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// textPlan is what walkText needs of a type, worked out once per type: the
// walk runs over every request body (each event of a batch), and asking
// reflect whether a type parses itself, or reading a struct's tags, cost
// more than the walk.
type textPlan struct {
	parsesItself bool // its own UnmarshalJSON or UnmarshalText: not walked
	fields       []textField
}

type textField struct {
	index int
	name  string // JSON name; "" for an embedded struct's fields, which are the parent's
	// leaf: a plain string, bounded by its own name without a walk
	leaf bool
}

var textPlans sync.Map // reflect.Type → *textPlan

func planOf(t reflect.Type) *textPlan {
	if p, ok := textPlans.Load(t); ok {
		return p.(*textPlan)
	}
	p := &textPlan{parsesItself: parsesItself(t)}
	if t.Kind() == reflect.Struct {
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			if f.Anonymous && f.Tag.Get("json") == "" {
				name = "" // embedded: its fields are the parent's
			}
			leaf := name != "" && f.Type.Kind() == reflect.String && f.Type != rawMessageType && !parsesItself(f.Type)
			p.fields = append(p.fields, textField{index: i, name: name, leaf: leaf})
		}
	}
	textPlans.Store(t, p)
	return p
}

func parsesItself(t reflect.Type) bool {
	return t.Kind() != reflect.Pointer && t.Kind() != reflect.Interface &&
		(reflect.PointerTo(t).Implements(jsonUnmarshalerType) || reflect.PointerTo(t).Implements(textUnmarshalerType))
}

func walkText(v reflect.Value, path string) error {
	if !v.IsValid() {
		return nil
	}
	t := v.Type()
	if t == timeType {
		return checkInstant(v.Interface().(time.Time), path, false)
	}
	if t == rawMessageType {
		if lastName(path) == "metadata" {
			return checkMetadata(v.Bytes(), path)
		}
		return nil // decoded, and checked, on its own (a batch's events)
	}
	plan := planOf(t)
	if plan.parsesItself {
		return nil
	}
	switch t.Kind() {
	case reflect.String:
		return checkString(v.String(), path, lastName(path))
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() && v.Elem().Type() == timeType {
			// An optional instant sent is never absent: the zero time too
			// is refused.
			return checkInstant(v.Elem().Interface().(time.Time), path, true)
		}
		if !v.IsNil() {
			return walkText(v.Elem(), path)
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			if err := walkText(v.Index(i), path+"["+strconv.Itoa(i)+"]"); err != nil {
				return err
			}
		}
	case reflect.Map:
		iter := v.MapRange()
		for iter.Next() {
			k := fmt.Sprint(iter.Key().Interface())
			if len(k) > maxTextBytes {
				return tooLong(join(path, clip(k)), maxTextBytes)
			}
			if err := walkText(iter.Value(), join(path, k)); err != nil {
				return err
			}
		}
	case reflect.Struct:
		for _, f := range plan.fields {
			fv := v.Field(f.index)
			switch {
			case f.leaf: // the path is built only for a refusal
				if fv.Len() > 0 && !ok(fv.String(), f.name) {
					return checkString(fv.String(), join(path, f.name), f.name)
				}
				continue
			case (fv.Kind() == reflect.Pointer || fv.Kind() == reflect.Interface) && fv.IsNil():
				continue
			}
			if err := walkText(fv, join(path, f.name)); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkString refuses a string over the bound of its field (named name,
// at path) or not plain text: a control character, a bidirectional
// control or a line separator, which would show on a statement, a page or
// in a CSV as something else than what was written.
func checkString(s, path, name string) error {
	if limit := textLimit(name); len(s) > limit {
		return tooLong(path, limit)
	}
	if !textclass.IsPlain(s) {
		return fault.InvalidField(path, notPlain)
	}
	return nil
}

// notPlain is what a refused string's field is told.
const notPlain = "text only: no control characters (line breaks among them), direction controls or line separators"

// ok reports whether checkString passes s, without building its path.
func ok(s, name string) bool { return len(s) <= textLimit(name) && textclass.IsPlain(s) }

// checkInstant refuses an instant outside the years 1970 to 2999 (UTC),
// which no business is dated in and which JSON or PostgreSQL could not write
// back once stored (rules.InRange): 422 invalid, naming the field. A
// required instant left out (the zero time, unless sent says it was sent,
// as an optional one's pointer does) is for its handler to default or
// refuse.
func checkInstant(t time.Time, field string, sent bool) error {
	if (t.IsZero() && !sent) || rules.InRange(t) {
		return nil
	}
	return fault.InvalidField(field, "out of range: "+rules.InstantsRange)
}

// checkMetadata bounds an entry's metadata: its size as sent, its number of
// keys, and each key's length.
func checkMetadata(raw []byte, field string) error {
	if len(raw) > maxMetadataBytes {
		return tooLong(field, maxMetadataBytes)
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return nil // not an object: refused as such later
	}
	if len(m) > maxMetadataKeys {
		return fault.InvalidField(field, fmt.Sprintf("too many keys: at most %d", maxMetadataKeys))
	}
	for k, v := range m {
		if len(k) > maxTextBytes {
			return tooLong(field+"."+clip(k), maxTextBytes)
		}
		if len(v) > maxMetadataValueBytes {
			return tooLong(field+"."+k, maxMetadataValueBytes)
		}
		if !numbersWithin(v, maxMetadataDigits) {
			return fault.InvalidField(field+"."+k, fmt.Sprintf("a number of at most %d digits written out in full", maxMetadataDigits))
		}
	}
	return nil
}

// maxMetadataDigits bounds a number of the metadata written out in full:
// its size as sent does not bound it, an exponent does the rest. PostgreSQL
// keeps a number in full: 1e131071, eight bytes sent, stored 131,072 digits
// in every read of its entry, and 1e999999 failed the insert.
const maxMetadataDigits = 100

// numbersWithin reports whether every number of the JSON value v takes at
// most max digits written out in full: its digits, and its exponent's
// size (1e99 is 100 digits, 1.5e-98 is 100). A value that is not JSON is
// refused as such elsewhere.
func numbersWithin(v []byte, max int) bool {
	dec := json.NewDecoder(bytes.NewReader(v))
	dec.UseNumber()
	for {
		tok, err := dec.Token()
		if err != nil {
			return true // the end, or not JSON
		}
		if n, ok := tok.(json.Number); ok && numberDigits(string(n)) > max {
			return false
		}
	}
}

// numberDigits is how many digits the JSON number n takes written out in
// full, at least: its digits, plus its exponent's size.
func numberDigits(n string) int {
	mantissa, exp, _ := strings.Cut(strings.ToLower(n), "e")
	digits := 0
	for i := 0; i < len(mantissa); i++ {
		if '0' <= mantissa[i] && mantissa[i] <= '9' {
			digits++
		}
	}
	// JSON allows an exponent's leading zeros (1e007); past nine digits
	// it is more than any bound.
	exp = strings.TrimLeft(strings.TrimLeft(exp, "+-"), "0")
	if len(exp) > 9 {
		return math.MaxInt
	}
	e, _ := strconv.Atoi(exp)
	return digits + e
}

func join(path, name string) string {
	switch {
	case name == "":
		return path
	case path == "":
		return name
	}
	return path + "." + name
}

// lastName is the field a path ends in, without indexes: "segments" for
// "campaign.segments[2]".
func lastName(path string) string {
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		path = path[i+1:]
	}
	if i := strings.IndexByte(path, '['); i >= 0 {
		path = path[:i]
	}
	return path
}

// fitPage is how many of rows, from the first, fit within maxPageBytes as
// encoded; always at least one of a page that has any.
func fitPage[T any](rows []T) int {
	size := 0
	for i, r := range rows {
		b, err := json.Marshal(r)
		if err != nil {
			return len(rows) // the reply reports it
		}
		size += len(b) + 1
		if size > maxPageBytes && i > 0 {
			return i
		}
	}
	return len(rows)
}
