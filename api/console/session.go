package console

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"sync"
	"time"

	"multimail.dev/multimail/api"
)

// Session lifetimes: idle and absolute.
const (
	DefaultIdleTimeout     = 30 * time.Minute
	DefaultAbsoluteTimeout = 12 * time.Hour
)

// Cookie names. Over TLS the cookie is "__Host-" prefixed (Secure, Path=/, no Domain: bound to
// this exact origin). The prefix requires Secure, which a browser refuses to set over plain
// http, so the loopback dev console uses the plain name with the same HttpOnly and
// SameSite=Strict attributes.
const (
	cookieTLS   = "__Host-mm_console"
	cookiePlain = "mm_console"
	loginCookie = "mm_console_login" // the sign-in form's CSRF token (double submit)
)

// session is one signed-in browser. The API key stays server side: every page calls the API
// with it, so the session can do exactly what the key can.
type session struct {
	key      string
	ident    api.Identity
	csrf     string
	created  time.Time
	lastSeen time.Time
}

// sessions is the in-memory session table, keyed by the SHA-256 of the cookie's id.
type sessions struct {
	mu       sync.Mutex
	m        map[[32]byte]*session
	idle     time.Duration
	absolute time.Duration
}

func newSessions(idle, absolute time.Duration) *sessions {
	return &sessions{m: map[[32]byte]*session{}, idle: idle, absolute: absolute}
}

// randomToken is 32 random bytes, base64url.
func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// create starts a session and returns its cookie id.
func (s *sessions) create(key string, ident api.Identity, now time.Time) (string, *session) {
	id := randomToken()
	ss := &session{key: key, ident: ident, csrf: randomToken(), created: now, lastSeen: now}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gcLocked(now)
	s.m[sha256.Sum256([]byte(id))] = ss
	return id, ss
}

// get returns the live session of id; touch extends its idle time (the live-update stream
// does not, so a console left open still ends after the idle timeout).
func (s *sessions) get(id string, now time.Time, touch bool) *session {
	if id == "" {
		return nil
	}
	h := sha256.Sum256([]byte(id))
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.m[h]
	if ss == nil {
		return nil
	}
	if now.Sub(ss.lastSeen) > s.idle || now.Sub(ss.created) > s.absolute {
		delete(s.m, h)
		return nil
	}
	if touch {
		ss.lastSeen = now
	}
	return ss
}

// drop ends the session of id.
func (s *sessions) drop(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, sha256.Sum256([]byte(id)))
}

func (s *sessions) gcLocked(now time.Time) {
	for h, ss := range s.m {
		if now.Sub(ss.lastSeen) > s.idle || now.Sub(ss.created) > s.absolute {
			delete(s.m, h)
		}
	}
}

// cookieName is the session cookie's name for r.
func (c *Console) cookieName(r *http.Request) string {
	if c.secure(r) {
		return cookieTLS
	}
	return cookiePlain
}

// session returns r's live session, or nil.
func (c *Console) session(r *http.Request, touch bool) (*session, string) {
	ck, err := r.Cookie(c.cookieName(r))
	if err != nil {
		return nil, ""
	}
	return c.sess.get(ck.Value, c.now(), touch), ck.Value
}

// setCookie writes a console cookie (maxAge < 0 deletes it).
func (c *Console) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: c.secure(r), SameSite: http.SameSiteStrictMode})
}

// csrfOK compares a form's token with the expected one in constant time.
func csrfOK(got, want string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}
