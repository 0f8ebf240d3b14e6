package web

import (
	"fmt"
	"html/template"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/finance"
)

// The console's charts are SVG drawn here, on the server: no script, no
// library, nothing to fetch, and the page works offline and under a CSP
// that allows no script. Colours are classes of the style sheet (s0, s1,
// ...), so no inline style is needed. Each chart has its data in the table
// beside it, and a title for screen readers.

// chart is a bar chart by month: one bar per stack and month, each bar the
// sum of the series in its stack, drawn one on another.
type chart struct {
	Lang   string
	Labels []string            // the months
	Series []string            // message keys
	Stack  []int               // each series' stack; nil is one stack per series
	Values [][]decimal.Decimal // per label, per series
	// Money writes a bar's figure at the fen (400.00, 12.50, as every page
	// writes CNY); otherwise it is written as it is (points: 148).
	Money bool
}

const (
	chartW, chartH           = 640, 240
	chartLeft, chartBottom   = 64, 28
	chartTop, chartRightEdge = 12, 8
)

func (ch chart) bars(title string) template.HTML {
	return ch.svg(title)
}

// grouped stacks the earning channels in one bar and what left the
// liability (redeemed, expired) in another.
func (ch chart) grouped(title string) template.HTML {
	ch.Stack = make([]int, len(ch.Series))
	for i := len(finance.PointsChannels); i < len(ch.Series); i++ {
		ch.Stack[i] = 1
	}
	return ch.svg(title)
}

// figure is how a bar's title writes v.
func (ch chart) figure(v decimal.Decimal) string {
	if ch.Money {
		return v.StringFixed(2)
	}
	return v.String()
}

