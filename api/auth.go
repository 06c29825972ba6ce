package api

import (
	"errors"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"multimail.dev/multimail/api/mcp"
	"multimail.dev/multimail/mailbox"
	"multimail.dev/multimail/submission"
)

// Scopes an API key may carry (mailbox.AllScopes). "admin" implies read, tag and approve,
// never send; send is never held together with approve or admin (mailbox.CheckScopes).
const (
	scopeSend    = mailbox.ScopeSend
	scopeRead    = mailbox.ScopeRead
	scopeTag     = mailbox.ScopeTag
	scopeApprove = mailbox.ScopeApprove
	scopeAdmin   = mailbox.ScopeAdmin
)

// principal is who a request acts for: an API key, or the CLI over the admin socket.
//
// The authorization model (docs/authorization.md): a key never grants more than it holds, its
// mailboxes × its scopes. Only a "*" admin key (or the ctl socket) administers domains,
// mailboxes and other keys; a mailbox-scoped admin sees and acts on its own mailboxes only. A
// key that holds send never decides approvals (separation of duties). A resource addressed by
// id (message, email, approval, queue entry, key) that the key may not see is 404, exactly as
// one that does not exist; a mailbox the request names, or a scope the key lacks, is 403.
type principal struct {
	keyID     string   // "" for the CLI
	mailboxes []string // ["*"] = every mailbox
	scopes    []string
	source    string // "api", "mcp" or "cli": the door, recorded in approval decisions
	owner     bool   // the ctl socket: holds every scope, not bound by separation of duties
	test      bool   // a test key (mailbox.APIKey.Test): sends are never delivered; sees test messages only
}

// cliPrincipal is the admin socket's principal: file permissions were the authentication.
var cliPrincipal = principal{mailboxes: []string{mailbox.AllMailboxes}, scopes: []string{scopeAdmin}, source: "cli", owner: true}

// may reports whether p may act for the mailbox address.
func (p *principal) may(address string) bool {
	for _, m := range p.mailboxes {
		if m == mailbox.AllMailboxes || strings.EqualFold(m, address) {
			return true
		}
	}
	return false
}

// all reports whether p may act for every mailbox.
func (p *principal) all() bool { return slices.Contains(p.mailboxes, mailbox.AllMailboxes) }

// holds reports whether p holds scope (mailbox.ScopeHeld; the owner holds all).
func (p *principal) holds(scope string) bool {
	return p.owner || mailbox.ScopeHeld(p.scopes, scope)
}

// hasAny reports whether p holds one of scopes.
func (p *principal) hasAny(scopes []string) bool {
	return slices.ContainsFunc(scopes, p.holds)
}

// superAdmin reports whether p administers the node: domains, mailboxes, every key and the
// whole queue. Only the ctl socket and a "*" key holding admin do.
func (p *principal) superAdmin() bool { return p.owner || (p.all() && p.holds(scopeAdmin)) }

// administers reports whether p is an admin of the mailbox address.
func (p *principal) administers(address string) bool { return p.holds(scopeAdmin) && p.may(address) }

// oversees reports whether p may act as the mailbox's overseer: decide its approvals, see mail
// gated_all holds, edit its rules or allowlists, raise its oversight mode. That needs approve
// (or admin) and, separation of duties, no send: a legacy key created with both is refused
// here, at use time. Endpoints that change a mailbox's oversight must check this.
func (p *principal) oversees(address string) bool {
	return p.may(address) && p.forSend(address).MayDecide(address) == nil
}

// seesTest reports whether p may see a message whose test flag is test: a test key sees test
// messages only; a live key that may send or read as mailbox never sees a test message (404,
// as if absent); its overseers (approve/admin, who decide its approval) and the CLI see both.
func (p *principal) seesTest(test bool) bool {
	if p.test {
		return test
	}
	return !test || p.owner || p.holds(scopeApprove)
}

// errNotAdmin is the 403 of the endpoints only a super admin may use.
func errNotAdmin(what string) error {
	return errForbidden("%s needs an admin key for every mailbox (\"*\") or the CLI", what)
}

