package api

import (
	"net/http"
	"strconv"

	"multimail.dev/multimail/diskfloor"
)

// Intake decides whether new mail may be accepted now, and tells /healthz and /readyz why
// not. *diskfloor.Guard implements it; nil accepts always.
type Intake interface {
	// Admit returns nil to accept, or an error (diskfloor.ErrInsufficientStorage) to refuse.
	Admit() error
	// Status is the storage reading /healthz and /readyz report.
	Status() diskfloor.Status
}

// CodeInsufficientStorage is the 503 answer of an accepting endpoint while the node's free
// space is below its floor; Retry-After says when to try again.
const CodeInsufficientStorage = "insufficient_storage"

// storageRetryAfter is the Retry-After of an insufficient_storage answer, in seconds: the
// floor is re-read every second, but freeing a disk is a person's job.
const storageRetryAfter = 30

// errInsufficientStorage is the answer to a refused intake.
func errInsufficientStorage() *Error {
	return &Error{Status: http.StatusServiceUnavailable, Code: CodeInsufficientStorage, RetryAfter: storageRetryAfter,
		Message: "the server is low on disk space and accepts no new mail for now; retry later"}
}

// accepts reports whether a route takes new mail in, and so is refused below the floor. The
// MCP send_email tool goes through POST /v1/send_email too. Delivery, reading, tagging and
// approving what was already accepted go on.
func accepts(rt route) bool { return rt.method == http.MethodPost && rt.pattern == "/v1/send_email" }

// admit consults the Intake for an accepting route.
func (s *Server) admit(rt route) error {
	if s.opts.Intake == nil || !accepts(rt) {
		return nil
	}
	return s.opts.Intake.Admit()
}

// storageState is the "storage" object of /healthz and /readyz.
type storageState struct {
	State        string `json:"state"` // "ok", "insufficient_storage" or "unknown"
	FreeBytes    int64  `json:"free_bytes"`
	MinFreeBytes int64  `json:"min_free_bytes"`
	BallastBytes int64  `json:"ballast_bytes"`
	Error        string `json:"error,omitempty"`
}

// health is the body of /healthz and /readyz.
type health struct {
	Status  string        `json:"status"` // "ok" or "insufficient_storage"
	Storage *storageState `json:"storage,omitempty"`
}

func (s *Server) health() health {
	h := health{Status: "ok"}
	if s.opts.Intake == nil {
		return h
	}
	st := s.opts.Intake.Status()
	ss := &storageState{State: "ok", FreeBytes: st.Free, MinFreeBytes: st.MinFree, BallastBytes: st.Ballast}
	switch {
	case st.Err != nil:
		ss.State, ss.Error = "unknown", "statfs failed"
	case st.Below:
		ss.State, h.Status = CodeInsufficientStorage, CodeInsufficientStorage
	}
	h.Storage = ss
	return h
}

// healthz is GET /healthz: 200 while the process serves (a supervisor must not restart a node
// only because its disk is full: delivery and reading go on), saying when intake is refused.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.health())
}

// readyz is GET /readyz: 503 while new mail is refused (a load balancer sends intake
// elsewhere), 200 otherwise.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	h := s.health()
	if h.Status != "ok" {
		w.Header().Set("Retry-After", strconv.Itoa(storageRetryAfter))
		writeJSON(w, http.StatusServiceUnavailable, h)
		return
	}
	writeJSON(w, http.StatusOK, h)
}
