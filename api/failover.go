package api

import (
	"net/http"

	"github.com/tally-ledger/tally/internal/fault"
)

// What a request answers when the database cannot finish it: the primary
// is gone (its connection broke or none can be made) or the server it
// reached is read-only, as during a failover (fault.DatabaseLost). It was
// not acknowledged, and it may or may not have committed before the
// connection broke: the client sends it again, unchanged, after
// Retry-After seconds, and it is done exactly once (a write that
// committed replays by its Idempotency-Key or event id, one that did not
// is done then). Every 503 carries Retry-After.
var databaseUnavailable = Problem{Code: fault.DatabaseUnavailable, Status: http.StatusServiceUnavailable,
	Detail: "the database is unavailable (a failover may be in progress): send the same request again, " +
		"with the same Idempotency-Key or event id, after Retry-After seconds; it is done exactly once"}

// retryAfter is Retry-After's value in seconds: pg_auto_failover promotes
// a standby within seconds; clients back off beyond it themselves.
const retryAfter = "2"
