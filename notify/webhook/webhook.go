// Package webhook delivers notifications (package notify) to the HTTP
// endpoints admins and partners subscribe, signed in the Standard Webhooks
// scheme: it owns the endpoints, the deliveries (a notification and an
// endpoint, pending until accepted; one accepted at its first send is its
// attempt alone), the log of every attempt, and the dispatcher that fans the
// feed out to the endpoints and sends, retries, pauses a failing endpoint
// (its circuit breaker) and keeps each customer's notifications in order.
//
// It owns the tables webhook_endpoints, webhook_deliveries,
// webhook_attempts and webhook_feed. It learns of new notifications only
// through notify.Feed (a customer's in commit order), reads the notifications table in its
// own joins (fan-out, redelivery, sending) and never writes it; it sends only to http(s) URLs whose
// host is on the allow-list, never to a loopback or private address unless
// told to (tests, local development), and never follows a redirect.
package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/notify"
)

// The defaults of Config.
const (
	DefaultTimeout    = 10 * time.Second
	DefaultRetryFor   = 72 * time.Hour
	DefaultBreakAfter = 5
	DefaultCoolDown   = time.Minute
	DefaultGrace      = 24 * time.Hour
	// MaxGrace is the longest an old secret may keep signing after a
	// rotation.
	MaxGrace = 7 * 24 * time.Hour
	// MaxURLBytes bounds an endpoint's URL.
	MaxURLBytes = 2048
	// MaxExcerpt bounds the excerpt of an answer the log keeps, in bytes.
	MaxExcerpt = 1024
	// MaxEndpoints bounds how many endpoints one partner subscribes.
	MaxEndpoints = 10
)

// Config is how the service sends.
type Config struct {
	// Hosts is the allow-list: the host names (or IP literals) endpoints
	// may be on; "*.example.com" allows every subdomain of example.com.
	// Empty allows none.
	Hosts []string
	// AllowLoopback lets endpoints be on loopback and private addresses
	// (tests, local development); otherwise such an address is refused
	// when an endpoint is saved and again when a request dials it.
	AllowLoopback bool
	// Timeout bounds one request, connection and answer included.
	Timeout time.Duration
	// RetryFor is how long a delivery is retried after it was created (or
	// redelivered) before it is marked failed.
	RetryFor time.Duration
	// Backoff is the wait before retry number attempt (1 after the first
	// failure); nil is exponential with full jitter (FullJitter).
	Backoff func(attempt int) time.Duration
	// BreakAfter is how many failures in a row open an endpoint's circuit.
	BreakAfter int
	// CoolDown is how long an open circuit waits before each probe.
	CoolDown time.Duration
	// Batch is how many deliveries one step claims at most (default 100);
	// Workers how many it sends at once (default 16); PerEndpoint how many
	// requests one admin endpoint, or all the endpoints of one partner
	// together, may have in flight (default 8), so that a slow endpoint,
	// or a partner's several, holds at most that many workers (an open
	// endpoint's probe aside).
	Batch, Workers, PerEndpoint int
	// QueueFirst makes the dispatcher queue every notification as a
	// pending delivery before it sends it (the tests of the queue set it).
	// By default it sends each page of the feed straight away and queues
	// only what could not go or was not accepted (fanOutDirect).
	QueueFirst bool
	// Poll is how often Run looks for work when there was none (default 1s).
	Poll time.Duration
	// Now is the clock (tests set time); nil is the ledger's.
	Now func() time.Time
}

// FullJitter is the default backoff: a random wait between 0 and
// 5 s × 2^(attempt-1), at most 6 h.
func FullJitter(attempt int) time.Duration {
	ceiling := 5 * time.Second << min(attempt-1, 20)
	if ceiling > 6*time.Hour || ceiling <= 0 {
		ceiling = 6 * time.Hour
	}
	return time.Duration(rand.Int64N(int64(ceiling) + 1))
}

