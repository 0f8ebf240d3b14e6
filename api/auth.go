package api

import (
	"context"
	"crypto/sha256"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/ledger"
)

const keyContext = "tally.key"

// authenticate resolves the bearer key of every /v1 request: a missing or
// unknown key is 401.
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		scheme, secret, _ := strings.Cut(c.Request().Header.Get(echo.HeaderAuthorization), " ")
		secret = strings.TrimSpace(secret)
		if !strings.EqualFold(scheme, "Bearer") || secret == "" {
			c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="tally"`)
			return fault.Errorf(fault.Unauthorized, "send an API key as Authorization: Bearer <key>")
		}
		key, err := s.keys.authenticate(c.Request().Context(), s.ledger, secret)
		if err != nil {
			c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="tally", error="invalid_token"`)
			return err
		}
		c.Set(keyContext, key)
		return s.bounded(c, key, next)
	}
}

// allow lets the roles through and refuses every other with 403.
func allow(roles ...ledger.Role) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			key := keyOf(c)
			for _, r := range roles {
				if key.Role == r {
					return next(c)
				}
			}
			return fault.Errorf(fault.Forbidden, "a %s key may not %s %s", key.Role, c.Request().Method, c.Path())
		}
	}
}

// keyCache remembers authenticated keys, so that a request does not cost a
// database round trip to authenticate: a key is asked of the database at
// most once per keyCacheTTL. A key revoked through this server's ledger is
// forgotten at once (Ledger.OnKeyRevoked); one revoked elsewhere (another
// server, tally keys revoke) is refused from keyCacheTTL after its
// revocation committed at the latest, because an entry is trusted only
// within keyCacheTTL of the moment its database read began. Unknown keys are
// never cached.
type keyCache struct {
	mu   sync.Mutex
	keys map[[32]byte]cachedKey
	// forgotten counts revocations seen: a database read that began before
	// one may have returned the revoked key, so it is not cached.
	forgotten uint64
	now       func() time.Time // the cache's clock; nil is time.Now
}

type cachedKey struct {
	key     ledger.APIKey
	expires time.Time
}

// keyCacheTTL is how long a key read from the database is trusted: the
// longest a key revoked by another server keeps working here.
const keyCacheTTL = time.Second

func (kc *keyCache) authenticate(ctx context.Context, l *ledger.Ledger, secret string) (ledger.APIKey, error) {
	h := sha256.Sum256([]byte(secret))
	now := time.Now()
	if kc.now != nil {
		now = kc.now()
	}
	kc.mu.Lock()
	cached, ok := kc.keys[h]
	forgotten := kc.forgotten
	kc.mu.Unlock()
	if ok && now.Before(cached.expires) {
		return cached.key, nil
	}
	key, err := l.Authenticate(ctx, secret)
	if err != nil {
		return key, err
	}
	kc.mu.Lock()
	if kc.keys == nil || len(kc.keys) > 10000 {
		kc.keys = map[[32]byte]cachedKey{}
	}
	if kc.forgotten == forgotten {
		kc.keys[h] = cachedKey{key, now.Add(keyCacheTTL)}
	}
	kc.mu.Unlock()
	return key, nil
}

// forget drops key id from the cache: it was revoked.
func (kc *keyCache) forget(id int64) {
	kc.mu.Lock()
	defer kc.mu.Unlock()
	kc.forgotten++
	for h, k := range kc.keys {
		if k.key.ID == id {
			delete(kc.keys, h)
		}
	}
}

func keyOf(c echo.Context) ledger.APIKey {
	k, _ := c.Get(keyContext).(ledger.APIKey)
	return k
}

// actor names the key behind a write, for the entry's audit trail, after
// its partner when it has one: "partner:7/key:12:name".
func actor(c echo.Context) string {
	k := keyOf(c)
	a := "key:" + itoa(k.ID) + ":" + k.Name
	if k.PartnerID != 0 {
		a = "partner:" + itoa(k.PartnerID) + "/" + a
	}
	return a
}

// canReadAccount: admin and finance read every account, a customer key only
// its own customer's.
func canReadAccount(key ledger.APIKey, code string) error {
	switch key.Role {
	case ledger.RoleAdmin, ledger.RoleFinance:
		return nil
	case ledger.RoleCustomer:
		if id, ok := ledger.CustomerOf(code); ok && id == key.CustomerID {
			return nil
		}
		return fault.Errorf(fault.Forbidden, "a customer key reads only its own customer's accounts")
	}
	return fault.Errorf(fault.Forbidden, "a %s key may not read accounts", key.Role)
}
