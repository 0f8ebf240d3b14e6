package loyalty_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tally-ledger/tally/loyalty"
)

// TestPreviewsOfReferredCustomersTakeTurnsOnTheirReferrer: an event's
// preview locks its customer and the customer's referrer, as the event
// groups do. While referrer R's row is held, previews of shipments of six
// customers R referred are sent: they take turns on R in the server, so
// one waits in the database's lock queue, not six. Once R is free, every
// preview answers.
func TestPreviewsOfReferredCustomersTakeTurnsOnTheirReferrer(t *testing.T) {
	e := newEnv(t)
	e.Customer("R")
	const referred = 6
	for i := range referred {
		e.Customer(fmt.Sprint("K", i), "R")
	}
	release := e.Hold(`SELECT FROM customers WHERE id = 'R' FOR UPDATE`)
	var wg sync.WaitGroup
	for i := range referred {
		ev := e.Event(loyalty.ShipmentCompleted, fmt.Sprint("K", i), fmt.Sprint("S", i), "100", march(10, 9))
		wg.Go(func() {
			if o := e.Loyalty.PreviewBatch(e.Ctx, e.Key, "test", []loyalty.Event{ev})[0]; o.Err != nil || !o.Result.Preview {
				t.Errorf("preview of %s: %+v", ev.CustomerID, o)
			}
		})
	}
	if n := e.LockWaitersWithin(time.Second, referred); n != 1 {
		t.Errorf("%d previews of R's referred customers wait in the database's lock queue, want 1", n)
	}
	release()
	wg.Wait()
}
