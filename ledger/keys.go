package ledger

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/textclass"
)

// Role is what an API key may do.
type Role string

// The roles of API keys.
const (
	RoleAdmin    Role = "admin"    // everything
	RolePartner  Role = "partner"  // posts events and money movements
	RoleFinance  Role = "finance"  // reads books and reports
	RoleCustomer Role = "customer" // reads its own customer's accounts
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool {
	switch r {
	case RoleAdmin, RolePartner, RoleFinance, RoleCustomer:
		return true
	}
	return false
}

// APIKey is a stored key; its secret is never stored, only its SHA-256.
type APIKey struct {
	ID         int64      `json:"id"`
	Name       string     `json:"name"`
	Role       Role       `json:"role"`
	CustomerID string     `json:"customer_id,omitempty"`
	PartnerID  int64      `json:"partner_id,omitempty"` // every partner key, and only they
	CreatedAt  time.Time  `json:"created_at"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
}

// Space names the space the ids a key writes live in (event ids,
// redemption ids, money-movement ids, idempotency keys): a partner key
// writes in its partner's space, shared by every key of that partner, so a
// rotated key replays what the old one wrote; a customer key in its
// customer's own space, which no partner key reaches; an admin or finance
// key in a space of its own.
func (k APIKey) Space() string {
	switch {
	case k.PartnerID != 0:
		return "partner:" + strconv.FormatInt(k.PartnerID, 10)
	case k.CustomerID != "":
		return "customer:" + k.CustomerID
	}
	return "key:" + strconv.FormatInt(k.ID, 10)
}

// AnySpace, where a space is asked for, means every space: the reach of an
// admin acting on an id it did not write (the lookups that take it refuse
// an id several spaces hold).
const AnySpace = "*"

const keyPrefix = "tly_"

func hashKey(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}

// CreateKey stores a new random key and returns its secret, which is shown
// once and cannot be recovered. A partner key is the first key of a new
// partner, named as the key (AddPartnerKey adds more).
//
// Errors: fault.Invalid.
func (l *Ledger) CreateKey(ctx context.Context, name string, role Role, customerID string) (string, APIKey, error) {
	secret, err := newSecret()
	if err != nil {
		return "", APIKey{}, err
	}
	k, err := l.storeKey(ctx, name, role, customerID, 0, secret)
	return secret, k, err
}

// AddPartnerKey stores a new random partner key of the existing partner
// partnerID, sharing its space (a rotated key replays what the others
// wrote), and returns its secret.
//
// Errors: fault.Invalid, fault.NotFound (no such partner).
// PartnerExists says whether the partner was founded (partners are never
// deleted).
func (l *Ledger) PartnerExists(ctx context.Context, partnerID int64) (bool, error) {
	var known bool
	err := l.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM partners WHERE id = $1)`, partnerID).Scan(&known)
	return known, err
}

func (l *Ledger) AddPartnerKey(ctx context.Context, partnerID int64, name string) (string, APIKey, error) {
	secret, err := newSecret()
	if err != nil {
		return "", APIKey{}, err
	}
	known, err := l.PartnerExists(ctx, partnerID)
	if err != nil {
		return "", APIKey{}, err
	}
	if !known { // partners are never deleted: it cannot vanish before the insert
		return "", APIKey{}, fault.Errorf(fault.NotFound, "no partner %d", partnerID)
	}
	k, err := l.storeKey(ctx, name, RolePartner, "", partnerID, secret)
	return secret, k, err
}

func newSecret() (string, error) {
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", err
	}
	return keyPrefix + base64.RawURLEncoding.EncodeToString(raw[:]), nil
}

// EnsureKey makes sure a key with this secret exists (for automation that
// sets TALLY_ADMIN_KEY), creating it with the name and role if it does not.
// It reports whether it created it.
func (l *Ledger) EnsureKey(ctx context.Context, name string, role Role, secret string) (bool, error) {
	if len(secret) < 16 {
		return false, fault.Errorf(fault.Invalid, "an API key must be at least 16 characters")
	}
	if _, err := l.Authenticate(ctx, secret); err == nil {
		return false, nil
	}
	_, err := l.storeKey(ctx, name, role, "", 0, secret)
	if fault.UniqueViolation(err, "") {
		return false, nil // created concurrently, or exists but revoked: leave it
	}
	return err == nil, err
}

// storeKey stores the key; a partner key joins partnerID, or a new partner
// named as the key when partnerID is 0.
// MaxKeyName is the longest name a key takes, in characters: the name
// goes with every entry the key writes (its actor), and into the list of
// keys an operator reads.
const MaxKeyName = 100

// plainName reports whether a key's name is text that shows as itself:
// no control characters, nor format characters (a right-to-left override
// that reorders what follows it) or line and paragraph separators.
func plainName(name string) bool {
	if !textclass.IsText(name) {
		return false
	}
	for _, r := range name {
		if unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp) {
			return false
		}
	}
	return true
}

