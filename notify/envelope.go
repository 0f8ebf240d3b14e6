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

// appendString appends s as a JSON string, as encoding/json writes one
// with HTML left unescaped: `"` and `\` escaped, \b \f \n \r \t short,
// other control characters as \u00XX, U+2028 and U+2029 as \u2028 and
// \u2029, and each byte of invalid UTF-8 as \ufffd.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, `\b`...)
			case '\f':
				b = append(b, `\f`...)
			case '\n':
				b = append(b, `\n`...)
			case '\r':
				b = append(b, `\r`...)
			case '\t':
				b = append(b, `\t`...)
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(append(b, s[start:]...), '"')
}
