package web

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/tally-ledger/tally/catalog"
	"github.com/tally-ledger/tally/loyalty"
	"github.com/tally-ledger/tally/prepaid"
)

// TestEveryWordingHasItsChinese: each message of a statement's wording
// has a Chinese text that shows every value the English shows, each once,
// and no Chinese text is left for a message that is gone.
func TestEveryWordingHasItsChinese(t *testing.T) {
	verb := regexp.MustCompile(`%(\[\d+\])?[+]?[ds]`)
	for key, en := range loyalty.WordingEnglish {
		if !strings.HasPrefix(key, "desc.") {
			continue
		}
		zh, ok := wordingZH[key]
		if !ok {
			t.Errorf("%s has no Chinese", key)
			continue
		}
		// One distinct value per verb of the English, of the verb's type.
		var args []any
		for i, v := range verb.FindAllString(en, -1) {
			if strings.HasSuffix(v, "d") {
				args = append(args, int64(9000+i))
			} else {
				args = append(args, fmt.Sprintf("V%d", i))
			}
		}
		got := fmt.Sprintf(zh, args...)
		if strings.Contains(got, "%!") {
			t.Errorf("%s: %q with the English's values gives %q", key, zh, got)
		}
		for _, a := range args {
			if n := strings.Count(got, fmt.Sprint(a)); n != 1 {
				t.Errorf("%s: %q shows %v %d times, want once", key, got, a, n)
			}
		}
	}
	for key := range wordingZH {
		if _, ok := loyalty.WordingEnglish[key]; strings.HasPrefix(key, "desc.") && !ok {
			t.Errorf("%s: Chinese for a message that does not exist", key)
		}
	}
}

// TestWordsOfAWordingAreTranslated: segments, accounts and kinds inside a
// wording are said in Chinese; ids and reasons stay as written; English is
// the API's.
func TestWordsOfAWordingAreTranslated(t *testing.T) {
	w := loyalty.Wording{
		{Msg: "shipment", Args: []any{int64(148), "S-3", loyalty.Segment("mid"), "1.2"}},
		{Msg: "close"},
	}
	if got, want := say(langZH, w), "发货 S-3 获得 148 积分（中端客户 ×1.2）"; got != want {
		t.Errorf("zh %q, want %q", got, want)
	}
	if got, want := say(langEN, w), "148 points for shipment S-3 (mid-tier x1.2)"; got != want {
		t.Errorf("en %q, want %q", got, want)
	}
	other := loyalty.Wording{
		{Msg: "other", Args: []any{loyalty.Kind("goodwill")}},
		{Msg: "money", Args: []any{"10.00", loyalty.Account("rebate")}},
		{Msg: "reason", Args: []any{"late parcel"}},
	}
	if got, want := say(langZH, other), "goodwill：返利 10.00 元（late parcel）"; got != want {
		t.Errorf("zh %q, want %q (an admin's own kind and reason as written)", got, want)
	}
}

// TestEveryKindOfEntryHasItsChinese: the kinds a customer's statement may
// show in its generic wording, or name as an entry corrected, are said in
// Chinese.
func TestEveryKindOfEntryHasItsChinese(t *testing.T) {
	for _, kind := range []string{prepaid.Deposit, prepaid.Charge, prepaid.Withdrawal, "manual", "reversal",
		loyalty.ShipmentCompleted, loyalty.ShipmentRefunded, loyalty.FeedbackSubmitted, loyalty.KindSettlement,
		loyalty.KindExpiryUndone, "expiry", catalog.KindRedemption, catalog.KindCancelled} {
		if _, ok := wordingZH["kind."+kind]; !ok {
			t.Errorf("kind %s has no Chinese", kind)
		}
	}
}