// Service manages endpoints and delivers to them. It is safe for
// concurrent use.
type Service struct {
	l   *ledger.Ledger
	cfg Config
	// transport sends the deliveries (send bounds each by cfg.Timeout)
	transport *http.Transport
	hosts     allowList
	stats     *stats
	// late counts the sends of pages still in flight after their page
	// was recorded (Run waits for them); lateN is how many there are now.
	late  sync.WaitGroup
	lateN atomic.Int64
	// claims counts the claims queued (queueClaim), each a read of the
	// due deliveries of every customer: the costly part of dispatching.
	claims atomic.Int64
	// heard is whether an endpoint existed at the last look (a page's
	// match, or skipUnheard): while one does, the fan-out reads its pages
	// without trying skipUnheard first.
	heard atomic.Bool
}

// New returns the service on the ledger's database, which must be
// migrated.
func New(l *ledger.Ledger, cfg Config) *Service {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.RetryFor <= 0 {
		cfg.RetryFor = DefaultRetryFor
	}
	if cfg.Backoff == nil {
		cfg.Backoff = FullJitter
	}
	if cfg.BreakAfter <= 0 {
		cfg.BreakAfter = DefaultBreakAfter
	}
	if cfg.CoolDown <= 0 {
		cfg.CoolDown = DefaultCoolDown
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 100
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 16
	}
	if cfg.PerEndpoint <= 0 {
		cfg.PerEndpoint = 8
	}
	if cfg.Poll <= 0 {
		cfg.Poll = time.Second
	}
	if cfg.Now == nil {
		cfg.Now = l.Now
	}
	s := &Service{l: l, cfg: cfg, hosts: newAllowList(cfg.Hosts), stats: newStats()}
	s.transport = newTransport(cfg.Timeout, cfg.AllowLoopback, cfg.PerEndpoint)
	return s
}

// Owner is who manages endpoints: Partner 0 is an admin (every endpoint,
// and its own endpoints hear every notification), otherwise that partner
// (its own endpoints only).
type Owner struct{ Partner int64 }

// Endpoint is a subscribed endpoint; its secret is read back only to
// answer a retried create (Create).
type Endpoint struct {
	ID          int64    `json:"id"`
	PartnerID   *int64   `json:"partner_id"`
	URL         string   `json:"url"`
	Types       []string `json:"types"`
	Description string   `json:"description"`
	// Circuit is "closed" (delivering) or "open" (paused after
	// BreakAfter failures in a row; one probe at a time from NextProbeAt).
	Circuit     string     `json:"circuit"`
	Failures    int        `json:"consecutive_failures"`
	NextProbeAt *time.Time `json:"next_probe_at"`
	// PreviousSecretValidUntil is when the secret before the last
	// rotation stops signing; null when there is none.
	PreviousSecretValidUntil *time.Time `json:"previous_secret_valid_until"`
	CreatedAt                time.Time  `json:"created_at"`
	UpdatedAt                time.Time  `json:"updated_at"`
}

// WithSecret is an endpoint as created or rotated: the one time its secret
// is shown.
type WithSecret struct {
	Endpoint
	Secret string `json:"secret"`
}

// EndpointInput is what an endpoint is created with.
type EndpointInput struct {
	URL         string
	Types       []string
	Description string
	// Partner is the partner whose endpoint it is; 0 is an admin's. A
	// partner owner may only create its own.
	Partner int64
	// IdempotencyKey, when set, makes the create once only: a create
	// with the same key answers the endpoint the first made (RequestHash,
	// the request's hash, must then be the first's).
	IdempotencyKey string
	RequestHash    []byte
}

// EndpointPatch changes the fields that are not nil.
type EndpointPatch struct {
	URL         *string
	Types       *[]string
	Description *string
}

const endpointColumns = `id, partner_id, url, types, description, circuit, failures,
CASE WHEN circuit = 'open' THEN probe_at END, CASE WHEN previous_valid_until > $1 THEN previous_valid_until END,
created_at, updated_at`

func scanEndpoint(row pgx.CollectableRow) (Endpoint, error) {
	var e Endpoint
	err := row.Scan(e.into()...)
	return e, err
}

// into is where endpointColumns scan to, then the extra columns after them.
func (e *Endpoint) into(extra ...any) []any {
	return append([]any{&e.ID, &e.PartnerID, &e.URL, &e.Types, &e.Description, &e.Circuit, &e.Failures, &e.NextProbeAt,
		&e.PreviousSecretValidUntil, &e.CreatedAt, &e.UpdatedAt}, extra...)
}