func (ch chart) svg(title string) template.HTML {
	stack := ch.Stack
	if stack == nil {
		for i := range ch.Series {
			stack = append(stack, i)
		}
	}
	stacks := 0
	for _, s := range stack {
		stacks = max(stacks, s+1)
	}
	top := decimal.Zero
	for _, vs := range ch.Values {
		sums := make([]decimal.Decimal, stacks)
		for i, v := range vs {
			if v.IsPositive() {
				sums[stack[i]] = sums[stack[i]].Add(v)
			}
		}
		for _, s := range sums {
			top = decimal.Max(top, s)
		}
	}
	top = niceTop(top)
	plotW, plotH := float64(chartW-chartLeft-chartRightEdge), float64(chartH-chartTop-chartBottom)
	y := func(v decimal.Decimal) float64 { return v.Div(top).InexactFloat64() * plotH }
	var b strings.Builder
	t := template.HTMLEscapeString(translate(ch.Lang, title))
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-labelledby="%s-t" xmlns="http://www.w3.org/2000/svg">`,
		chartW, chartH, strings.ReplaceAll(title, ".", "-"))
	fmt.Fprintf(&b, `<title id="%s-t">%s</title>`, strings.ReplaceAll(title, ".", "-"), t)
	for _, f := range []float64{0, 0.5, 1} {
		v := top.Mul(decimal.NewFromFloat(f))
		yy := float64(chartTop) + plotH - y(v)
		fmt.Fprintf(&b, `<line class="grid" x1="%d" x2="%d" y1="%.1f" y2="%.1f"/>`, chartLeft, chartW-chartRightEdge, yy, yy)
		fmt.Fprintf(&b, `<text class="axis" x="%d" y="%.1f" text-anchor="end">%s</text>`, chartLeft-6, yy+4, group(v.String()))
	}
	slot := plotW / float64(max(len(ch.Labels), 1))
	barW := slot * 0.7 / float64(stacks)
	for i, label := range ch.Labels {
		x0 := float64(chartLeft) + slot*float64(i) + slot*0.15
		base := make([]float64, stacks)
		for j, v := range ch.Values[i] {
			if !v.IsPositive() {
				continue
			}
			h := y(v)
			s := stack[j]
			base[s] += h
			fmt.Fprintf(&b, `<rect class="s%d" x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s %s: %s</title></rect>`,
				j, x0+barW*float64(s), float64(chartTop)+plotH-base[s], barW, h, label,
				template.HTMLEscapeString(translate(ch.Lang, ch.Series[j])), group(ch.figure(v)))
		}
		fmt.Fprintf(&b, `<text class="axis" x="%.1f" y="%d" text-anchor="middle">%s</text>`, x0+slot*0.35, chartH-8, label)
	}
	b.WriteString(`</svg><ul class="legend">`)
	for j, s := range ch.Series {
		fmt.Fprintf(&b, `<li><span class="sw s%d"></span>%s</li>`, j, template.HTMLEscapeString(capitalized(translate(ch.Lang, s))))
	}
	b.WriteString(`</ul>`)
	return template.HTML(b.String())
}

// niceTop is the top of a chart whose highest bar is v: the least of 1,
// 2, 2.5 or 5 times a power of ten at or above it (1 for nothing to
// draw), so that the axis's figures, the top and its half, are round.
func niceTop(v decimal.Decimal) decimal.Decimal {
	if !v.IsPositive() {
		return decimal.NewFromInt(1)
	}
	steps := []decimal.Decimal{decimal.NewFromInt(1), decimal.NewFromInt(2), decimal.RequireFromString("2.5"), decimal.NewFromInt(5)}
	for p := decimal.New(1, -8); ; p = p.Shift(1) {
		for _, f := range steps {
			if c := p.Mul(f); c.GreaterThanOrEqual(v) {
				return c
			}
		}
	}
}

// capitalized is s with its first letter upper case (a legend's entry; a
// message such as "volume" is written to go inside a sentence).
func capitalized(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	return string(unicode.ToUpper(r)) + s[n:]
}

// pyramid draws the segments as centred bars, the top segment on top, each
// as wide as its share of the customers.
func pyramid(lang string, rows []finance.GroupRow) template.HTML {
	most := 1
	for _, r := range rows {
		most = max(most, r.Customers)
	}
	const rowH, w = 36, 640
	h := rowH*len(rows) + 8
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-labelledby="pyramid-t" xmlns="http://www.w3.org/2000/svg">`, w, h)
	fmt.Fprintf(&b, `<title id="pyramid-t">%s</title>`, template.HTMLEscapeString(translate(lang, "segments.pyramid")))
	for i := range rows {
		r := rows[len(rows)-1-i]                             // the highest segment first
		bw := max(460*float64(r.Customers)/float64(most), 2) // between x 120 and 580

		y := 4 + i*rowH
		fmt.Fprintf(&b, `<rect class="s%d" x="%.1f" y="%d" width="%.1f" height="%d"/>`, i, 350-bw/2, y, bw, rowH-6)
		fmt.Fprintf(&b, `<text class="label" x="8" y="%d">%s</text>`, y+rowH/2+2, template.HTMLEscapeString(translate(lang, "segment."+r.Name)))
		fmt.Fprintf(&b, `<text class="label" x="%d" y="%d" text-anchor="end">%d</text>`, w-8, y+rowH/2+2, r.Customers)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// split draws the A/B/C classes as bars as long as their share of the
// month's contribution.
func split(lang string, rows []finance.GroupRow) template.HTML {
	const rowH, w = 36, 640
	h := rowH*len(rows) + 8
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-labelledby="split-t" xmlns="http://www.w3.org/2000/svg">`, w, h)
	fmt.Fprintf(&b, `<title id="split-t">%s</title>`, template.HTMLEscapeString(translate(lang, "segments.abc")))
	for i, r := range rows {
		y := 4 + i*rowH
		bw := max(r.Share.InexactFloat64()*float64(w-260), 1)
		fmt.Fprintf(&b, `<text class="label" x="8" y="%d">%s</text>`, y+rowH/2+2, template.HTMLEscapeString(translate(lang, "class."+r.Name)))
		fmt.Fprintf(&b, `<rect class="s%d" x="170" y="%d" width="%.1f" height="%d"/>`, i, y, bw, rowH-6)
		fmt.Fprintf(&b, `<text class="label" x="%d" y="%d" text-anchor="end">%s%%</text>`, w-8, y+rowH/2+2,
			strings.TrimSuffix(percent(&r.Share), "%"))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}
