package api

import (
	"net/http"
	"strings"
	"time"

	"multimail.dev/multimail/api/wire"
	"multimail.dev/multimail/queue"
)

// The suppression list of a sending domain (queue.Suppression). A key acts on the lists of
// the domains of its mailboxes ("*": every domain); another domain is 403. Reading needs send
// or read; adding needs send or admin (it only ever stops mail); removing needs admin (it lets
// mail reach an address that bounced or complained again).

// suppressionDomain reads and checks the domain a request names.
func suppressionDomain(p *principal, d string) (string, error) {
	d = strings.ToLower(strings.TrimSpace(d))
	if d == "" {
		return "", errField("domain", "required")
	}
	if hasCRLF(d) || len(d) > 253 || strings.ContainsAny(d, "@ /") {
		return "", errField("domain", "not a domain name")
	}
	if p.all() {
		return d, nil
	}
	for _, m := range p.mailboxes {
		if at := strings.LastIndexByte(m, '@'); at >= 0 && strings.EqualFold(m[at+1:], d) {
			return d, nil
		}
	}
	return "", errForbidden("this API key holds no mailbox on %s", d)
}

func suppressionJSON(s queue.Suppression) wire.Suppression {
	return wire.Suppression{Domain: s.Domain, Address: s.Address, Reason: s.Reason, Detail: s.Detail,
		MessageID: s.MsgID, CreatedAt: wireTime(s.CreatedAt), ExpiresAt: timePtr(s.ExpiresAt)}
}

// listSuppressions is GET /v1/suppressions?domain=&limit=&cursor= (address order).
func (s *Server) listSuppressions(w http.ResponseWriter, r *http.Request, p *principal) error {
	d, err := suppressionDomain(p, r.URL.Query().Get("domain"))
	if err != nil {
		return err
	}
	limit, cursor, err := pageParams(r)
	if err != nil {
		return err
	}
	list, err := s.opts.Queue.Suppressions(r.Context(), d, cursor, limit+1)
	if err != nil {
		return err
	}
	out := wire.SuppressionList{Suppressions: []wire.Suppression{}}
	for i, e := range list {
		if i == limit {
			out.NextCursor = list[i-1].Address
			break
		}
		out.Suppressions = append(out.Suppressions, suppressionJSON(e))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// addSuppression is POST /v1/suppressions: a manual entry (201).
func (s *Server) addSuppression(w http.ResponseWriter, r *http.Request, p *principal) error {
	var req wire.SuppressionRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	d, err := suppressionDomain(p, req.Domain)
	if err != nil {
		return err
	}
	addr := strings.TrimSpace(req.Address)
	if at := strings.LastIndexByte(addr, '@'); at <= 0 || at == len(addr)-1 || len(addr) > 254 ||
		strings.ContainsFunc(addr, func(c rune) bool { return c <= ' ' || c == 0x7f || c == '<' || c == '>' }) {
		return errField("address", "not an email address")
	}
	if hasCRLF(req.Detail) || len(req.Detail) > 300 {
		return errField("detail", "one line of at most 300 bytes")
	}
	e := queue.Suppression{Domain: d, Address: addr, Reason: queue.SuppressManual, Detail: req.Detail}
	if req.Detail == "" {
		e.Detail = "added by " + p.by()
	}
	if req.ExpiresAt != nil {
		if !req.ExpiresAt.After(time.Now()) {
			return errField("expires_at", "is in the past")
		}
		e.ExpiresAt = *req.ExpiresAt
	}
	if err := s.opts.Queue.Suppress(detached(r.Context()), e); err != nil {
		return err
	}
	got, err := s.opts.Queue.Suppressed(r.Context(), d, []string{addr})
	if err != nil {
		return err
	}
	out := suppressionJSON(got[strings.ToLower(addr)])
	writeJSON(w, http.StatusCreated, out)
	return nil
}

// deleteSuppression is DELETE /v1/suppressions?domain=&address= (admin): 404 when absent.
func (s *Server) deleteSuppression(w http.ResponseWriter, r *http.Request, p *principal) error {
	d, err := suppressionDomain(p, r.URL.Query().Get("domain"))
	if err != nil {
		return err
	}
	addr := r.URL.Query().Get("address")
	if addr == "" || hasCRLF(addr) || len(addr) > 254 {
		return errField("address", "required, one address")
	}
	if err := s.opts.Queue.Unsuppress(detached(r.Context()), d, addr); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"domain": d, "address": strings.ToLower(addr), "status": "deleted"})
	return nil
}
