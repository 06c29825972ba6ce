package api

import (
	"context"
	"net/http"
	"strconv"
	"time"
)

// handlerFunc is an endpoint: it writes a success response itself and returns errors, which
// wrap writes in the one error format.
type handlerFunc func(w http.ResponseWriter, r *http.Request, p *principal) error

// route is one registered endpoint. The OpenAPI test checks every route against openapi.json.
type route struct {
	method  string
	pattern string   // Go 1.22 ServeMux pattern, which is also the OpenAPI path template
	scopes  []string // the key needs one of these scopes
	h       handlerFunc
}

// routes is the endpoint table of docs/api.md plus the admin endpoints the CLI calls. The
// scopes are the first gate; each handler then checks the mailboxes (see principal), and
// TestAuthorizationMatrix walks this table, so a new route needs its row there.
func (s *Server) routes() []route {
	return []route{
		{"POST", "/v1/send_email", []string{scopeSend}, s.sendEmail},
		{"GET", "/v1/messages/{message_id}", []string{scopeSend, scopeRead}, s.getMessage},
		{"GET", "/v1/mailboxes/{mailbox_id}/emails", []string{scopeRead}, s.listEmails},
		{"GET", "/v1/emails/{email_id}", []string{scopeRead}, s.readEmail},
		{"POST", "/v1/emails/{email_id}/tags", []string{scopeTag}, s.tagEmail},
		{"GET", "/v1/approvals", []string{scopeRead, scopeApprove}, s.listApprovals},
		{"GET", "/v1/approvals/{approval_id}/message", []string{scopeRead, scopeApprove}, s.heldMessage},
		{"POST", "/v1/approvals/{approval_id}/approve", []string{scopeApprove}, s.approve},
		{"POST", "/v1/approvals/{approval_id}/reject", []string{scopeApprove}, s.reject},
		// sending (docs/sending.md)
		{"POST", "/v1/messages/{message_id}/cancel", []string{scopeSend, scopeAdmin}, s.cancelMessage},
		{"POST", "/v1/send_batch", []string{scopeSend}, s.sendBatch},
		{"GET", "/v1/suppressions", []string{scopeSend, scopeRead}, s.listSuppressions},
		{"POST", "/v1/suppressions", []string{scopeSend, scopeAdmin}, s.addSuppression},
		{"DELETE", "/v1/suppressions", []string{scopeAdmin}, s.deleteSuppression},
		// the test outbox (testoutbox.go): a test key of the mailbox, or its overseers
		{"GET", "/v1/mailboxes/{mailbox_id}/test_outbox", []string{scopeSend, scopeRead, scopeApprove}, s.listTestOutbox},
		{"GET", "/v1/mailboxes/{mailbox_id}/test_outbox/{message_id}", []string{scopeSend, scopeRead, scopeApprove}, s.readTestMessage},

		// the agent's mailbox: threads, reply, check_inbox, raw and attachments, filing (mail.go)
		{"GET", "/v1/threads/{thread_id}", []string{scopeRead}, s.getThread},
		{"POST", "/v1/emails/{email_id}/reply", []string{scopeSend}, s.replyEmail},
		{"GET", "/v1/mailboxes/{mailbox_id}/check_inbox", []string{scopeRead}, s.checkInbox},
		{"GET", "/v1/emails/{email_id}/raw", []string{scopeRead}, s.rawEmail},
		{"GET", "/v1/emails/{email_id}/attachments/{n}", []string{scopeRead}, s.emailAttachment},
		{"POST", "/v1/emails/{email_id}/move", []string{scopeTag}, s.moveEmail},
		{"POST", "/v1/emails/{email_id}/archive", []string{scopeTag}, s.archiveEmail},
		{"DELETE", "/v1/emails/{email_id}", []string{scopeTag}, s.deleteEmail},
		{"POST", "/v1/emails/{email_id}/mark", []string{scopeTag}, s.markEmail},

		{"POST", "/v1/admin/domains", []string{scopeAdmin}, s.addDomain},
		{"GET", "/v1/admin/domains", []string{scopeAdmin}, s.listDomains},
		{"GET", "/v1/admin/domains/{name}/dns", []string{scopeAdmin}, s.domainDNS},
		{"POST", "/v1/admin/domains/{name}/identity/rotate", []string{scopeAdmin}, s.rotateIdentity},
		{"POST", "/v1/admin/domains/{name}/identity/{selector}/revoke", []string{scopeAdmin}, s.revokeIdentity},
		{"POST", "/v1/admin/mailboxes", []string{scopeAdmin}, s.addMailbox},
		{"GET", "/v1/admin/mailboxes", []string{scopeAdmin}, s.listMailboxes},
		{"POST", "/v1/admin/keys", []string{scopeAdmin}, s.createKey},
		{"GET", "/v1/admin/keys", []string{scopeAdmin}, s.listKeys},
		{"DELETE", "/v1/admin/keys/{key_id}", []string{scopeAdmin}, s.deleteKey},
		{"GET", "/v1/admin/queue", []string{scopeAdmin}, s.listQueue},
		{"GET", "/v1/admin/queue/{message_id}", []string{scopeAdmin}, s.showQueue},
		{"POST", "/v1/admin/queue/{message_id}/retry", []string{scopeAdmin}, s.retryQueue},
		{"DELETE", "/v1/admin/queue/{message_id}", []string{scopeAdmin}, s.deleteQueue},
		{"GET", "/v1/audit", []string{scopeAdmin}, s.listAudit},

		// Oversight controls (oversight.go, docs/oversight-controls.md): editing needs approve or
		// admin of that mailbox and no send (principal.oversees); the agent asks with send.
		{"GET", "/v1/mailboxes/{mailbox_id}/allowlist", []string{scopeApprove}, s.getAllowlist},
		{"PUT", "/v1/mailboxes/{mailbox_id}/allowlist", []string{scopeApprove}, s.putAllowlist},
		{"POST", "/v1/mailboxes/{mailbox_id}/allowlist", []string{scopeApprove}, s.addAllowlist},
		{"DELETE", "/v1/mailboxes/{mailbox_id}/allowlist/{entry}", []string{scopeApprove}, s.deleteAllowlist},
		{"GET", "/v1/mailboxes/{mailbox_id}/rules", []string{scopeApprove}, s.getRules},
		{"PUT", "/v1/mailboxes/{mailbox_id}/rules", []string{scopeApprove}, s.putRules},
		{"POST", "/v1/mailboxes/{mailbox_id}/rules", []string{scopeApprove}, s.addRule},
		{"DELETE", "/v1/mailboxes/{mailbox_id}/rules/{rule_id}", []string{scopeApprove}, s.deleteRule},
		{"GET", "/v1/mailboxes/{mailbox_id}/oversight", []string{scopeSend, scopeRead, scopeApprove}, s.getOversight},
		{"PUT", "/v1/mailboxes/{mailbox_id}/oversight", []string{scopeApprove}, s.setOversight},
		{"POST", "/v1/mailboxes/{mailbox_id}/oversight_request", []string{scopeSend}, s.requestOversight},
		{"POST", "/v1/mailboxes/{mailbox_id}/oversight_request/approve", []string{scopeApprove}, s.approveOversight},
		{"POST", "/v1/mailboxes/{mailbox_id}/oversight_request/reject", []string{scopeApprove}, s.rejectOversight},
		{"GET", "/v1/oversight_requests", []string{scopeApprove}, s.listOversightRequests},
		{"DELETE", "/v1/admin/mailboxes/{address}", []string{scopeAdmin}, s.deleteMailbox},
		{"DELETE", "/v1/admin/domains/{name}", []string{scopeAdmin}, s.deleteDomain},
		{"GET", "/v1/admin/domains/{name}/check", []string{scopeAdmin}, s.domainCheck},
	}
}

