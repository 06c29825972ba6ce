package api

import (
	"errors"
	"net/http"
	"slices"
	"strings"

	"multimail.dev/multimail/api/mcp"
	"multimail.dev/multimail/mailbox"
	"multimail.dev/multimail/submission"
)

// Scopes an API key may carry. "admin" implies every other scope.
const (
	scopeSend  = "send"
	scopeRead  = "read"
	scopeTag   = "tag"
	scopeAdmin = "admin"
)

// validScopes are the scopes a key may be created with.
var validScopes = []string{scopeSend, scopeRead, scopeTag, scopeAdmin}

// principal is who a request acts for: an API key, or the CLI over the admin socket.
type principal struct {
	keyID     string   // "" for the CLI
	mailboxes []string // ["*"] = every mailbox
	scopes    []string
	source    string // "api" or "cli": the door, recorded in approval decisions
}

// cliPrincipal is the admin socket's principal: file permissions were the authentication.
var cliPrincipal = principal{mailboxes: []string{"*"}, scopes: []string{scopeAdmin}, source: "cli"}

// may reports whether p may act for the mailbox address.
func (p *principal) may(address string) bool {
	for _, m := range p.mailboxes {
		if m == "*" || strings.EqualFold(m, address) {
			return true
		}
	}
	return false
}

// all reports whether p may act for every mailbox.
func (p *principal) all() bool { return slices.Contains(p.mailboxes, "*") }

// isAdmin reports whether p holds the admin scope.
func (p *principal) isAdmin() bool { return slices.Contains(p.scopes, scopeAdmin) }

// hasAny reports whether p holds one of scopes (admin holds all).
func (p *principal) hasAny(scopes []string) bool {
	if p.isAdmin() {
		return true
	}
	for _, s := range scopes {
		if slices.Contains(p.scopes, s) {
			return true
		}
	}
	return false
}

// by names p in approval decisions: "api:key_x" or "cli".
func (p *principal) by() string {
	if p.keyID == "" {
		return p.source
	}
	return p.source + ":" + p.keyID
}

// forSend is p as submission sees it when sending as mailbox (already checked with may).
func (p *principal) forSend(mailbox string) submission.Principal {
	mb := mailbox
	if p.all() {
		mb = "*"
	}
	return submission.Principal{Mailbox: mb, KeyID: p.keyID, Scopes: p.scopes, Source: p.source}
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
// limit: 401 without a valid key, 429 over the limit.
func (s *Server) bearer(r *http.Request) (*principal, error) {
	key, ok := bearerKey(r)
	if !ok {
		return nil, errUnauthorized("missing Authorization: Bearer <api key>")
	}
	k, err := s.opts.Store.APIKeyByHash(r.Context(), mailbox.HashAPIKey(key))
	if errors.Is(err, mailbox.ErrNotFound) {
		return nil, errUnauthorized("invalid API key")
	}
	if err != nil {
		return nil, err
	}
	if err := s.limiter.allow(k.ID); err != nil {
		return nil, err
	}
	src := "api"
	if r.Header.Get(mcp.SourceHeader) == "mcp" {
		src = "mcp" // a label for the trail only
	}
	return &principal{keyID: k.ID, mailboxes: k.Mailboxes, scopes: k.Scopes, source: src}, nil
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
		if _, err := s.bearer(r); err != nil {
			body.refused(toError(err).Status)
			s.writeError(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}
