package loyalty

import (
	"fmt"
	"strings"
)

// Wording is what an entry meant for its customer, in words, kept in
// pieces so that a page can say it in its reader's language. String gives
// the English the API answers as a statement entry's description.
type Wording []Phrase

// A Phrase is one message of a wording and the values it is written with.
// A value of type Segment, Account or Kind is itself a word to translate;
// any other is shown as it is (ids, amounts, a reason as its author wrote
// it).
type Phrase struct {
	Msg  string
	Args []any
}

type (
	// Segment is a segment's code (mid, vip, ...) inside a wording.
	Segment string
	// Account names one of the customer's accounts (points, prepaid,
	// rebate) inside a wording.
	Account string
	// Kind is an entry's kind inside a wording.
	Kind string
)

// WordingEnglish is the English of every message (keyed "desc.<msg>") and
// of the words that are not shown as they are ("segment.<code>"). A word
// without an entry here is shown as it is in English: an account's name,
// an entry's kind.
var WordingEnglish = map[string]string{
	"desc.referral":           "%d referral points for %s's shipment %s",
	"desc.shipment":           "%d points for shipment %s (%s x%s",
	"desc.campaign":           ", campaign %s x%s",
	"desc.close":              ")",
	"desc.referral_cancelled": "%d referral points cancelled: %s's shipment %s refunded in full",
	"desc.owed":               "; %s more owed, settled from the next points you receive",
	"desc.refund":             "%d points taken back for the refund of shipment %s",
	"desc.refund_rating":      " (in full: its rating's %s points too)",
	"desc.settlement":         "%d points settle what refunds could not take back (",
	"desc.settled":            "%d for shipment %s",
	"desc.separator":          ", ",
	"desc.settled_expired":    ", from points returned after they expired",
	"desc.feedback":           "%d points for rating shipment %s",
	"desc.redemption":         "%d points redeemed for %s x %s (%s)",
	"desc.redemption_cancel":  "%d points returned: redemption cancelled (%s)",
	"desc.expiry":             "%d points expired",
	"desc.expiry_undone":      "%d expired points restored: expiry run %s undone (%s)",
	"desc.reversal":           "correction of an earlier %s: %s",
	"desc.other":              "%s: ",
	"desc.points":             "%+d points",
	"desc.money":              "%s CNY %s",
	"desc.reason":             " (%s)",
	"segment.mid":             "mid-tier",
	"segment.vip":             "VIP",
}

// Say writes w with text, which gives a message's or a word's text in the
// reader's language by its key ("desc.<msg>", "segment.<code>",
// "account.<name>", "kind.<kind>"), or "" where it has none: English is
// used then.
func (w Wording) Say(text func(key string) string) string {
	look := func(key, asIs string) string {
		if s := text(key); s != "" {
			return s
		}
		if s, ok := WordingEnglish[key]; ok {
			return s
		}
		return asIs
	}
	var b strings.Builder
	for _, p := range w {
		args := make([]any, len(p.Args))
		for i, a := range p.Args {
			switch v := a.(type) {
			case Segment:
				args[i] = look("segment."+string(v), string(v))
			case Account:
				args[i] = look("account."+string(v), string(v))
			case Kind:
				args[i] = look("kind."+string(v), string(v))
			default:
				args[i] = a
			}
		}
		fmt.Fprintf(&b, look("desc."+p.Msg, p.Msg), args...)
	}
	return b.String()
}

// String is w in English.
func (w Wording) String() string { return w.Say(func(string) string { return "" }) }
