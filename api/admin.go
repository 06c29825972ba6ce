package api

import (
	"crypto/rand"
	"encoding/base32"
	"errors"
	"net/http"
	"slices"
	"strings"

	"multimail.dev/multimail/api/wire"
	"multimail.dev/multimail/audit"
	"multimail.dev/multimail/identity"
	"multimail.dev/multimail/mailbox"
)

// addDomain is POST /v1/admin/domains {name, dkim_selector?, key_type?}: stores the domain
// with a new DKIM key and answers 201 with the DNS records to publish.
func (s *Server) addDomain(w http.ResponseWriter, r *http.Request, p *principal) error {
	if !p.superAdmin() {
		return errNotAdmin("adding a domain")
	}
	var req wire.DomainRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	d, err := s.newDomain(req)
	if err != nil {
		return err
	}
	if err := s.opts.Store.AddDomain(detached(r.Context()), d); err != nil {
		return err
	}
	if err := s.audit(detached(r.Context()), p, audit.Record{Kind: audit.KindDomainAdd, Object: d.Name,
		Detail: map[string]string{"dkim_selector": d.DKIMSelector}}); err != nil {
		return err
	}
	out, err := s.domainJSON(d, true)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, out)
	return nil
}

// newDomain validates a domain request and generates its key.
func (s *Server) newDomain(req wire.DomainRequest) (mailbox.Domain, error) {
	name := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(req.Name)), ".")
	if name == "" {
		return mailbox.Domain{}, errField("name", "required")
	}
	if !validDomain(name) {
		return mailbox.Domain{}, errField("name", "not a valid domain name")
	}
	sel := req.DKIMSelector
	if sel == "" {
		sel = mailbox.DefaultDKIMSelector
	}
	if !validLabel(sel) {
		return mailbox.Domain{}, errField("dkim_selector", "must be a DNS label (letters, digits, hyphens)")
	}
	kt := strings.ToLower(req.KeyType)
	if kt == "" {
		kt = keyRSA
	}
	pemKey, err := generateDKIMKey(kt)
	if err != nil {
		return mailbox.Domain{}, err
	}
	idKey, err := identity.GenerateKey()
	if err != nil {
		return mailbox.Domain{}, err
	}
	now := s.clock.Now().UTC()
	return mailbox.Domain{Name: name, DKIMSelector: sel, DKIMKeyPEM: pemKey, Created: now,
		IdentityKeys: mailbox.RotateIdentityKeys(nil, idKey, now)}, nil
}

// validDomain accepts LDH labels (and "localhost"-style single labels).
func validDomain(name string) bool {
	if len(name) > 253 {
		return false
	}
	for _, l := range strings.Split(name, ".") {
		if !validLabel(l) {
			return false
		}
	}
	return true
}

func validLabel(l string) bool {
	if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	for _, c := range l {
		ok := c == '-' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
		if !ok {
			return false
		}
	}
	return true
}

func (s *Server) domainJSON(d mailbox.Domain, withDNS bool) (wire.Domain, error) {
	out := wire.Domain{Name: d.Name, DKIMSelector: selectorOf(d), CreatedAt: wireTime(d.Created)}
	if len(d.DKIMKeyPEM) > 0 {
		kt, _, err := dkimRecord(d.DKIMKeyPEM)
		if err != nil {
			return out, err
		}
		out.KeyType = kt
	}
	if withDNS {
		dns, err := s.dnsRecords(d) // dnspools.go: with the IP pools
		if err != nil {
			return out, err
		}
		out.DNS = &dns
	}
	return out, nil
}

