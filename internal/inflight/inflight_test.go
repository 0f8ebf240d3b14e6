package inflight

import (
	"sync"
	"testing"
)

// A key takes at most Max places; one given back lets the next in; other
// keys are counted apart; every place given back leaves nothing held.
func TestABoundCountsEachKeyApart(t *testing.T) {
	b := New[string](3)
	for i := range 3 {
		if !b.Take("a") {
			t.Fatalf("place %d of 3 refused", i+1)
		}
	}
	if b.Take("a") {
		t.Fatal("a fourth place taken")
	}
	if !b.Take("b") {
		t.Fatal("another key refused")
	}
	b.Give("a")
	if !b.Take("a") {
		t.Fatal("a place given back is not taken again")
	}
	if got := b.InFlight("a"); got != 3 {
		t.Errorf("a has %d in flight, want 3", got)
	}
	for range 3 {
		b.Give("a")
	}
	b.Give("b")
	if b.Held() != 0 {
		t.Errorf("%d keys hold places after every place was given back", b.Held())
	}
}

// Under many goroutines at once, no key ever has more than Max in flight.
func TestABoundHoldsUnderConcurrency(t *testing.T) {
	b := New[int](4)
	var wg sync.WaitGroup
	var mu sync.Mutex
	most := 0
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				if !b.Take(1) {
					continue
				}
				mu.Lock()
				most = max(most, b.InFlight(1))
				mu.Unlock()
				b.Give(1)
			}
		}()
	}
	wg.Wait()
	if most > 4 || most == 0 || b.Held() != 0 {
		t.Errorf("at most %d in flight (want 1 to 4), %d keys still held", most, b.Held())
	}
}
