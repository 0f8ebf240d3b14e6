package webhook_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/tally-ledger/tally/notify/webhook"
)

// peakReceiver accepts every request after a short while and remembers
// the most it held at once.
type peakReceiver struct {
	srv       *httptest.Server
	mu        sync.Mutex
	now, peak int
}

func newPeakReceiver(t *testing.T, hold time.Duration) *peakReceiver {
	r := &peakReceiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.now++
		r.peak = max(r.peak, r.now)
		r.mu.Unlock()
		time.Sleep(hold)
		r.mu.Lock()
		r.now--
		r.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *peakReceiver) max() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.peak
}

// TestRunSendsAtMostWorkersAtOnceWhileChaining: Config.Workers is how many
// sends Run has in flight at once. A record both chains each accepted
// customer's next notification and claims for the slots the batch freed:
// the chained sends take those slots too, and must not come on top.
func TestRunSendsAtMostWorkersAtOnceWhileChaining(t *testing.T) {
	f := newFixture(t)
	f.cfg.Workers, f.cfg.Batch, f.cfg.Poll, f.cfg.QueueFirst = 4, 4, 20*time.Millisecond, true
	s := f.service()
	r := newPeakReceiver(t, 30*time.Millisecond)
	if _, err := s.Create(context.Background(), webhook.Owner{}, webhook.EndpointInput{URL: r.srv.URL + "/hook", Types: []string{"points.earned"}}); err != nil {
		t.Fatal(err)
	}
	const customers, each = 16, 8
	for i := range each {
		for c := range customers {
			f.emit(earned(fmt.Sprint("C", c), fmt.Sprint(i+1)))
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ran := make(chan struct{})
	go func() { s.Run(ctx, func(err error) { t.Error(err) }); close(ran) }()
	for deadline := time.Now().Add(2 * time.Minute); f.count("status = 'delivered'") < customers*each; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d delivered in two minutes", f.count("status = 'delivered'"), customers*each)
		}
	}
	cancel()
	<-ran
	if p := r.max(); p > f.cfg.Workers {
		t.Errorf("%d requests in flight at once, want at most Workers = %d", p, f.cfg.Workers)
	}
}