// listDomains is GET /v1/admin/domains.
func (s *Server) listDomains(w http.ResponseWriter, r *http.Request, p *principal) error {
	if !p.superAdmin() {
		return errNotAdmin("listing domains")
	}
	ds, err := s.opts.Store.Domains(r.Context())
	if err != nil {
		return err
	}
	out := wire.DomainList{Domains: make([]wire.Domain, 0, len(ds))}
	for _, d := range ds {
		dj, err := s.domainJSON(d, false)
		if err != nil {
			return err
		}
		out.Domains = append(out.Domains, dj)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// domainDNS is GET /v1/admin/domains/{name}/dns: records as data and as zone-file text.
func (s *Server) domainDNS(w http.ResponseWriter, r *http.Request, p *principal) error {
	if !p.superAdmin() {
		return errNotAdmin("a domain's DNS records")
	}
	name, err := pathValue(r, "name")
	if err != nil {
		return err
	}
	d, err := s.opts.Store.Domain(r.Context(), strings.ToLower(name))
	if err != nil {
		return err
	}
	dns, err := s.dnsRecords(d) // dnspools.go: with the IP pools
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, dns)
	return nil
}

// addMailbox is POST /v1/admin/mailboxes {address, oversight?, oversight_address?, password?}.
// Without a password one is generated and returned once.
func (s *Server) addMailbox(w http.ResponseWriter, r *http.Request, p *principal) error {
	if !p.superAdmin() {
		return errNotAdmin("adding a mailbox")
	}
	var req wire.MailboxRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	m, generated, err := s.newMailbox(r, req)
	if err != nil {
		return err
	}
	if err := s.opts.Store.AddMailbox(detached(r.Context()), m); err != nil {
		return err
	}
	if err := s.audit(detached(r.Context()), p, audit.Record{Kind: audit.KindMailboxAdd, Mailbox: m.Address,
		Object: m.Address, Detail: map[string]string{"oversight": string(m.Oversight)}}); err != nil {
		return err
	}
	out := mailboxJSON(m)
	out.Password = generated
	writeJSON(w, http.StatusCreated, out)
	return nil
}

func (s *Server) newMailbox(r *http.Request, req wire.MailboxRequest) (mailbox.Mailbox, string, error) {
	addr := strings.ToLower(strings.TrimSpace(req.Address))
	local, domain, ok := strings.Cut(addr, "@")
	if !ok || local == "" || hasCRLF(addr) || strings.ContainsAny(addr, " <>\"") || !validDomain(domain) {
		return mailbox.Mailbox{}, "", errField("address", "must be local@domain")
	}
	over, err := mailbox.ParseOversight(req.Oversight)
	if err != nil {
		return mailbox.Mailbox{}, "", errField("oversight", "must be autonomous, monitored, gated_send, gated_all or read_only")
	}
	if hasCRLF(req.OversightAddress) || (req.OversightAddress != "" && !strings.Contains(req.OversightAddress, "@")) {
		return mailbox.Mailbox{}, "", errField("oversight_address", "must be an address")
	}
	if _, err := s.opts.Store.Domain(r.Context(), domain); err != nil {
		return mailbox.Mailbox{}, "", errUnprocessable("address", "domain %s is not configured; add it first", domain)
	}
	pw, generated := req.Password, ""
	if pw == "" {
		pw = randomToken(24)
		generated = pw
	}
	hash, err := mailbox.HashPassword(pw)
	if err != nil {
		return mailbox.Mailbox{}, "", errField("password", "unusable: %v", err)
	}
	return mailbox.Mailbox{Address: addr, Oversight: over, OversightAddress: req.OversightAddress,
		PasswordHash: hash, Created: s.clock.Now().UTC()}, generated, nil
}

func mailboxJSON(m mailbox.Mailbox) wire.Mailbox {
	return wire.Mailbox{MailboxID: m.Address, Address: m.Address, Oversight: string(m.Oversight),
		OversightAddress: m.OversightAddress, CreatedAt: wireTime(m.Created)}
}

// listMailboxes is GET /v1/admin/mailboxes: every mailbox for a super admin, the key's own
// for a mailbox-scoped admin.
func (s *Server) listMailboxes(w http.ResponseWriter, r *http.Request, p *principal) error {
	ms, err := s.opts.Store.Mailboxes(r.Context())
	if err != nil {
		return err
	}
	out := wire.MailboxList{Mailboxes: make([]wire.Mailbox, 0, len(ms))}
	for _, m := range ms {
		if !p.administers(m.Address) {
			continue
		}
		out.Mailboxes = append(out.Mailboxes, mailboxJSON(m))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// createKey is POST /v1/admin/keys {mailbox, scopes}: the plaintext key is in this response
// only; the store keeps its SHA-256. A key never grants more than its creator holds: "*" needs
// a super admin; a mailbox-scoped admin creates keys for its own mailboxes with no more than
// its own scopes (403 otherwise, before the mailboxes' existence is checked). send together
// with approve or admin is 422 on scopes (separation of duties).
func (s *Server) createKey(w http.ResponseWriter, r *http.Request, p *principal) error {
	var req wire.KeyRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	k, err := s.newKey(r, req, p)
	if err != nil {
		return err
	}
	plain, hash := mailbox.NewAPIKeySecret()
	if k.Test {
		plain, hash = mailbox.NewTestAPIKeySecret()
	}
	k.Hash = hash
	if err := s.opts.Store.AddAPIKey(detached(r.Context()), k); err != nil {
		return err
	}
	if err := s.audit(detached(r.Context()), p, keyRecord(audit.KindKeyCreate, k)); err != nil {
		return err
	}
	out := keyJSON(k)
	out.APIKey = plain
	writeJSON(w, http.StatusCreated, out)
	return nil
}

func (s *Server) newKey(r *http.Request, req wire.KeyRequest, p *principal) (mailbox.APIKey, error) {
	mboxes := req.Mailboxes
	if req.Mailbox != "" {
		mboxes = append([]string{req.Mailbox}, mboxes...)
	}
	if len(mboxes) == 0 {
		return mailbox.APIKey{}, errField("mailbox", "required (an address, or \"*\" for every mailbox)")
	}
	scopes := req.Scopes
	if len(scopes) == 0 {
		scopes = []string{scopeSend, scopeRead, scopeTag}
	}
	for i, sc := range scopes {
		if !slices.Contains(mailbox.AllScopes, sc) {
			return mailbox.APIKey{}, errField(fieldIndex("scopes", i), "must be one of %s", strings.Join(mailbox.AllScopes, ", "))
		}
	}
	if !p.covers(mailbox.APIKey{Mailboxes: mboxes, Scopes: scopes}) {
		return mailbox.APIKey{}, errForbidden("a key may only create keys for its own mailboxes with no more than its own scopes (%s)", strings.Join(p.scopes, ", "))
	}
	var se *mailbox.ScopeError
	check := mailbox.CheckScopes
	if req.Test {
		check = mailbox.CheckTestScopes
	}
	if err := check(scopes); errors.As(err, &se) {
		return mailbox.APIKey{}, errUnprocessable(fieldIndex("scopes", se.Index), "%s", se.Msg)
	}
	for i, m := range mboxes {
		if m == "*" {
			continue
		}
		if _, err := s.opts.Store.Mailbox(r.Context(), m); err != nil {
			field := "mailbox"
			if req.Mailbox == "" || i > 0 {
				field = fieldIndex("mailboxes", i)
			}
			return mailbox.APIKey{}, errUnprocessable(field, "no such mailbox %q", m)
		}
		mboxes[i] = strings.ToLower(m)
	}
	return mailbox.APIKey{ID: "key_" + strings.ToLower(randomToken(12)), Mailboxes: mboxes, Scopes: scopes, Created: s.clock.Now().UTC(), Test: req.Test}, nil
}

func keyJSON(k mailbox.APIKey) wire.Key {
	return wire.Key{KeyID: k.ID, Mailboxes: k.Mailboxes, Scopes: k.Scopes, CreatedAt: wireTime(k.Created), Test: k.Test}
}

// listKeys is GET /v1/admin/keys: ids, mailboxes and scopes, never secrets; only the keys p
// covers.
func (s *Server) listKeys(w http.ResponseWriter, r *http.Request, p *principal) error {
	ks, err := s.opts.Store.APIKeys(r.Context())
	if err != nil {
		return err
	}
	out := wire.KeyList{Keys: make([]wire.Key, 0, len(ks))}
	for _, k := range ks {
		if !p.covers(k) {
			continue
		}
		out.Keys = append(out.Keys, keyJSON(k))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// deleteKey is DELETE /v1/admin/keys/{key_id}: a key p does not cover is 404, as one that
// does not exist.
func (s *Server) deleteKey(w http.ResponseWriter, r *http.Request, p *principal) error {
	id, err := pathValue(r, "key_id")
	if err != nil {
		return err
	}
	ks, err := s.opts.Store.APIKeys(r.Context())
	if err != nil {
		return err
	}
	i := slices.IndexFunc(ks, func(k mailbox.APIKey) bool { return k.ID == id })
	if i < 0 || !p.covers(ks[i]) {
		return errNotFound("API key")
	}
	if err := s.opts.Store.DeleteAPIKey(detached(r.Context()), id); err != nil {
		return err
	}
	if err := s.audit(detached(r.Context()), p, keyRecord(audit.KindKeyRevoke, ks[i])); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wire.Done{KeyID: id, Status: "deleted"})
	return nil
}

// randomToken returns n random base32 characters (5 bits each).
func randomToken(n int) string {
	b := make([]byte, (n*5+7)/8)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b)[:n]
}