func (l *Ledger) storeKey(ctx context.Context, name string, role Role, customerID string, partnerID int64, secret string) (APIKey, error) {
	switch {
	case name == "":
		return APIKey{}, &fault.Error{Code: fault.Invalid, Message: "a key needs a name", Fields: map[string]string{"name": "required"}}
	case utf8.RuneCountInString(name) > MaxKeyName || !plainName(name):
		return APIKey{}, &fault.Error{Code: fault.Invalid, Message: fmt.Sprintf("a key's name is 1 to %d characters of text, without control or format characters", MaxKeyName),
			Fields: map[string]string{"name": fmt.Sprintf("1 to %d characters, no control or format characters", MaxKeyName)}}
	case !role.Valid():
		return APIKey{}, &fault.Error{Code: fault.Invalid, Message: "unknown role " + quote(string(role)) +
			": one of admin, partner, finance, customer", Fields: map[string]string{"role": "unknown"}}
	case (role == RoleCustomer) != (customerID != ""):
		return APIKey{}, &fault.Error{Code: fault.Invalid, Message: "a customer id goes with the customer role, and only with it",
			Fields: map[string]string{"customer_id": "required for role customer only"}}
	case customerID != "" && !ValidCustomerID(customerID):
		return APIKey{}, &fault.Error{Code: fault.Invalid, Message: "invalid customer id " + quote(customerID),
			Fields: map[string]string{"customer_id": "1-64 letters, digits, '_', '.', '-'"}}
	}
	k := APIKey{Name: name, Role: role, CustomerID: customerID, PartnerID: partnerID}
	var cust *string
	if customerID != "" {
		cust = &customerID
	}
	const q = `WITH p AS (
    INSERT INTO partners (name) SELECT $1 WHERE $2 = 'partner' AND $5::bigint = 0 RETURNING id
)
INSERT INTO api_keys (name, role, customer_id, key_hash, partner_id)
VALUES ($1, $2, $3, $4, CASE WHEN $2 = 'partner' THEN coalesce((SELECT id FROM p), $5) END)
RETURNING id, coalesce(partner_id, 0), created_at`
	err := l.pool.QueryRow(ctx, q, name, role, cust, hashKey(secret), partnerID).Scan(&k.ID, &k.PartnerID, &k.CreatedAt)
	return k, err
}

// Authenticate finds the live key with this secret.
//
// Errors: fault.Unauthorized.
func (l *Ledger) Authenticate(ctx context.Context, secret string) (APIKey, error) {
	var k APIKey
	var cust *string
	err := l.pool.QueryRow(ctx, `SELECT id, name, role, customer_id, coalesce(partner_id, 0), created_at FROM api_keys
WHERE key_hash = $1 AND revoked_at IS NULL`, hashKey(secret)).Scan(&k.ID, &k.Name, &k.Role, &cust, &k.PartnerID, &k.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return k, fault.Errorf(fault.Unauthorized, "unknown or revoked API key")
	}
	if cust != nil {
		k.CustomerID = *cust
	}
	return k, err
}

// Keys lists every key, newest first, without secrets.
func (l *Ledger) Keys(ctx context.Context) ([]APIKey, error) {
	rows, err := l.pool.Query(ctx, `SELECT id, name, role, coalesce(customer_id, ''), coalesce(partner_id, 0), created_at, revoked_at
FROM api_keys ORDER BY id DESC`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (APIKey, error) {
		var k APIKey
		err := row.Scan(&k.ID, &k.Name, &k.Role, &k.CustomerID, &k.PartnerID, &k.CreatedAt, &k.RevokedAt)
		return k, err
	})
}

// RevokeKey revokes key id, and tells the functions registered with
// OnKeyRevoked.
//
// Errors: fault.NotFound.
func (l *Ledger) RevokeKey(ctx context.Context, id int64) error {
	tag, err := l.pool.Exec(ctx, `UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL`, id)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return fault.Errorf(fault.NotFound, "no live key %d", id)
	}
	l.revokedMu.Lock()
	hooks := l.onRevoked
	l.revokedMu.Unlock()
	for _, fn := range hooks {
		fn(id)
	}
	return nil
}

// OnKeyRevoked registers fn, which RevokeKey calls with the key's id once
// the revocation has committed: a cache of keys on this Ledger forgets the
// key at once. Revocations by other processes are not reported.
func (l *Ledger) OnKeyRevoked(fn func(id int64)) {
	l.revokedMu.Lock()
	defer l.revokedMu.Unlock()
	l.onRevoked = append(l.onRevoked, fn)
}

// KeyLive reports whether key id exists and is not revoked.
func (l *Ledger) KeyLive(ctx context.Context, id int64) (bool, error) {
	var ok bool
	err := l.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM api_keys WHERE id = $1 AND revoked_at IS NULL)`, id).Scan(&ok)
	return ok, err
}

// KeySpaces maps each of the keys that exists, revoked or not, to its
// space (APIKey.Space), in the transaction's snapshot.
func (tx *Tx) KeySpaces(ctx context.Context, ids []int64) (map[int64]string, error) {
	rows, err := tx.Query(ctx, `SELECT id, coalesce(customer_id, ''), coalesce(partner_id, 0) FROM api_keys WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, err
	}
	spaces := make(map[int64]string, len(ids))
	var k APIKey
	_, err = pgx.ForEachRow(rows, []any{&k.ID, &k.CustomerID, &k.PartnerID}, func() error {
		spaces[k.ID] = k.Space()
		return nil
	})
	return spaces, err
}

// HasKey reports whether a live key with the role exists.
func (l *Ledger) HasKey(ctx context.Context, role Role) (bool, error) {
	var ok bool
	err := l.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM api_keys WHERE role = $1 AND revoked_at IS NULL)`, role).Scan(&ok)
	return ok, err
}

func itoa(n int) string { return strconv.Itoa(n) }
