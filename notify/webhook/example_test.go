package webhook_test

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/tally-ledger/tally/notify/webhook"
)

// A receiver verifies a delivery with the Standard Webhooks library and the
// secret shown when the endpoint was created; the signature Tally sends is
// the one the library computes.
func ExampleSign() {
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	body := []byte(`{"id":"ntf_42","type":"points.earned","occurred_at":"2026-11-30T05:00:00Z","customer_id":"C1","data":{"points":"148"}}`)
	at := time.Now()
	sig, err := webhook.Sign(secret, "ntf_42", at, body)
	if err != nil {
		panic(err)
	}
	header := http.Header{}
	header.Set("webhook-id", "ntf_42")
	header.Set("webhook-timestamp", strconv.FormatInt(at.Unix(), 10))
	header.Set("webhook-signature", sig)

	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		panic(err)
	}
	theirs, _ := wh.Sign("ntf_42", at, body)
	fmt.Println("verifies:", wh.Verify(body, header) == nil)
	fmt.Println("same signature:", theirs == sig)
	fmt.Println("another body verifies:", wh.Verify(append(body, ' '), header) == nil)
	// Output:
	// verifies: true
	// same signature: true
	// another body verifies: false
}
