package money

import (
	"encoding/json"
	"testing"

	"github.com/shopspring/decimal"
)

// TestCNYIsWrittenAtItsScale: a CNY is written with two decimals however
// it was read or computed ("400", "123.4", 0, "-20.5", "1.500"), by
// encoding/json (in a struct, by pointer, omitted when zero with omitzero)
// and by AppendJSON alike, and reads any decimal back.
func TestCNYIsWrittenAtItsScale(t *testing.T) {
	for in, want := range map[string]string{"400": `"400.00"`, "123.4": `"123.40"`, "0": `"0.00"`, "-20.5": `"-20.50"`,
		"1.500": `"1.50"`, "0.01": `"0.01"`, "1000000000000": `"1000000000000.00"`} {
		c := Of(decimal.RequireFromString(in))
		b, err := json.Marshal(c)
		if err != nil || string(b) != want {
			t.Errorf("json.Marshal(%s) = %s, %v; want %s", in, b, err, want)
		}
		if got := string(c.AppendJSON([]byte("x"))); got != "x"+want {
			t.Errorf("AppendJSON(%s) = %s, want x%s", in, got, want)
		}
		if got := c.Fixed(); `"`+got+`"` != want {
			t.Errorf("Fixed(%s) = %s, want %s", in, got, want)
		}
		var back CNY
		if err := json.Unmarshal([]byte(`"`+in+`"`), &back); err != nil || !back.Equal(c.Decimal) {
			t.Errorf("json.Unmarshal(%q) = %s, %v", in, back, err)
		}
	}
	type doc struct {
		A CNY  `json:"a"`
		B *CNY `json:"b,omitempty"`
		C CNY  `json:"c,omitzero"`
		D *CNY `json:"d,omitempty"`
	}
	b, err := json.Marshal(doc{A: Of(decimal.NewFromInt(5)), B: Ptr(&decimal.Zero), D: Ptr(nil)})
	if want := `{"a":"5.00","b":"0.00"}`; err != nil || string(b) != want {
		t.Errorf("json.Marshal(doc) = %s, %v; want %s", b, err, want)
	}
}
