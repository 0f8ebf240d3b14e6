package ledger_test

import (
	"context"
	"errors"
	"github.com/tally-ledger/tally/internal/fault"
	"strings"
	"testing"

	"github.com/tally-ledger/tally/ledger"
)

func TestCreateKeyReturnsASecretThatAuthenticates(t *testing.T) {
	l, pool := newLedger(t)
	ctx := context.Background()
	secret, k, err := l.CreateKey(ctx, "billing", ledger.RolePartner, "")
	if err != nil {
		t.Fatal(err)
	}
	// 32 random bytes, base64url without padding, after the prefix.
	if !strings.HasPrefix(secret, "tly_") || len(secret) != len("tly_")+43 {
		t.Errorf("secret %q, want tly_ and 43 characters", secret)
	}
	got, err := l.Authenticate(ctx, secret)
	if err != nil {
		t.Fatalf("Authenticate the new secret: %v", err)
	}
	if got.ID != k.ID || got.Name != "billing" || got.Role != ledger.RolePartner || got.CustomerID != "" {
		t.Errorf("authenticated as %+v, want the new key %+v", got, k)
	}
	// Only the hash is stored.
	var stored int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM api_keys WHERE position($1::bytea IN key_hash) > 0`,
		[]byte(secret)).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored != 0 {
		t.Error("the secret itself is stored")
	}
	other, _, err := l.CreateKey(ctx, "billing", ledger.RolePartner, "")
	if err != nil {
		t.Fatal(err)
	}
	if other == secret {
		t.Error("two keys got the same secret")
	}
}

func TestCustomerKeyCarriesItsCustomer(t *testing.T) {
	l, _ := newLedger(t)
	ctx := context.Background()
	secret, _, err := l.CreateKey(ctx, "app", ledger.RoleCustomer, "C-42")
	if err != nil {
		t.Fatal(err)
	}
	k, err := l.Authenticate(ctx, secret)
	if err != nil {
		t.Fatal(err)
	}
	if k.Role != ledger.RoleCustomer || k.CustomerID != "C-42" {
		t.Errorf("authenticated as %+v, want customer C-42", k)
	}
}

func TestCreateKeyRefusesBadInput(t *testing.T) {
	l, pool := newLedger(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name, keyName string
		role          ledger.Role
		customer      string
		field         string
	}{
		{"NoName", "", ledger.RoleAdmin, "", "name"},
		{"UnknownRole", "x", ledger.Role("root"), "", "role"},
		{"CustomerRoleWithoutCustomer", "x", ledger.RoleCustomer, "", "customer_id"},
		{"CustomerWithAnotherRole", "x", ledger.RoleFinance, "C1", "customer_id"},
		{"BadCustomerID", "x", ledger.RoleCustomer, "C 1", "customer_id"},
		{"NameTooLong", strings.Repeat("é", ledger.MaxKeyName+1), ledger.RoleAdmin, "", "name"},
		{"NameWithANewline", "ops\nadmin", ledger.RoleAdmin, "", "name"},
		{"NameWithAnEscape", "ops\x1b[2J", ledger.RoleAdmin, "", "name"},
		{"NameWithARightToLeftOverride", "nightly\u202ejob", ledger.RoleAdmin, "", "name"},
		{"NameWithALineSeparator", "nightly\u2028job", ledger.RoleAdmin, "", "name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := l.CreateKey(ctx, tc.keyName, tc.role, tc.customer)
			wantCode(t, err, fault.Invalid)
			var e *fault.Error
			if !errors.As(err, &e) || e.Fields[tc.field] == "" {
				t.Errorf("error %v, want field %s named", err, tc.field)
			}
		})
	}
	if n := countRows(t, pool, "api_keys"); n != 0 {
		t.Errorf("%d keys stored, want none", n)
	}
	if _, _, err := l.CreateKey(ctx, strings.Repeat("é", ledger.MaxKeyName), ledger.RoleAdmin, ""); err != nil {
		t.Errorf("a name of %d characters: %v, want it taken", ledger.MaxKeyName, err)
	}
}

func TestEnsureKey(t *testing.T) {
	l, pool := newLedger(t)
	ctx := context.Background()
	const secret = "0123456789abcdef" // the shortest allowed: 16 characters

	t.Run("TooShort", func(t *testing.T) {
		_, err := l.EnsureKey(ctx, "admin", ledger.RoleAdmin, secret[:15])
		wantCode(t, err, fault.Invalid)
		if n := countRows(t, pool, "api_keys"); n != 0 {
			t.Errorf("%d keys stored, want none", n)
		}
	})
	t.Run("CreatesOnce", func(t *testing.T) {
		created, err := l.EnsureKey(ctx, "admin", ledger.RoleAdmin, secret)
		if err != nil || !created {
			t.Fatalf("first EnsureKey = %v, %v; want created", created, err)
		}
		k, err := l.Authenticate(ctx, secret)
		if err != nil || k.Role != ledger.RoleAdmin || k.Name != "admin" {
			t.Fatalf("Authenticate = %+v, %v; want the admin key", k, err)
		}
		created, err = l.EnsureKey(ctx, "admin", ledger.RoleAdmin, secret)
		if err != nil || created {
			t.Fatalf("second EnsureKey = %v, %v; want it left as it is", created, err)
		}
		if n := countRows(t, pool, "api_keys"); n != 1 {
			t.Errorf("%d keys stored, want 1", n)
		}
	})
	t.Run("LeavesARevokedKeyRevoked", func(t *testing.T) {
		k, err := l.Authenticate(ctx, secret)
		if err != nil {
			t.Fatal(err)
		}
		if err := l.RevokeKey(ctx, k.ID); err != nil {
			t.Fatal(err)
		}
		created, err := l.EnsureKey(ctx, "admin", ledger.RoleAdmin, secret)
		if err != nil || created {
			t.Fatalf("EnsureKey of a revoked secret = %v, %v; want nothing done", created, err)
		}
		_, err = l.Authenticate(ctx, secret)
		wantCode(t, err, fault.Unauthorized)
	})
}

func TestRevokedKeysNoLongerAuthenticate(t *testing.T) {
	l, _ := newLedger(t)
	ctx := context.Background()
	adminSecret, admin, err := l.CreateKey(ctx, "ops", ledger.RoleAdmin, "")
	if err != nil {
		t.Fatal(err)
	}
	partnerSecret, partner, err := l.CreateKey(ctx, "billing", ledger.RolePartner, "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = l.Authenticate(ctx, "tly_not-a-key-anyone-was-given")
	wantCode(t, err, fault.Unauthorized)

	if err := l.RevokeKey(ctx, admin.ID); err != nil {
		t.Fatalf("RevokeKey: %v", err)
	}
	_, err = l.Authenticate(ctx, adminSecret)
	wantCode(t, err, fault.Unauthorized)
	if _, err := l.Authenticate(ctx, partnerSecret); err != nil {
		t.Errorf("the partner key stopped working when the admin key was revoked: %v", err)
	}
	wantCode(t, l.RevokeKey(ctx, admin.ID), fault.NotFound) // already revoked
	wantCode(t, l.RevokeKey(ctx, partner.ID+1000), fault.NotFound)

	has, err := l.HasKey(ctx, ledger.RoleAdmin)
	if err != nil || has {
		t.Errorf("HasKey(admin) = %v, %v after its only key was revoked, want false", has, err)
	}
	has, err = l.HasKey(ctx, ledger.RolePartner)
	if err != nil || !has {
		t.Errorf("HasKey(partner) = %v, %v, want true", has, err)
	}

	keys, err := l.Keys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys[0].ID != partner.ID || keys[1].ID != admin.ID {
		t.Fatalf("keys %+v, want the partner's then the admin's (newest first)", keys)
	}
	if keys[0].RevokedAt != nil || keys[1].RevokedAt == nil {
		t.Errorf("revoked_at %v, %v; want only the admin key revoked", keys[0].RevokedAt, keys[1].RevokedAt)
	}
}

func TestRoleValid(t *testing.T) {
	for _, r := range []ledger.Role{ledger.RoleAdmin, ledger.RolePartner, ledger.RoleFinance, ledger.RoleCustomer} {
		if !r.Valid() {
			t.Errorf("%s is not valid", r)
		}
	}
	for _, r := range []ledger.Role{"", "Admin", "root"} {
		if r.Valid() {
			t.Errorf("%q is valid", r)
		}
	}
}
