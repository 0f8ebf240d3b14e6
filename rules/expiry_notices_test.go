package rules

import (
	"encoding/json"
	"slices"
	"testing"
)

// The lead times of expiry notices (openapi.yaml's RuleSet): at most 4, each
// from 1 to 366 days, longest first, each shorter than the one before. Each
// bound at its allowed value is accepted and kept as written; one step past
// it is refused on expiry_notice_days.
func TestValidateExpiryNoticeDaysAtEachBound(t *testing.T) {
	for _, tc := range []struct {
		name string
		days []int
	}{
		{"FourLeadTimesFromTheLongestToTheShortest", []int{366, 30, 7, 1}},
		{"OneDay", []int{1}},
		{"ThreeHundredSixtySixDays", []int{366}},
		{"NeighboursOneDayApart", []int{2, 1}},
		{"NoLeadTime", []int{}},
	} {
		t.Run("Accepts"+tc.name, func(t *testing.T) {
			rs := Default()
			rs.ExpiryNoticeDays = slices.Clone(tc.days)
			if err := rs.Validate(); err != nil {
				t.Fatalf("Validate = %v, want %v accepted", err, tc.days)
			}
			if !slices.Equal(rs.ExpiryNoticeDays, tc.days) {
				t.Errorf("after Validate the lead times are %v, want %v as written", rs.ExpiryNoticeDays, tc.days)
			}
		})
	}
	for _, tc := range []struct {
		name string
		days []int
	}{
		{"FiveLeadTimes", []int{300, 30, 14, 7, 1}},
		{"ZeroDays", []int{30, 0}},
		{"ZeroDaysAlone", []int{0}},
		{"ThreeHundredSixtySevenDays", []int{367}},
		{"ThreeHundredSixtySevenDaysFirst", []int{367, 30}},
		{"EqualNeighbours", []int{30, 30}},
		{"EqualNeighboursAtTheEnd", []int{30, 7, 7}},
		{"ShortestFirst", []int{7, 30}},
		{"NegativeDays", []int{-1}},
	} {
		t.Run("Refuses"+tc.name, func(t *testing.T) {
			rs := Default()
			rs.ExpiryNoticeDays = slices.Clone(tc.days)
			ve, ok := rs.Validate().(*ValidationError)
			if !ok {
				t.Fatalf("Validate accepted lead times %v", tc.days)
			}
			if _, ok := ve.Fields["expiry_notice_days"]; !ok || len(ve.Fields) != 1 {
				t.Errorf("fields %v, want expiry_notice_days alone", ve.Fields)
			}
		})
	}
}

// A document's null means no notices: the rule set Parse answers holds an
// empty list (written back as [], as openapi.yaml's array), while a
// document without the field gets the default 30 and 7 days.
func TestParseExpiryNoticeDays(t *testing.T) {
	doc, err := json.Marshal(Default())
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(doc, &fields); err != nil {
		t.Fatal(err)
	}
	parse := func(t *testing.T, value json.RawMessage) RuleSet {
		t.Helper()
		if value == nil {
			delete(fields, "expiry_notice_days")
		} else {
			fields["expiry_notice_days"] = value
		}
		doc, err := json.Marshal(fields)
		if err != nil {
			t.Fatal(err)
		}
		rs, err := Parse(doc)
		if err != nil {
			t.Fatalf("Parse = %v", err)
		}
		return rs
	}
	t.Run("NullIsNoNotices", func(t *testing.T) {
		rs := parse(t, json.RawMessage("null"))
		if rs.ExpiryNoticeDays == nil || len(rs.ExpiryNoticeDays) != 0 {
			t.Fatalf("lead times %#v, want an empty list", rs.ExpiryNoticeDays)
		}
		out, err := json.Marshal(rs)
		if err != nil {
			t.Fatal(err)
		}
		var back struct {
			Days json.RawMessage `json:"expiry_notice_days"`
		}
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatal(err)
		}
		if string(back.Days) != "[]" {
			t.Errorf("written back as %s, want []", back.Days)
		}
	})
	t.Run("AbsentIsThirtyAndSevenDays", func(t *testing.T) {
		rs := parse(t, nil)
		if want := []int{30, 7}; !slices.Equal(rs.ExpiryNoticeDays, want) {
			t.Errorf("lead times %v, want %v", rs.ExpiryNoticeDays, want)
		}
	})
	t.Run("AsWritten", func(t *testing.T) {
		rs := parse(t, json.RawMessage("[60,14,3]"))
		if want := []int{60, 14, 3}; !slices.Equal(rs.ExpiryNoticeDays, want) {
			t.Errorf("lead times %v, want %v", rs.ExpiryNoticeDays, want)
		}
	})
}
