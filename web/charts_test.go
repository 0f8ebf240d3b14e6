package web

import (
	"regexp"
	"slices"
	"testing"

	"github.com/shopspring/decimal"
)

// TestAChartsAxisHasRoundFigures: the top of a chart is the least round
// figure (1, 2, 2.5 or 5 times a power of ten) at or above its highest
// bar, so the axis reads 0, 250, 500 where it read 0, 247, 494; and a
// legend's entries start with a capital, whatever the message.
func TestAChartsAxisHasRoundFigures(t *testing.T) {
	for in, want := range map[string]string{"494": "500", "247": "250", "1": "1", "0": "1", "3208": "5000",
		"2623.45": "5000", "0.4": "0.5", "100": "100", "101": "200", "12000": "20000", "2100": "2500", "493.82": "500"} {
		if got := niceTop(decimal.RequireFromString(in)); !got.Equal(decimal.RequireFromString(want)) {
			t.Errorf("niceTop(%s) = %s, want %s", in, got, want)
		}
	}
	ch := chart{Lang: langEN, Labels: []string{"2026-03", "2026-04"}, Series: []string{"channel.volume", "points.expired"},
		Values: [][]decimal.Decimal{{decimal.NewFromInt(494), decimal.NewFromInt(3)}, {decimal.NewFromInt(100), decimal.Zero}}}
	svg := string(ch.svg("points.chart"))
	var axis []string
	for _, m := range regexp.MustCompile(`<text class="axis"[^>]*text-anchor="end">([^<]*)</text>`).FindAllStringSubmatch(svg, -1) {
		axis = append(axis, m[1])
	}
	if want := []string{"0", "250", "500"}; !slices.Equal(axis, want) {
		t.Errorf("axis %q, want %q", axis, want)
	}
	var legend []string
	for _, m := range regexp.MustCompile(`<li><span class="sw s\d+"></span>([^<]*)</li>`).FindAllStringSubmatch(svg, -1) {
		legend = append(legend, m[1])
	}
	if want := []string{"Volume", "Expired"}; !slices.Equal(legend, want) {
		t.Errorf("legend %q, want %q", legend, want)
	}
}

// TestAMoneyChartsBarsSayTheirFiguresAtTheFen: a bar's figure (its title,
// what a pointer or a screen reader finds) is written as every page writes
// money, 400.00 and 12.50, not 400 and 12.5; another chart's figures are
// written as they are, nothing rounded away.
func TestAMoneyChartsBarsSayTheirFiguresAtTheFen(t *testing.T) {
	for money, want := range map[bool][]string{true: {"2026-03 Granted: 400.00", "2026-03 Used by charges: 12.50"}, false: {"2026-03 Granted: 400", "2026-03 Used by charges: 12.5"}} {
		ch := chart{Lang: langEN, Labels: []string{"2026-03"}, Series: []string{"rebates.granted", "rebates.used"}, Money: money,
			Values: [][]decimal.Decimal{{decimal.RequireFromString("400"), decimal.RequireFromString("12.5")}}}
		var got []string
		for _, m := range regexp.MustCompile(`<rect [^>]*><title>([^<]*)</title>`).FindAllStringSubmatch(string(ch.svg("rebates.chart")), -1) {
			got = append(got, m[1])
		}
		if !slices.Equal(got, want) {
			t.Errorf("money %v: bars %q, want %q", money, got, want)
		}
	}
}