// covers reports whether p may see, create or delete the key k: a super admin any; a
// mailbox-scoped admin a key of its own mailboxes only ("*" is not its own) with no more than
// its own scopes.
func (p *principal) covers(k mailbox.APIKey) bool {
	if p.superAdmin() {
		return true
	}
	if !p.holds(scopeAdmin) || len(k.Mailboxes) == 0 {
		return false
	}
	for _, m := range k.Mailboxes {
		if m == mailbox.AllMailboxes || !p.may(m) {
			return false
		}
	}
	return mailbox.ScopesWithin(k.Scopes, p.scopes)
}

// by names p in approval decisions: "api:key_x" or "cli".
func (p *principal) by() string {
	if p.keyID == "" {
		return p.source
	}
	return p.source + ":" + p.keyID
}

// forSend is p as submission sees it when acting as mailbox (already checked with may).
func (p *principal) forSend(mb string) submission.Principal {
	if p.all() {
		mb = mailbox.AllMailboxes
	}
	return submission.Principal{Mailbox: mb, KeyID: p.keyID, Scopes: p.scopes, Source: p.source, Owner: p.owner, Test: p.test}
}

// bearerKey extracts the API key of "Authorization: Bearer <key>".
func bearerKey(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, key, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	key = strings.TrimSpace(key)
	return key, key != ""
}

// bearer authenticates a request by its API key (stored hashed) and applies the key's rate
// limit: 401 without a valid key, 429 over the limit or from a client throttled for unknown
// keys (throttle.go).
func (s *Server) bearer(r *http.Request) (*principal, error) {
	key, ok := bearerKey(r)
	if !ok {
		return nil, errUnauthorized("missing Authorization: Bearer <api key>")
	}
	if err := s.throttleCheck(r, key); err != nil {
		return nil, err
	}
	k, err := s.opts.Store.APIKeyByHash(r.Context(), mailbox.HashAPIKey(key))
	if errors.Is(err, mailbox.ErrNotFound) {
		s.throttleFailure(r)
		return nil, errUnauthorized("invalid API key")
	}
	if err != nil {
		return nil, err
	}
	s.throttleSuccess(r, key)
	if err := s.limiter.allow(k.ID); err != nil {
		return nil, err
	}
	src := "api"
	switch r.Header.Get(mcp.SourceHeader) {
	case "mcp", "console": // a label for the trail only (the key is what authorizes)
		src = r.Header.Get(mcp.SourceHeader)
	}
	// A legacy key (send with approve or admin) acts with its agent half only.
	return &principal{keyID: k.ID, mailboxes: k.Mailboxes, scopes: mailbox.UsableScopes(k.Scopes), source: src, test: k.Test}, nil
}

// socketPrincipal is the admin handler's authFunc.
func (s *Server) socketPrincipal(*http.Request) (*principal, error) {
	p := cliPrincipal
	return &p, nil
}

// mcpAuth guards /mcp: every request needs a valid key (401 otherwise) and is rate limited;
// the tool calls it carries then run with that same key through the API handler.
func (s *Server) mcpAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := s.guardBody(w, r)
		defer body.done()
		if !sameOrigin(r) { // DNS rebinding: the MCP specification asks servers to check Origin
			body.refused(http.StatusForbidden)
			s.writeError(w, r, errForbidden("Origin %q is not this server", r.Header.Get("Origin")))
			return
		}
		if _, err := s.bearer(r); err != nil {
			body.refused(toError(err).Status)
			s.writeError(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// sameOrigin accepts a request without an Origin header (not from a browser) or whose Origin
// is this server as the request addressed it (scheme-less host:port equal to Host). A page on
// another origin, or a rebound DNS name, is refused before any key is looked at.
func sameOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return false
	}
	host := u.Host
	if u.Port() == "" {
		port := "80"
		if u.Scheme == "https" {
			port = "443"
		}
		host = net.JoinHostPort(u.Hostname(), port)
	}
	want := r.Host
	if _, _, err := net.SplitHostPort(want); err != nil {
		port := "80"
		if r.TLS != nil {
			port = "443"
		}
		want = net.JoinHostPort(want, port)
	}
	return strings.EqualFold(host, want)
}
