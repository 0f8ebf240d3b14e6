package api

import (
	"strings"

	"github.com/labstack/echo/v4"

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
			return ledger.Errorf(ledger.CodeUnauthorized, "send an API key as Authorization: Bearer <key>")
		}
		key, err := s.ledger.Authenticate(c.Request().Context(), secret)
		if err != nil {
			c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="tally", error="invalid_token"`)
			return err
		}
		c.Set(keyContext, key)
		return next(c)
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
			return ledger.Errorf(ledger.CodeForbidden, "a %s key may not %s %s", key.Role, c.Request().Method, c.Path())
		}
	}
}

func keyOf(c echo.Context) ledger.APIKey {
	k, _ := c.Get(keyContext).(ledger.APIKey)
	return k
}

// actor names the key behind a write, for the entry's audit trail.
func actor(c echo.Context) string {
	k := keyOf(c)
	return "key:" + itoa(k.ID) + ":" + k.Name
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
		return ledger.Errorf(ledger.CodeForbidden, "a customer key reads only its own customer's accounts")
	}
	return ledger.Errorf(ledger.CodeForbidden, "a %s key may not read accounts", key.Role)
}
