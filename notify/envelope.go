package notify

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"
)

// Envelope is the notification as partners receive it, in webhook bodies
// and in the pull feed:
//
//	{"id": "ntf_42", "type": "points.earned", "occurred_at": "2026-11-30T05:00:00Z",
//	 "customer_id": "C1", "data": {...the type's payload...}}
//
// occurred_at is in UTC; customer_id is null when the notification is about
// no one customer. The same notification always renders to the same bytes:
// those encoding/json gives the five fields with HTML left unescaped (a
// test holds the two equal), written here without reflection because the
// dispatcher renders one for every request it sends.
func Envelope(n Notification) ([]byte, error) {
	at := n.OccurredAt.UTC()
	if y := at.Year(); y < 0 || y > 9999 {
		return nil, fmt.Errorf("notify: occurred_at %v: year outside [0,9999]", at)
	}
	b := make([]byte, 0, 96+len(n.Type)+len(n.Customer)+len(n.Payload))
	b = append(b, `{"id":"ntf_`...)
	b = strconv.AppendInt(b, n.Seq, 10)
	b = append(b, `","type":`...)
	b = appendString(b, n.Type)
	b = append(b, `,"occurred_at":"`...)
	b = at.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","customer_id":`...)
	if n.Customer != "" {
		b = appendString(b, n.Customer)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"data":`...)
	if len(n.Payload) == 0 {
		b = append(b, "{}"...)
	} else {
		buf := bytes.NewBuffer(b)
		if err := json.Compact(buf, n.Payload); err != nil {
			return nil, fmt.Errorf("notify: payload of ntf_%d: %w", n.Seq, err)
		}
		b = buf.Bytes()
	}
	return append(b, '}'), nil
}

// MarshalJSON renders the notification as its Envelope.
func (n Notification) MarshalJSON() ([]byte, error) { return Envelope(n) }

// shortEscape is the letter of each control character JSON escapes short.
var shortEscape = [...]byte{'\b': 'b', '\t': 't', '\n': 'n', '\f': 'f', '\r': 'r'}

// appendString appends s as a JSON string, as encoding/json writes one
// with HTML left unescaped: `"` and `\` escaped, \b \f \n \r \t short,
// other control characters as \u00XX, U+2028 and U+2029 as \u2028 and
// \u2029, and each byte of invalid UTF-8 as \ufffd.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		var esc []byte
		c, size := s[i], 1
		switch {
		case c >= 0x20 && c < utf8.RuneSelf && c != '"' && c != '\\':
			i++
			continue
		case c == '"' || c == '\\':
			esc = []byte{'\\', c}
		case int(c) < len(shortEscape) && shortEscape[c] != 0:
			esc = []byte{'\\', shortEscape[c]}
		case c < utf8.RuneSelf:
			esc = []byte{'\\', 'u', '0', '0', hex[c>>4], hex[c&0xf]}
		default:
			var r rune
			r, size = utf8.DecodeRuneInString(s[i:])
			switch {
			case r == utf8.RuneError && size == 1:
				esc = []byte(`\ufffd`)
			case r == '\u2028' || r == '\u2029':
				esc = []byte{'\\', 'u', '2', '0', '2', hex[r&0xf]}
			default:
				i += size
				continue
			}
		}
		b = append(append(b, s[start:i]...), esc...)
		i += size
		start = i
	}
	return append(append(b, s[start:]...), '"')
}
