package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/labstack/echo/v4"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/ledger"
)

// The kinds of session, each with its own cookie and paths.
const (
	kindPortal  = "portal"
	kindConsole = "console"
)

const (
	// LinkTTL is how long a portal link may wait to be opened.
	LinkTTL = 5 * time.Minute
	// PortalIdle and ConsoleIdle end a session that has made no request
	// for that long.
	PortalIdle  = 15 * time.Minute
	ConsoleIdle = 30 * time.Minute
	// sessionMax ends any session this long after it began.
	sessionMax = 8 * time.Hour
)

const (
	sessionContext    = "web.session"
	signinCSRFContext = "web.signin_csrf"
	signinCookie      = "tally_signin" // the sign-in form's token (the base of its name: cookieName)
)

// session is a signed-in portal customer or console user.
type session struct {
	Kind       string
	CustomerID string // the portal's customer
	KeyID      int64
	Role       ledger.Role
	CSRF       string
	idHash     []byte
}

// cookieName is the name of the request's cookie of the base name (a
// session's, sessionCookie, or the sign-in token's). Over TLS it is a
// __Host- cookie, which a browser keeps only when this very host set it
// Secure, for Path=/ and with no Domain: a page on a sibling subdomain
// (same site, another origin) can set a cookie for the whole parent
// domain, and could otherwise hand this site's visitor a session of its
// own (the attacker's portal) or a sign-in token it knows. Only the
// __Host- name is read over TLS; plain HTTP, where no cookie is safe from
// the network anyway, keeps the base name. Every cookie is for Path=/, as
// __Host- requires.
func cookieName(c echo.Context, base string) string {
	if overTLS(c) {
		return "__Host-" + base
	}
	return base
}

// sessionCookie is the base name of the cookie of a session of the kind.
// It is not tally_<kind>, the name its cookie had for Path=/<kind>: a
// browser may keep such a cookie from before, and sends the cookie of the
// longer path first, so it would shadow every new session of that name.
func sessionCookie(kind string) string { return "tally_" + kind + "_session" }

// secret is 32 random bytes, base64url: a token, a session id, a CSRF token.
func secret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

func hash(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// PortalLink makes a one-time link into the portal for the customer, asked
// for by the partner key keyID: the path to open (with its token) and when
// it stops working.
//
// Errors: fault.UnknownCustomer.
func (p *Pages) PortalLink(ctx context.Context, customerID string, keyID int64) (string, time.Time, error) {
	token := secret()
	now := p.ledger.Now()
	expires := now.Add(LinkTTL)
	_, err := p.db.Exec(ctx, `INSERT INTO portal_links (token_hash, customer_id, key_id, created_at, expires_at)
VALUES ($1, $2, $3, $4, $5)`, hash(token), customerID, keyID, now, expires)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == pgerrcode.ForeignKeyViolation {
		return "", expires, fault.Errorf(fault.UnknownCustomer, "no customer %s", customerID)
	}
	if err != nil {
		return "", expires, err
	}
	return "/portal/enter/" + token, expires, nil
}

// enterForm is what opening a portal link shows: a button that opens the
// customer's session (enter), the link still unspent. A GET spends
// nothing: chat and mail apps fetch a link to preview it before anyone
// taps it, and a link spent by its preview would greet its customer as
// spent; and a page elsewhere could sign its visitors in to someone else's
// portal by embedding a link that a GET spends. A spent, expired or
// unknown link is refused alike, as enter refuses it.
func (p *Pages) enterForm(c echo.Context) error {
	var live bool
	if err := p.db.QueryRow(c.Request().Context(), `SELECT EXISTS (SELECT FROM portal_links
WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2)`, hash(c.Param("token")), p.ledger.Now()).Scan(&live); err != nil {
		return p.fail(c, err)
	}
	if !live {
		return p.linkSpent(c)
	}
	c.Set(signinCSRFContext, p.signinToken(c))
	return p.render(c, http.StatusOK, "portal_enter", "enter.title",
		map[string]string{"Action": "/portal/enter/" + c.Param("token")})
}

func (p *Pages) linkSpent(c echo.Context) error {
	return p.render(c, http.StatusGone, "error", "error.title", map[string]string{"Message": "error.link_spent"})
}

// enter spends a portal link, sent back by its page's form (enterForm,
// whose CSRF token it carries, as a sign-in form's), and opens the
// customer's session; a spent, expired or unknown link is refused alike.
func (p *Pages) enter(c echo.Context) error {
	if _, ok := signinTokenSent(c); !ok {
		return p.forged(c)
	}
	ctx := c.Request().Context()
	now := p.ledger.Now()
	var customerID string
	var keyID int64
	err := p.db.QueryRow(ctx, `UPDATE portal_links SET used_at = $2
WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2 RETURNING customer_id, key_id`,
		hash(c.Param("token")), now).Scan(&customerID, &keyID)
	if errors.Is(err, pgx.ErrNoRows) {
		return p.linkSpent(c)
	}
	if err != nil {
		return p.fail(c, err)
	}
	if err := p.open(c, session{Kind: kindPortal, CustomerID: customerID, KeyID: keyID, Role: ledger.RoleCustomer}); err != nil {
		return p.fail(c, err)
	}
	return c.Redirect(http.StatusSeeOther, "/portal")
}

// open stores a new session and sets its cookie.
func (p *Pages) open(c echo.Context, s session) error {
	id := secret()
	now := p.ledger.Now()
	var cust *string
	if s.CustomerID != "" {
		cust = &s.CustomerID
	}
	// The session this browser held on this side, if any, ends: a new
	// sign-in replaces it rather than leaving it alive beside the new one.
	var old []byte
	if ck, err := c.Cookie(cookieName(c, sessionCookie(s.Kind))); err == nil && ck.Value != "" {
		old = hash(ck.Value)
	}
	if _, err := p.db.Exec(c.Request().Context(), `WITH ended AS (
    UPDATE web_sessions SET revoked_at = $7 WHERE id_hash = $9 AND kind = $2 AND revoked_at IS NULL)
INSERT INTO web_sessions
    (id_hash, kind, customer_id, key_id, role, csrf, created_at, last_seen_at, expires_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8)`, hash(id), s.Kind, cust, s.KeyID, string(s.Role), secret(), now,
		now.Add(sessionMax), old); err != nil {
		return err
	}
	p.setCookie(c, s.Kind, id, 0)
	return nil
}

// setCookie sets (maxAge 0: for the browser's session) or clears (maxAge
// < 0) a session cookie: HttpOnly, Secure under TLS (and then __Host-,
// cookieName), SameSite Lax for the portal (its link is opened from
// another app) and Strict for the console.
func (p *Pages) setCookie(c echo.Context, kind, value string, maxAge int) {
	same := http.SameSiteStrictMode
	if kind == kindPortal {
		same = http.SameSiteLaxMode
	}
	c.SetCookie(&http.Cookie{Name: cookieName(c, sessionCookie(kind)), Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: overTLS(c), SameSite: same})
}

// idle is how long a session of the kind may go without a request.
func idle(kind string) time.Duration {
	if kind == kindConsole {
		return ConsoleIdle
	}
	return PortalIdle
}

// session lets through requests of a live session of the kind, and keeps it
// alive; without one, the console asks to sign in and the portal says the
// session ended. A POST must carry the session's CSRF token.
func (p *Pages) session(kind string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			s, err := p.lookup(c, kind)
			if err != nil {
				return p.fail(c, err)
			}
			if s == nil {
				if kind == kindConsole {
					return c.Redirect(http.StatusSeeOther, "/console/signin")
				}
				return p.render(c, http.StatusUnauthorized, "error", "error.title",
					map[string]string{"Message": "error.signed_out"})
			}
			c.Set(sessionContext, s)
			if c.Request().Method == http.MethodPost && !sameToken(c.FormValue("csrf"), s.CSRF) {
				return p.forged(c)
			}
			return next(c)
		}
	}
}