// notFound is the answer for an endpoint that does not exist or is not
// the owner's (a partner cannot tell another's endpoints exist).
func notFound(id int64) error { return fault.Errorf(fault.NotFound, "no webhook endpoint %d", id) }

// Create subscribes an endpoint and returns it with its new secret. With
// an IdempotencyKey it does so once: a create with a key already used
// answers the endpoint that create made, as it is now and with its secret
// (replayed true), even while the first is still being written; with
// another request's hash it is refused. A key goes with its endpoint when
// the endpoint is deleted.
//
// Errors: fault.Invalid (url, types, description, partner_id),
// fault.HostNotAllowed, fault.Forbidden (a partner creating another's),
// fault.LimitReached (the partner has MaxEndpoints),
// fault.IdempotencyConflict (the key was used for another request).
func (s *Service) Create(ctx context.Context, o Owner, in EndpointInput) (out WithSecret, replayed bool, err error) {
	if o.Partner != 0 {
		if in.Partner != 0 && in.Partner != o.Partner {
			return out, false, fault.Errorf(fault.Forbidden, "a partner key creates endpoints for its own partner only")
		}
		in.Partner = o.Partner
	}
	types, err := s.validate(in.URL, in.Types, in.Description)
	if err == nil {
		err = partnerTypes(in.Types, in.Partner != 0)
	}
	if err != nil {
		return out, false, err
	}
	secret, err := newSecret()
	if err != nil {
		return out, false, err
	}
	var partner *int64
	if in.Partner != 0 {
		partner = &in.Partner
	}
	if partner != nil { // partners are never deleted: it cannot vanish before the insert
		known, err := s.l.PartnerExists(ctx, *partner)
		if err != nil {
			return out, false, err
		}
		if !known {
			return out, false, fault.InvalidField("partner_id", "no such partner")
		}
	}
	var key *string
	var hash []byte
	if in.IdempotencyKey != "" {
		key, hash = &in.IdempotencyKey, in.RequestHash
	}
	err = s.l.InTx(ctx, func(tx *ledger.Tx) error {
		if key != nil {
			var done bool
			if out, done, err = s.madeWith(ctx, tx, *key, hash); done || err != nil {
				replayed = done
				return err
			}
		}
		if partner != nil {
			// The partner's row, locked, serialises its creates: the count
			// (read after the lock, in a new snapshot) holds until the
			// insert commits.
			if _, err := tx.Exec(ctx, `SELECT FROM partners WHERE id = $1 FOR NO KEY UPDATE`, *partner); err != nil {
				return err
			}
			if key != nil { // made by a create with the key that held the lock meanwhile: not one more to count
				var done bool
				if out, done, err = s.madeWith(ctx, tx, *key, hash); done || err != nil {
					replayed = done
					return err
				}
			}
			var n int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM webhook_endpoints WHERE partner_id = $1`, *partner).Scan(&n); err != nil {
				return err
			}
			if n >= MaxEndpoints {
				return fault.Errorf(fault.LimitReached, "a partner subscribes at most %d endpoints: delete one first", MaxEndpoints)
			}
		}
		// A create with the same key that committed meanwhile wins: this
		// one inserts nothing (having waited for it) and answers it.
		rows, err := tx.Query(ctx, `INSERT INTO webhook_endpoints
    (partner_id, url, types, description, secret, created_at, updated_at, idempotency_key, request_hash)
VALUES ($2, $3, $4, $5, $6, $1, $1, $7, $8)
ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
RETURNING `+endpointColumns, s.now(), partner, in.URL, types, in.Description, secret, key, hash)
		if err != nil {
			return err
		}
		out.Endpoint, err = pgx.CollectExactlyOneRow(rows, scanEndpoint)
		if errors.Is(err, pgx.ErrNoRows) && key != nil {
			var done bool
			out, done, err = s.madeWith(ctx, tx, *key, hash)
			if err == nil && !done { // deleted as soon as made: a conflict to retry
				return fault.Errorf(fault.IdempotencyConflict, "a create with this Idempotency-Key is being written: retry")
			}
			replayed = done
			return err
		}
		out.Secret = secret
		return err
	})
	if err != nil {
		return WithSecret{}, false, err
	}
	return out, replayed, nil
}

// madeWith is the endpoint a create with the idempotency key made, with
// its secret (done), if any; a create of another request's hash made it:
// fault.IdempotencyConflict.
func (s *Service) madeWith(ctx context.Context, tx *ledger.Tx, key string, hash []byte) (out WithSecret, done bool, err error) {
	var made []byte
	rows, err := tx.Query(ctx, `SELECT `+endpointColumns+`, secret, request_hash FROM webhook_endpoints WHERE idempotency_key = $2`,
		s.now(), key)
	if err != nil {
		return out, false, err
	}
	out, err = pgx.CollectExactlyOneRow(rows, func(row pgx.CollectableRow) (WithSecret, error) {
		var e WithSecret
		err := row.Scan(e.into(&e.Secret, &made)...)
		return e, err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return WithSecret{}, false, nil
	}
	if err != nil {
		return WithSecret{}, false, err
	}
	if !bytes.Equal(made, hash) {
		return WithSecret{}, false, fault.Errorf(fault.IdempotencyConflict,
			"the Idempotency-Key was used for a different webhook endpoint create")
	}
	return out, true, nil
}

// Get reads one of the owner's endpoints.
//
// Errors: fault.NotFound.
func (s *Service) Get(ctx context.Context, o Owner, id int64) (Endpoint, error) {
	var e Endpoint
	err := s.l.ReadTx(ctx, func(tx *ledger.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+endpointColumns+` FROM webhook_endpoints
WHERE id = $2 AND ($3::bigint = 0 OR partner_id = $3)`, s.now(), id, o.Partner)
		if err != nil {
			return err
		}
		e, err = pgx.CollectExactlyOneRow(rows, scanEndpoint)
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return e, notFound(id)
	}
	return e, err
}

// List reads up to limit of the owner's endpoints by id, after the id
// after.
func (s *Service) List(ctx context.Context, o Owner, after int64, limit int) ([]Endpoint, error) {
	var list []Endpoint
	err := s.l.ReadTx(ctx, func(tx *ledger.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+endpointColumns+` FROM webhook_endpoints
WHERE id > $2 AND ($3::bigint = 0 OR partner_id = $3) ORDER BY id LIMIT $4`, s.now(), after, o.Partner, limit)
		if err != nil {
			return err
		}
		list, err = pgx.CollectRows(rows, scanEndpoint)
		return err
	})
	return list, err
}

// Update changes an endpoint's URL, types or description. A new URL
// closes the endpoint's circuit and makes its pending deliveries due now.
//
// Errors: fault.NotFound, fault.Invalid, fault.HostNotAllowed.
func (s *Service) Update(ctx context.Context, o Owner, id int64, p EndpointPatch) (Endpoint, error) {
	var e Endpoint
	err := s.l.InTx(ctx, func(tx *ledger.Tx) error {
		var url, description string
		var types []string
		var partner bool
		err := tx.QueryRow(ctx, `SELECT url, types, description, partner_id IS NOT NULL FROM webhook_endpoints
WHERE id = $1 AND ($2::bigint = 0 OR partner_id = $2) FOR UPDATE`, id, o.Partner).Scan(&url, &types, &description, &partner)
		previousURL := url
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound(id)
		}
		if err != nil {
			return err
		}
		if p.URL != nil {
			url = *p.URL
		}
		if p.Types != nil {
			types = *p.Types
			if err := partnerTypes(types, partner); err != nil {
				return err
			}
		}
		if p.Description != nil {
			description = *p.Description
		}
		if types, err = s.validate(url, types, description); err != nil {
			return err
		}
		// A new URL starts afresh: its circuit closed, what is pending due now.
		moved := p.URL != nil && *p.URL != previousURL
		rows, err := tx.Query(ctx, `UPDATE webhook_endpoints SET url = $3, types = $4, description = $5, updated_at = $1,
    failures = CASE WHEN $6 THEN 0 ELSE failures END,
    circuit = CASE WHEN $6 THEN 'closed' ELSE circuit END,
    opened_at = CASE WHEN $6 THEN NULL ELSE opened_at END,
    probe_at = CASE WHEN $6 THEN NULL ELSE probe_at END
WHERE id = $2 RETURNING `+endpointColumns, s.now(), id, url, types, description, moved)
		if err != nil {
			return err
		}
		if e, err = pgx.CollectExactlyOneRow(rows, scanEndpoint); err != nil || !moved {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE webhook_deliveries SET next_attempt_at = $2
WHERE endpoint_id = $1 AND status = 'pending' AND next_attempt_at > $2`, id, s.now())
		return err
	})
	return e, err
}

