// Package textclass checks that a string is made of bytes of one class,
// a length within bounds: what a regular expression ^[class]{min,max}$
// checks, without running a regexp engine. The event path checks an
// event's ids this way for every event of a batch.
package textclass

import (
	"unicode"
	"unicode/utf8"
)

// Class is a set of bytes.
type Class [256]bool

// Of is the class of the bytes lo to hi (inclusive) in each range, a
// two-byte string ("az", "09"), and of each byte of extra.
func Of(extra string, ranges ...string) *Class {
	var c Class
	for _, r := range ranges {
		for b := int(r[0]); b <= int(r[1]); b++ {
			c[b] = true
		}
	}
	for i := 0; i < len(extra); i++ {
		c[extra[i]] = true
	}
	return &c
}

// Match reports whether s has min to max bytes, each of the class.
func (c *Class) Match(s string, min, max int) bool {
	if len(s) < min || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !c[s[i]] {
			return false
		}
	}
	return true
}

// IsText reports whether s is UTF-8 without a control character (NUL
// among them): what a parameter must be to be stored or compared by
// PostgreSQL, whose text holds no NUL and must be valid in its encoding.
func IsText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// IsPlain reports whether s is text (IsText) that shows as itself: no
// bidirectional control (a right-to-left override reorders what follows
// it, so that "refund 0001" can be made to read "1000 dnufer"), nor a line
// or paragraph separator. What a caller writes for people to read (a
// reason on a customer's statement, a product's name) must be plain.
func IsPlain(s string) bool {
	if !IsText(s) {
		return false
	}
	for _, r := range s {
		if r >= 0x61c && unicode.In(r, unicode.Bidi_Control, unicode.Zl, unicode.Zp) {
			return false
		}
	}
	return true
}