// touchEvery is how stale a session's last_seen_at may grow before a
// request writes it again: most page views then only read their session,
// and the idle timeout is kept to within this much.
const touchEvery = time.Minute

// lookup finds the request's live session of the kind and marks it seen:
// nil when there is none (no cookie, unknown, signed out, idle too long or
// too old).
func (p *Pages) lookup(c echo.Context, kind string) (*session, error) {
	r := c.Request()
	ck, err := r.Cookie(cookieName(c, sessionCookie(kind)))
	if err != nil || ck.Value == "" {
		return nil, nil
	}
	now := p.ledger.Now()
	s := &session{Kind: kind, idHash: hash(ck.Value)}
	var cust *string
	var role string
	var seen time.Time
	// A session lives no longer than the key that opened it (the customer's
	// or finance's own key, or the partner's that asked for the link).
	err = p.db.QueryRow(r.Context(), `SELECT s.customer_id, s.key_id, s.role, s.csrf, s.last_seen_at
FROM web_sessions s
WHERE s.id_hash = $1 AND s.kind = $2 AND s.revoked_at IS NULL AND s.expires_at > $3
  AND s.last_seen_at > $3 - $4 * interval '1 second'`,
		s.idHash, kind, now, int64(idle(kind)/time.Second)).Scan(&cust, &s.KeyID, &role, &s.CSRF, &seen)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if live, err := p.ledger.KeyLive(r.Context(), s.KeyID); err != nil || !live {
		return nil, err
	}
	if now.Sub(seen) >= touchEvery {
		if _, err := p.db.Exec(r.Context(), `UPDATE web_sessions SET last_seen_at = $2 WHERE id_hash = $1 AND last_seen_at < $2`,
			s.idHash, now); err != nil {
			return nil, err
		}
	}
	if cust != nil {
		s.CustomerID = *cust
	}
	s.Role = ledger.Role(role)
	return s, nil
}

// ConsoleKey is the key behind the request's console session, for the CSV
// downloads the API serves to it (GET only): ok is false without a live
// session.
func (p *Pages) ConsoleKey(c echo.Context) (ledger.APIKey, bool, error) {
	s, err := p.lookup(c, kindConsole)
	if err != nil || s == nil {
		return ledger.APIKey{}, false, err
	}
	return ledger.APIKey{ID: s.KeyID, Name: "console session", Role: s.Role}, true, nil
}