// Delete removes an endpoint with its deliveries and their log.
//
// Errors: fault.NotFound.
func (s *Service) Delete(ctx context.Context, o Owner, id int64) error {
	return s.l.InTx(ctx, func(tx *ledger.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM webhook_endpoints WHERE id = $1 AND ($2::bigint = 0 OR partner_id = $2)`, id, o.Partner)
		if err == nil && tag.RowsAffected() == 0 {
			return notFound(id)
		}
		return err
	})
}

// Rotate gives an endpoint a new secret; the one it had keeps signing
// (both signatures are sent) for grace, which is at most MaxGrace (0: none).
//
// Errors: fault.NotFound, fault.Invalid (grace).
func (s *Service) Rotate(ctx context.Context, o Owner, id int64, grace time.Duration) (WithSecret, error) {
	if grace < 0 || grace > MaxGrace {
		return WithSecret{}, fault.InvalidField("grace_period_seconds", fmt.Sprintf("from 0 to %d", int(MaxGrace.Seconds())))
	}
	secret, err := newSecret()
	if err != nil {
		return WithSecret{}, err
	}
	var out WithSecret
	err = s.l.InTx(ctx, func(tx *ledger.Tx) error {
		now := s.now()
		var until *time.Time
		if grace > 0 {
			t := now.Add(grace)
			until = &t
		}
		rows, err := tx.Query(ctx, `UPDATE webhook_endpoints SET previous_secret = CASE WHEN $5::timestamptz IS NULL THEN NULL ELSE secret END,
    previous_valid_until = $5, secret = $4, updated_at = $1
WHERE id = $2 AND ($3::bigint = 0 OR partner_id = $3) RETURNING `+endpointColumns, now, id, o.Partner, secret, until)
		if err != nil {
			return err
		}
		out.Endpoint, err = pgx.CollectExactlyOneRow(rows, scanEndpoint)
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound(id)
		}
		return err
	})
	if err != nil {
		return WithSecret{}, err
	}
	out.Secret = secret
	return out, nil
}

// validate checks an endpoint's fields and returns its types without
// repeats, in notify.Types order.
func (s *Service) validate(url string, types []string, description string) ([]string, error) {
	if err := s.hosts.checkURL(url, s.cfg.AllowLoopback); err != nil {
		return nil, err
	}
	if len(description) > 200 {
		return nil, fault.InvalidField("description", "too long: at most 200 bytes")
	}
	if len(types) == 0 {
		return nil, fault.InvalidField("types", "at least one type of notification")
	}
	if len(types) > 2*len(notify.Types) {
		return nil, fault.InvalidField("types", fmt.Sprintf("at most %d types", len(notify.Types)))
	}
	want := map[string]bool{}
	for i, t := range types {
		if !notify.KnownType(t) {
			return nil, fault.InvalidField(fmt.Sprintf("types[%d]", i), "not a type of notification")
		}
		want[t] = true
	}
	var out []string
	for _, t := range notify.Types {
		if want[t] {
			out = append(out, t)
		}
	}
	return out, nil
}

// partnerTypes refuses, for an endpoint a partner owns, the types that
// are the platform's own (notify.PlatformTypes). An endpoint that took
// one before is never sent it (hears).
func partnerTypes(types []string, partner bool) error {
	for i, t := range types {
		if partner && notify.PlatformOnly(t) {
			return fault.InvalidField(fmt.Sprintf("types[%d]", i), t+" is the platform's own: an endpoint a partner owns is not sent it")
		}
	}
	return nil
}

func (s *Service) now() time.Time { return s.cfg.Now() }
