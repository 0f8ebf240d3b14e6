package replica

import "testing"

// WAL positions as PostgreSQL writes them: the high and low 32 bits in
// hexadecimal (the documentation's example, 16/B374D848, is 0x16B374D848).
func TestLSNTextForm(t *testing.T) {
	for _, c := range []struct {
		text string
		lsn  uint64
	}{
		{"0/0", 0}, {"0/3000060", 0x3000060}, {"16/B374D848", 0x16B374D848}, {"FFFFFFFF/FFFFFFFF", 1<<64 - 1},
	} {
		got, err := ParseLSN(c.text)
		if err != nil || got != c.lsn {
			t.Errorf("ParseLSN(%q) = %#x, %v; want %#x", c.text, got, err, c.lsn)
		}
		if back := FormatLSN(c.lsn); back != c.text {
			t.Errorf("FormatLSN(%#x) = %q, want %q", c.lsn, back, c.text)
		}
	}
	for _, bad := range []string{"", "0", "/0", "0/", "G/0", "0/G", "100000000/0", "0/100000000", "1/2/3", " 0/1"} {
		if _, err := ParseLSN(bad); err == nil {
			t.Errorf("ParseLSN(%q) accepted", bad)
		}
	}
}

// A URL listing several hosts gives one URL per host, each with the same
// user, database and parameters.
func TestSplitGivesOneURLPerHost(t *testing.T) {
	got, err := Split("postgres://tally@127.0.0.1:5001,127.0.0.1:5002/tally?sslmode=disable&target_session_attrs=standby")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"postgres://tally@127.0.0.1:5001/tally?sslmode=disable&target_session_attrs=standby",
		"postgres://tally@127.0.0.1:5002/tally?sslmode=disable&target_session_attrs=standby",
	}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("Split = %q, want %q", got, want)
	}
	for _, bad := range []string{"", "mysql://h/db", "postgres:///db", "host=h dbname=db"} {
		if _, err := Split(bad); err == nil {
			t.Errorf("Split(%q) accepted", bad)
		}
	}
}
