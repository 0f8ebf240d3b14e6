package ledger

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tally-ledger/tally/internal/fault"
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
	CreatedAt  time.Time  `json:"created_at"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
}

const keyPrefix = "tly_"

func hashKey(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}

// CreateKey stores a new random key and returns its secret, which is shown
// once and cannot be recovered.
//
// Errors: fault.Invalid.
func (l *Ledger) CreateKey(ctx context.Context, name string, role Role, customerID string) (string, APIKey, error) {
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", APIKey{}, err
	}
	secret := keyPrefix + base64.RawURLEncoding.EncodeToString(raw[:])
	k, err := l.storeKey(ctx, name, role, customerID, secret)
	return secret, k, err
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
	_, err := l.storeKey(ctx, name, role, "", secret)
	if fault.UniqueViolation(err, "") {
		return false, nil // created concurrently, or exists but revoked: leave it
	}
	return err == nil, err
}

func (l *Ledger) storeKey(ctx context.Context, name string, role Role, customerID, secret string) (APIKey, error) {
	switch {
	case name == "":
		return APIKey{}, &fault.Error{Code: fault.Invalid, Message: "a key needs a name", Fields: map[string]string{"name": "required"}}
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
	k := APIKey{Name: name, Role: role, CustomerID: customerID}
	var cust *string
	if customerID != "" {
		cust = &customerID
	}
	err := l.pool.QueryRow(ctx, `INSERT INTO api_keys (name, role, customer_id, key_hash)
VALUES ($1, $2, $3, $4) RETURNING id, created_at`, name, role, cust, hashKey(secret)).Scan(&k.ID, &k.CreatedAt)
	return k, err
}

// Authenticate finds the live key with this secret.
//
// Errors: fault.Unauthorized.
func (l *Ledger) Authenticate(ctx context.Context, secret string) (APIKey, error) {
	var k APIKey
	var cust *string
	err := l.pool.QueryRow(ctx, `SELECT id, name, role, customer_id, created_at FROM api_keys
WHERE key_hash = $1 AND revoked_at IS NULL`, hashKey(secret)).Scan(&k.ID, &k.Name, &k.Role, &cust, &k.CreatedAt)
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
	rows, err := l.pool.Query(ctx, `SELECT id, name, role, coalesce(customer_id, ''), created_at, revoked_at
FROM api_keys ORDER BY id DESC`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (APIKey, error) {
		var k APIKey
		err := row.Scan(&k.ID, &k.Name, &k.Role, &k.CustomerID, &k.CreatedAt, &k.RevokedAt)
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

// HasKey reports whether a live key with the role exists.
func (l *Ledger) HasKey(ctx context.Context, role Role) (bool, error) {
	var ok bool
	err := l.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM api_keys WHERE role = $1 AND revoked_at IS NULL)`, role).Scan(&ok)
	return ok, err
}

func itoa(n int) string { return strconv.Itoa(n) }