// authFunc finds the principal of a request or returns a 401/429 *Error.
type authFunc func(r *http.Request) (*principal, error)

// wrap is the middleware every /v1 route runs through: authentication, rate limit, scope,
// body size limit, metrics, and the one place errors are written.
func (s *Server) wrap(rt route, auth authFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		body := s.guardBody(sw, r)
		err := s.serve(rt, auth, sw, r)
		if err != nil {
			linger := body.refused(toError(err).Status)
			s.writeError(sw, r, err)
			if linger {
				body.linger()
			}
		}
		body.done()
		s.m.observe(rt.method+" "+rt.pattern, sw.status(), time.Since(start))
	})
}

func (s *Server) serve(rt route, auth authFunc, w http.ResponseWriter, r *http.Request) error {
	if s.opts.Store == nil || s.opts.Queue == nil || s.opts.Submitter == nil {
		return &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable,
			Message: "the API is not wired to a store, queue and submitter"}
	}
	p, err := auth(r)
	if err != nil {
		return err
	}
	if !p.hasAny(rt.scopes) {
		return errForbidden("this API key lacks the %q scope", rt.scopes[0])
	}
	if err := s.admit(rt); err != nil {
		return err
	}
	if r.ContentLength > s.opts.MaxBodyBytes {
		return errTooLarge(s.opts.MaxBodyBytes)
	}
	r.Body = http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes)
	return rt.h(w, r, p)
}

// statusWriter remembers the status code for metrics.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) status() string {
	if w.code == 0 {
		return "200"
	}
	return strconv.Itoa(w.code)
}

// jsonFallback answers requests no route matches (404, or 405 with Allow) in the JSON error
// format instead of ServeMux's plain text.
func jsonFallback(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		if pattern != "" {
			mux.ServeHTTP(w, r) // (not h: ServeHTTP is what sets the path values)
			return
		}
		probe := &headerProbe{header: http.Header{}}
		h.ServeHTTP(probe, r)
		if allow := probe.header.Get("Allow"); allow != "" {
			w.Header().Set("Allow", allow)
		}
		switch probe.code {
		case http.StatusMethodNotAllowed:
			writeErrorBody(w, &Error{Status: probe.code, Code: "method_not_allowed", Message: r.Method + " is not allowed on " + r.URL.Path})
		default:
			writeErrorBody(w, &Error{Status: http.StatusNotFound, Code: "not_found", Message: "no such endpoint: " + r.URL.Path})
		}
	})
}

// headerProbe captures what ServeMux's own 404/405 handlers would write.
type headerProbe struct {
	header http.Header
	code   int
}

func (p *headerProbe) Header() http.Header         { return p.header }
func (p *headerProbe) Write(b []byte) (int, error) { return len(b), nil }
func (p *headerProbe) WriteHeader(code int)        { p.code = code }

// detached returns a context for store writes that must finish even if the client goes away
// after the request was accepted (the commit decides the answer, not the connection).
func detached(ctx context.Context) context.Context { return context.WithoutCancel(ctx) }
