package api

import (
	"bufio"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"
)

// csvWriter writes RFC 4180 records (fields separated by commas, records
// ended by \n) that are safe to open in a spreadsheet, following OWASP's
// advice on CSV injection: a text cell that begins with '=', '+', '-', '@',
// a tab or a carriage return is written with a single quote before it and
// inside double quotes, so no spreadsheet reads it as a formula. A cell that
// is a decimal number ([+-]digits[.digits], an amount such as -12.34) is a
// number to a spreadsheet, never a formula, and is written as it is.
type csvWriter struct {
	w   *bufio.Writer
	err error
}

func newCSVWriter(w io.Writer) *csvWriter { return &csvWriter{w: bufio.NewWriter(w)} }

// Write writes one record.
func (w *csvWriter) Write(record []string) error {
	if w.err != nil {
		return w.err
	}
	for i, field := range record {
		if i > 0 {
			w.w.WriteByte(',')
		}
		if formulaLike(field) {
			field = "'" + field
		} else if !needsQuotes(field) {
			w.w.WriteString(field)
			continue
		}
		w.w.WriteByte('"')
		w.w.WriteString(strings.ReplaceAll(field, `"`, `""`))
		w.w.WriteByte('"')
	}
	_, w.err = w.w.WriteString("\n")
	return w.err
}

// Flush sends what is buffered.
func (w *csvWriter) Flush() {
	if err := w.w.Flush(); w.err == nil {
		w.err = err
	}
}

// Error is the first error of a Write or Flush.
func (w *csvWriter) Error() error { return w.err }

// formulaLike reports whether a spreadsheet could read the cell as a
// formula: it begins with = + - @ tab or carriage return and is not a
// decimal number.
func formulaLike(field string) bool {
	if field == "" || !strings.ContainsRune("=+-@\t\r", rune(field[0])) {
		return false
	}
	return !decimalNumber(field)
}

// decimalNumber reports whether s is [+-]digits[.digits].
func decimalNumber(s string) bool {
	if s != "" && (s[0] == '+' || s[0] == '-') {
		s = s[1:]
	}
	whole, frac, dot := strings.Cut(s, ".")
	return digits(whole) && (!dot || digits(frac))
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// needsQuotes is encoding/csv's rule: a field holding a comma, a quote or a
// line break, or beginning with a space, is quoted.
func needsQuotes(field string) bool {
	if field == "" {
		return false
	}
	if field == `\.` || strings.ContainsAny(field, ",\"\r\n") {
		return true
	}
	r, _ := utf8.DecodeRuneInString(field)
	return unicode.IsSpace(r)
}
