package api

// identity.go publishes the identity keys (package identity): GET /.well-known/multimail-identity
// (no auth: recipients fetch it), their DNS records (dns.go), and the admin routes that rotate
// and revoke them.

import (
	"net/http"
	"strings"

	"multimail.dev/multimail/audit"
	"multimail.dev/multimail/identity"
	"multimail.dev/multimail/mailbox"
)

// Audit record kinds of identity key changes (Object the domain, Detail the selectors).
const (
	kindIdentityRotate = "identity.rotate"
	kindIdentityRevoke = "identity.revoke"
)

// WellKnownIdentityPath is where the identity key set is served.
const WellKnownIdentityPath = "/.well-known/multimail-identity"

// identityKeys returns the public identity keys of d, oldest first.
func identityKeys(d mailbox.Domain) ([]identity.Key, error) {
	var out []identity.Key
	for _, k := range d.IdentityKeys {
		pub, err := identity.PublicKey(d.Name, k.Selector, k.Status, k.KeyPEM)
		if err != nil {
			return nil, err
		}
		out = append(out, pub)
	}
	return out, nil
}

// wellKnownIdentity is GET /.well-known/multimail-identity[?domain=D]: the key set of every
// domain (or of D), with no authentication: public keys are public.
func (s *Server) wellKnownIdentity(w http.ResponseWriter, r *http.Request) {
	ks := identity.KeySet{Version: 1, Keys: []identity.Key{}}
	if s.opts.Store == nil {
		writeErrorBody(w, &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Message: "no store"})
		return
	}
	want := strings.ToLower(strings.TrimSuffix(r.URL.Query().Get("domain"), "."))
	ds, err := s.opts.Store.Domains(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	for _, d := range ds {
		if want != "" && d.Name != want {
			continue
		}
		keys, err := identityKeys(d)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		ks.Keys = append(ks.Keys, keys...)
	}
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Header().Set("Access-Control-Allow-Origin", "*")
	writeJSON(w, http.StatusOK, ks)
}

// rotateIdentity is POST /v1/admin/domains/{name}/identity/rotate: a new active identity key
// under the next selector; the old one is retired (it still verifies what it signed).
func (s *Server) rotateIdentity(w http.ResponseWriter, r *http.Request, p *principal) error {
	if !p.superAdmin() {
		return errNotAdmin("a domain's identity keys")
	}
	d, err := s.pathDomain(r)
	if err != nil {
		return err
	}
	pemKey, err := identity.GenerateKey()
	if err != nil {
		return err
	}
	keys := mailbox.RotateIdentityKeys(d.IdentityKeys, pemKey, s.clock.Now())
	if err := s.opts.Store.SetIdentityKeys(detached(r.Context()), d.Name, keys); err != nil {
		return err
	}
	if err := s.audit(detached(r.Context()), p, audit.Record{Kind: kindIdentityRotate, Object: d.Name,
		Detail: map[string]string{"selector": keys[len(keys)-1].Selector}}); err != nil {
		return err
	}
	d.IdentityKeys = keys
	return s.writeIdentityKeys(w, d)
}

// revokeIdentity is POST /v1/admin/domains/{name}/identity/{selector}/revoke: the key then
// verifies nothing (its record is published with an empty p=). The active key cannot be
// revoked before a rotation replaces it (409).
func (s *Server) revokeIdentity(w http.ResponseWriter, r *http.Request, p *principal) error {
	if !p.superAdmin() {
		return errNotAdmin("a domain's identity keys")
	}
	d, err := s.pathDomain(r)
	if err != nil {
		return err
	}
	sel, err := pathValue(r, "selector")
	if err != nil {
		return err
	}
	keys := d.IdentityKeys
	found := false
	for i, k := range keys {
		if k.Selector != sel {
			continue
		}
		if k.Status == mailbox.IdentityActive {
			return errConflict("identity key %s is the active key: rotate first", sel)
		}
		keys[i].Status, found = mailbox.IdentityRevoked, true
	}
	if !found {
		return errNotFound("identity key")
	}
	if err := s.opts.Store.SetIdentityKeys(detached(r.Context()), d.Name, keys); err != nil {
		return err
	}
	if err := s.audit(detached(r.Context()), p, audit.Record{Kind: kindIdentityRevoke, Object: d.Name,
		Detail: map[string]string{"selector": sel}}); err != nil {
		return err
	}
	return s.writeIdentityKeys(w, d)
}

// pathDomain loads the domain named by the {name} path value.
func (s *Server) pathDomain(r *http.Request) (mailbox.Domain, error) {
	name, err := pathValue(r, "name")
	if err != nil {
		return mailbox.Domain{}, err
	}
	return s.opts.Store.Domain(r.Context(), strings.ToLower(name))
}

func (s *Server) writeIdentityKeys(w http.ResponseWriter, d mailbox.Domain) error {
	keys, err := identityKeys(d)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, identity.KeySet{Version: 1, Keys: keys})
	return nil
}
