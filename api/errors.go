package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"multimail.dev/multimail/api/wire"
	"multimail.dev/multimail/budget"
	"multimail.dev/multimail/diskfloor"
	"multimail.dev/multimail/mailbox"
	"multimail.dev/multimail/queue"
	"multimail.dev/multimail/submission"
)

// Error is an API error: an HTTP status and the {"error":{"code","message"}} body. Handlers
// return it, or a domain error that toError maps.
type Error struct {
	Status     int
	Code       string
	Message    string
	Field      string // the request field at fault, if any
	RetryAfter int    // seconds, for 429 and 503 insufficient_storage
}

// Error implements error.
func (e *Error) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

// Error codes of the API.
const (
	CodeInvalidRequest      = "invalid_request"      // 400
	CodeUnauthorized        = "unauthorized"         // 401
	CodeForbidden           = "forbidden"            // 403
	CodeNotFound            = "not_found"            // 404
	CodeConflict            = "conflict"             // 409
	CodeIdempotencyConflict = "idempotency_conflict" // 409
	CodePayloadTooLarge     = "payload_too_large"    // 413
	CodeUnprocessable       = "unprocessable_entity" // 422
	CodeRateLimited         = "rate_limited"         // 429
	CodeInternal            = "internal_error"       // 500
	CodeUnavailable         = "service_unavailable"  // 503
	// CodeInsufficientStorage (503, with Retry-After) is in intake.go.
	CodeNothingToCancel = "nothing_to_cancel" // 409: every recipient is delivered or final
	CodeSuppressed      = "suppressed"        // 422: a recipient is on the suppression list
)

func errField(field, format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Field: field,
		Message: field + ": " + fmt.Sprintf(format, args...)}
}

func errUnprocessable(field, format string, args ...any) *Error {
	e := &Error{Status: http.StatusUnprocessableEntity, Code: CodeUnprocessable, Field: field, Message: fmt.Sprintf(format, args...)}
	if field != "" {
		e.Message = field + ": " + e.Message
	}
	return e
}

func errForbidden(format string, args ...any) *Error {
	return &Error{Status: http.StatusForbidden, Code: CodeForbidden, Message: fmt.Sprintf(format, args...)}
}

func errNotFound(what string) *Error {
	return &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: what + " not found"}
}

func errConflict(format string, args ...any) *Error {
	return &Error{Status: http.StatusConflict, Code: CodeConflict, Message: fmt.Sprintf(format, args...)}
}

func errTooLarge(limit int64) *Error {
	return &Error{Status: http.StatusRequestEntityTooLarge, Code: CodePayloadTooLarge,
		Message: fmt.Sprintf("request body over the %d-byte limit", limit)}
}

func errUnauthorized(msg string) *Error {
	return &Error{Status: http.StatusUnauthorized, Code: CodeUnauthorized, Message: msg}
}

// toError maps any error a handler returns to an *Error. Unknown errors are 500 and their
// detail stays in the log.
func toError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var fe *submission.FieldError
	if errors.As(err, &fe) && errors.Is(err, submission.ErrAttachmentType) {
		return errUnprocessable(fe.Field, "%s: %s", fe.Field, fe.Msg)
	}
	if errors.As(err, &fe) && errors.Is(err, submission.ErrSuppressed) {
		return &Error{Status: http.StatusUnprocessableEntity, Code: CodeSuppressed, Field: fe.Field, Message: fe.Field + ": " + fe.Msg}
	}
	if errors.As(err, &fe) {
		return errField(fe.Field, "%s", fe.Msg)
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return errTooLarge(mbe.Limit)
	}
	if errors.Is(err, budget.ErrExhausted) {
		return &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, RetryAfter: 5,
			Message: "the server is busy with other large requests; retry after the Retry-After seconds"}
	}
	if e := sentinelError(err); e != nil {
		return e
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, queue.ErrClosed) {
		return &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Message: "the server is shutting down or the request timed out"}
	}
	return &Error{Status: http.StatusInternalServerError, Code: CodeInternal, Message: "internal error"}
}

// sentinelError maps the domain packages' sentinels; nil if err is none of them.
func sentinelError(err error) *Error {
	switch {
	case errors.Is(err, diskfloor.ErrInsufficientStorage):
		return errInsufficientStorage()
	case errors.Is(err, submission.ErrForbidden), errors.Is(err, submission.ErrSenderNotAllowed):
		return errForbidden("%s", trimPkg(err))
	case errors.Is(err, submission.ErrUnknownMailbox):
		return errUnprocessable("mailbox_id", "no such mailbox")
	case errors.Is(err, submission.ErrTooLarge):
		return &Error{Status: http.StatusRequestEntityTooLarge, Code: CodePayloadTooLarge, Message: "the message is over the size limit"}
	case errors.Is(err, queue.ErrIdempotencyConflict):
		return &Error{Status: http.StatusConflict, Code: CodeIdempotencyConflict, Field: "idempotency_key",
			Message: "idempotency_key: already used with a different request in the last 24 h"}
	case errors.Is(err, queue.ErrNothingToCancel):
		return &Error{Status: http.StatusConflict, Code: CodeNothingToCancel,
			Message: "nothing left to cancel: every recipient is delivered, final or already cancelled"}
	case errors.Is(err, queue.ErrNotPending):
		return errConflict("the approval is no longer pending")
	case errors.Is(err, mailbox.ErrExists):
		return errConflict("already exists")
	case errors.Is(err, queue.ErrNotFound), errors.Is(err, mailbox.ErrNotFound):
		return errNotFound("resource")
	case errors.Is(err, mailbox.ErrNoSuchFolder):
		return &Error{Status: http.StatusNotFound, Code: CodeNotFound, Field: "folder", Message: "folder: no such folder"}
	case errors.Is(err, mailbox.ErrInvalidCursor):
		return errField("cursor", "not a cursor this server returned")
	case errors.Is(err, mailbox.ErrInvalidAddress):
		return errField("address", "not a valid address")
	case errors.Is(err, mailbox.ErrInvalidOversight):
		return errField("oversight", "must be autonomous, monitored, gated_send, gated_all or read_only")
	}
	return nil
}

// trimPkg drops the "submission: " prefix of a sentinel's message for the client.
func trimPkg(err error) string {
	msg := err.Error()
	const p = "submission: "
	for len(msg) > len(p) && msg[:len(p)] == p {
		msg = msg[len(p):]
	}
	return msg
}

// writeError logs server-side failures and writes the error body.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e := toError(err)
	if e.Status >= 500 && e.Code != CodeInsufficientStorage { // the floor logs its own crossing
		s.log.Error("api request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeErrorBody(w, e)
}

func writeErrorBody(w http.ResponseWriter, e *Error) {
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	if e.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="multimail"`) // RFC 6750 §3
	}
	writeJSON(w, e.Status, wire.ErrorBody{Error: wire.Error{Code: e.Code, Message: e.Message, Field: e.Field}})
}

// writeJSON writes v with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":{"code":"internal_error","message":"encoding the response failed"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
