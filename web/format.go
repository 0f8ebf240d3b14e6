package web

import (
	"html/template"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/money"
	"github.com/tally-ledger/tally/ledger"
)

// funcs format what the templates show: amounts grouped by thousands,
// instants in Asia/Shanghai.
var funcs = template.FuncMap{
	"pts":  func(n int64) string { return group(strconv.FormatInt(n, 10)) },
	"cny":  func(d fixed) string { return group(d.StringFixed(2)) },
	"cnyp": func(d *money.CNY) string { return cnyPtr(d) },
	// amount is d at its asset's scale, grouped by thousands.
	"amount":   func(d decimal.Decimal, a ledger.Asset) string { return group(d.StringFixed(a.Scale())) },
	"pct":      func(d *decimal.Decimal) string { return percent(d) },
	"rate":     func(d decimal.Decimal) string { return percent(&d) },
	"date":     func(t time.Time) template.HTML { return instant(t, "2006-01-02") },
	"datetime": func(t time.Time) template.HTML { return instant(t, "2006-01-02", "15:04") },
	"day":      func(t time.Time) string { return t.In(shanghai).Format("2006-01-02") }, // as text, inside a message
	"code":     func(c *fault.Code) string { return reasonKey(c) },
	// accountOf is which of its customer's accounts an account code names
	// (customer:C1:prepaid -> prepaid).
	"accountOf": func(code string) string { return code[strings.LastIndexByte(code, ':')+1:] },
	"signed": func(d decimal.Decimal, scale int32) string {
		s := group(d.StringFixed(scale))
		if d.IsPositive() {
			return "+" + s
		}
		return s
	},
	"signedCNY": func(d decimal.Decimal) string {
		s := "¥" + group(d.Abs().StringFixed(2))
		if d.IsNegative() {
			return "-" + s
		}
		return "+" + s
	},
}

// group puts a comma between each three digits of the whole part:
// -12345.67 -> -12,345.67.
func group(s string) string {
	sign := ""
	if strings.HasPrefix(s, "-") {
		sign, s = "-", s[1:]
	}
	whole, frac, dot := strings.Cut(s, ".")
	var b strings.Builder
	for i, r := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if dot {
		b.WriteString("." + frac)
	}
	return sign + b.String()
}

// fixed is what cny writes: a decimal.Decimal (a report's figures) or a
// money.CNY (the answers' CNY fields), whose methods are its decimal's.
type fixed interface{ StringFixed(places int32) string }

func cnyPtr(d *money.CNY) string {
	if d == nil {
		return "–"
	}
	return group(d.StringFixed(2))
}

// percent writes a rate (0.04) as a percentage (4%), with the decimals it
// needs.
func percent(d *decimal.Decimal) string {
	if d == nil {
		return "–"
	}
	return d.Mul(decimal.NewFromInt(100)).String() + "%"
}

func reasonKey(c *fault.Code) string {
	if c == nil {
		return ""
	}
	return "reason." + string(*c)
}

// instant is t in Asia/Shanghai as a <time> element, each of its parts
// (the date, the time of day) kept on one line: a narrow column breaks
// between them, never inside a date.
func instant(t time.Time, layouts ...string) template.HTML {
	t = t.In(shanghai)
	var b strings.Builder
	b.WriteString(`<time datetime="` + t.Format(time.RFC3339) + `">`)
	for i, l := range layouts {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(`<span class="nowrap">` + t.Format(l) + `</span>`)
	}
	b.WriteString(`</time>`)
	return template.HTML(b.String())
}
