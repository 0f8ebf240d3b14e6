package webhook_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tally-ledger/tally/notify"
	"github.com/tally-ledger/tally/notify/webhook"
)

// BenchmarkDirectPage sends pages of 500 points.earned notices, each of
// its own customer, to one endpoint that accepts each at once: the
// dispatcher's direct path (read the page, send it, record it), as
// scenario 1w of make bench drives it. Writing the notices is not timed.
// It reports, per notice delivered, the time and the CPU time this
// process took (the dispatcher, and the receiver, an httptest server in
// the same process; PostgreSQL's is not counted), which a loaded machine
// changes less than the time.
func BenchmarkDirectPage(b *testing.B) {
	const page = 500
	var got atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		got.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	f := newFixture(b)
	f.cfg.PerEndpoint = 8 // the server's default
	s := f.service()
	ctx := context.Background()
	if _, _, err := s.Create(ctx, webhook.Owner{}, webhook.EndpointInput{URL: srv.URL + "/hook", Types: []string{notify.PointsEarned}}); err != nil {
		b.Fatal(err)
	}
	n := 0
	var cpu time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		events := make([]notify.Event, page)
		for i := range events {
			n++
			events[i] = earned(fmt.Sprintf("C%d", n), "12.50")
		}
		f.emit(events...)
		before := got.Load()
		start := cpuTime(b)
		b.StartTimer()
		for got.Load()-before < page {
			if step(b, s) == 0 {
				b.Fatalf("a step sent nothing with %d of the page's %d notices delivered", got.Load()-before, page)
			}
		}
		b.StopTimer()
		cpu += cpuTime(b) - start
		b.StartTimer()
	}
	b.StopTimer()
	if want := int64(b.N * page); got.Load() != want {
		b.Fatalf("the receiver took %d requests, want %d", got.Load(), want)
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*page), "µs/notice")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N*page), "cpu-µs/notice")
}

// cpuTime is the CPU time (user and system) this process has taken.
func cpuTime(b *testing.B) time.Duration {
	var u syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &u); err != nil {
		b.Fatal(err)
	}
	return time.Duration(u.Utime.Nano() + u.Stime.Nano())
}