// signOut revokes the session and clears its cookie.
func (p *Pages) signOut(kind string) echo.HandlerFunc {
	return func(c echo.Context) error {
		s := c.Get(sessionContext).(*session)
		if _, err := p.db.Exec(c.Request().Context(), `UPDATE web_sessions SET revoked_at = $2 WHERE id_hash = $1`,
			s.idHash, p.ledger.Now()); err != nil {
			return p.fail(c, err)
		}
		p.setCookie(c, kind, "", -1)
		return c.Redirect(http.StatusSeeOther, "/"+kind+"/signin")
	}
}

// forged answers a form that is not the site's own (its CSRF token
// wrong or missing, or posted from another origin): 403, nothing done.
func (p *Pages) forged(c echo.Context) error {
	return p.render(c, http.StatusForbidden, "error", "error.title", map[string]string{"Message": "error.csrf"})
}

// signinTokenSent is the sign-in cookie's token when the form sent it back
// (a sign-in form's, a portal link's button): ok is false otherwise.
func signinTokenSent(c echo.Context) (token string, ok bool) {
	ck, err := c.Cookie(cookieName(c, signinCookie))
	if err != nil || !sameToken(c.FormValue("csrf"), ck.Value) {
		return "", false
	}
	return ck.Value, true
}

func sameToken(got, want string) bool {
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// signinToken is the CSRF token of a sign-in form, before any session: a
// random value in a cookie that the form sends back. The cookie is Lax, so
// that a sign-in page reached by a link from another site (a Strict cookie
// stays behind on that navigation) keeps the token of a form open in
// another tab; another site's POST carries no Lax cookie, and its origin
// is refused before (sameOrigin).
func (p *Pages) signinToken(c echo.Context) string {
	if ck, err := c.Cookie(cookieName(c, signinCookie)); err == nil && len(ck.Value) == 43 {
		return ck.Value
	}
	tok := secret()
	c.SetCookie(&http.Cookie{Name: cookieName(c, signinCookie), Value: tok, Path: "/", HttpOnly: true, Secure: overTLS(c),
		SameSite: http.SameSiteLaxMode})
	return tok
}

// signIn turns a key sent by a sign-in form into a session of the kind for
// a key of one of roles; the key itself is kept nowhere.
func (p *Pages) signIn(c echo.Context, kind, form string, roles ...ledger.Role) error {
	token, ok := signinTokenSent(c)
	if !ok {
		return p.forged(c)
	}
	c.Set(signinCSRFContext, token)
	key, err := p.ledger.Authenticate(c.Request().Context(), c.FormValue("key"))
	var fe *fault.Error
	if errors.As(err, &fe) && fe.Code == fault.Unauthorized {
		return p.render(c, http.StatusUnauthorized, form, "signin.title", map[string]string{"Error": "signin.unknown_key"})
	}
	if err != nil {
		return p.fail(c, err)
	}
	allowed := false
	for _, r := range roles {
		allowed = allowed || key.Role == r
	}
	if !allowed {
		return p.render(c, http.StatusForbidden, form, "signin.title", map[string]string{"Error": "signin.wrong_role"})
	}
	if err := p.open(c, session{Kind: kind, CustomerID: key.CustomerID, KeyID: key.ID, Role: key.Role}); err != nil {
		return p.fail(c, err)
	}
	return c.Redirect(http.StatusSeeOther, "/"+kind)
}

func (p *Pages) customerSignInForm(c echo.Context) error {
	c.Set(signinCSRFContext, p.signinToken(c))
	return p.render(c, http.StatusOK, "portal_signin", "signin.title", map[string]string{})
}

func (p *Pages) customerSignIn(c echo.Context) error {
	return p.signIn(c, kindPortal, "portal_signin", ledger.RoleCustomer)
}

func (p *Pages) consoleSignInForm(c echo.Context) error {
	c.Set(signinCSRFContext, p.signinToken(c))
	return p.render(c, http.StatusOK, "console_signin", "signin.title", map[string]string{})
}

func (p *Pages) consoleSignIn(c echo.Context) error {
	return p.signIn(c, kindConsole, "console_signin", ledger.RoleFinance, ledger.RoleAdmin)
}

// overTLS reports whether the browser reached the page over TLS: directly,
// or through a proxy that ends TLS and says so (X-Forwarded-Proto: https and
// the like), the only way TLS reaches the binary, which serves plain HTTP.
// The proxy may have any address (a cloud load balancer's or a CDN's is
// public): the pages' Echo believes its headers from every address, as echo
// did before v4.16.5 (which believes them from private addresses only,
// and so served the plain cookies a sibling subdomain can plant behind a
// public proxy). A client that claims https over plain HTTP gets Secure
// cookies its browser drops and an HSTS header it ignores: it harms only
// itself.
func overTLS(c echo.Context) bool { return c.Scheme() == "https" }
