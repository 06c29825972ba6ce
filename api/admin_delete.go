package api

// admin_delete.go: DELETE of a mailbox and of a domain. Both need ?confirm=true; without it
// the 400 names the field and says what the delete would remove, so a person (or the CLI)
// sees the consequences before anything happens.

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"multimail.dev/multimail/api/wire"
	"multimail.dev/multimail/audit"
	"multimail.dev/multimail/mailbox"
	"multimail.dev/multimail/queue"
)

// noteConfig is said on every delete: the config file is the source of truth for what it
// declares (cmd/multimail bootstrap), so a declared mailbox or domain comes back.
const noteConfig = "a mailbox or domain declared in the config file is created again (empty) at the next start: remove it from the file too"

func confirmed(r *http.Request) bool {
	v := r.URL.Query().Get("confirm")
	return v == "true" || v == "yes" || v == "1"
}

// deleteMailbox is DELETE /v1/admin/mailboxes/{address}?confirm=true: the mailbox, its
// folders and stored mail are removed, and the API keys scoped to it alone are revoked
// (keys of several mailboxes keep the others). Its outbound messages already in the queue
// stay there: delivered, or decided if held (DELETE /v1/admin/queue/{id} drops them).
func (s *Server) deleteMailbox(w http.ResponseWriter, r *http.Request, p *principal) error {
	if !p.superAdmin() {
		return errNotAdmin("deleting a mailbox")
	}
	addr, err := pathValue(r, "address")
	if err != nil {
		return err
	}
	addr = strings.ToLower(addr)
	if _, err := s.opts.Store.Mailbox(r.Context(), addr); err != nil {
		return err
	}
	folders, err := s.opts.Store.Folders(r.Context(), addr)
	if err != nil {
		return err
	}
	emails := 0
	for _, f := range folders {
		emails += int(f.Messages)
	}
	keys, err := s.soleKeys(r, addr)
	if err != nil {
		return err
	}
	queued, err := s.queuedFor(r, addr)
	if err != nil {
		return err
	}
	if !confirmed(r) {
		return errField("confirm", "deleting %s removes its %d folders and %d stored emails for good and revokes %d API keys; "+
			"its %d queued outbound messages stay queued; repeat with confirm=true", addr, len(folders), emails, len(keys), queued)
	}
	res, err := s.opts.Store.DeleteMailbox(detached(r.Context()), addr)
	if err != nil {
		return err
	}
	out := wire.MailboxDeleted{Address: addr, Status: "deleted", EmailsDeleted: res.Emails, FoldersDeleted: res.Folders,
		KeysRevoked: []string{}, QueuedOutbound: queued, Note: noteConfig}
	for _, k := range keys {
		if err := s.opts.Store.DeleteAPIKey(detached(r.Context()), k.ID); err != nil && !errors.Is(err, mailbox.ErrNotFound) {
			return err
		}
		out.KeysRevoked = append(out.KeysRevoked, k.ID)
		if err := s.audit(detached(r.Context()), p, keyRecord(audit.KindKeyRevoke, k)); err != nil {
			return err
		}
	}
	if err := s.audit(detached(r.Context()), p, audit.Record{Kind: audit.KindMailboxRemove, Mailbox: addr, Object: addr,
		Detail: map[string]string{"emails": fmt.Sprint(res.Emails), "folders": fmt.Sprint(res.Folders),
			"keys_revoked": strings.Join(out.KeysRevoked, ","), "queued_outbound": fmt.Sprint(queued)}}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// soleKeys are the API keys whose only mailbox is addr.
func (s *Server) soleKeys(r *http.Request, addr string) ([]mailbox.APIKey, error) {
	ks, err := s.opts.Store.APIKeys(r.Context())
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(ks, func(k mailbox.APIKey) bool {
		return len(k.Mailboxes) != 1 || !strings.EqualFold(k.Mailboxes[0], addr)
	}), nil
}

// queuedFor counts addr's outbound messages not yet final.
func (s *Server) queuedFor(r *http.Request, addr string) (int, error) {
	if s.opts.Queue == nil {
		return 0, nil
	}
	n := 0
	for _, st := range []string{queue.RcptQueued, queue.RcptDeferred, queue.RcptPendingApproval} {
		list, err := s.opts.Queue.List(r.Context(), queue.ListFilter{Mailbox: addr, State: st, Limit: 100000})
		if err != nil {
			return 0, err
		}
		n += len(list)
	}
	return n, nil
}

// deleteDomain is DELETE /v1/admin/domains/{name}?confirm=true: the domain and its DKIM and
// identity keys. 409 while it has mailboxes (delete them first: that is where mail lives).
// Mail already queued from the domain was signed at acceptance and is still delivered.
func (s *Server) deleteDomain(w http.ResponseWriter, r *http.Request, p *principal) error {
	if !p.superAdmin() {
		return errNotAdmin("deleting a domain")
	}
	name, err := pathValue(r, "name")
	if err != nil {
		return err
	}
	name = strings.ToLower(name)
	if _, err := s.opts.Store.Domain(r.Context(), name); err != nil {
		return err
	}
	ms, err := s.opts.Store.Mailboxes(r.Context())
	if err != nil {
		return err
	}
	var left []string
	for _, m := range ms {
		if strings.HasSuffix(m.Address, "@"+name) {
			left = append(left, m.Address)
		}
	}
	if len(left) > 0 {
		return errConflict("domain %s still has %d mailboxes (%s): delete them first", name, len(left), strings.Join(left, ", "))
	}
	if !confirmed(r) {
		return errField("confirm", "deleting %s removes its DKIM and identity keys for good (mail signed with them and already queued is still delivered; "+
			"its DNS records should be withdrawn); repeat with confirm=true", name)
	}
	if err := s.opts.Store.DeleteDomain(detached(r.Context()), name); err != nil {
		if errors.Is(err, mailbox.ErrExists) {
			return errConflict("domain %s still has mailboxes: delete them first", name)
		}
		return err
	}
	if err := s.audit(detached(r.Context()), p, audit.Record{Kind: audit.KindDomainRemove, Object: name}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wire.DomainDeleted{Name: name, Status: "deleted", Note: noteConfig})
	return nil
}
