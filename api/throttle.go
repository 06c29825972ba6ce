// throttle.go: the bearer door of the failed-login throttle (package throttle). A client address
// that sent too many unknown API keys gets 429 with Retry-After before its next key costs a
// store lookup; the per-key rate limit (limits.go) applies after authentication, as before.
package api

import (
	"errors"
	"math"
	"net/http"

	"multimail.dev/multimail/mailbox"
	"multimail.dev/multimail/throttle"
)

// throttleCheck refuses a request from a client over the throttle's limits: 429 with
// Retry-After in whole seconds. The "account" of an HTTP attempt is the key's hash: it names
// no account anyone could spray, but a key already used from this address passes a refusal
// window that someone else's wrong keys opened.
func (s *Server) throttleCheck(r *http.Request, key string) error {
	err := s.opts.Throttle.Check(throttle.HTTP, throttle.ParseAddr(r.RemoteAddr), mailbox.HashAPIKey(key))
	var ref *throttle.Refusal
	if !errors.As(err, &ref) {
		return nil
	}
	s.log.Info("api: key check throttled", "remote", r.RemoteAddr, "err", err)
	secs := int(math.Ceil(ref.RetryAfter.Seconds()))
	return &Error{Status: http.StatusTooManyRequests, Code: CodeRateLimited, RetryAfter: max(secs, 1),
		Message: "too many invalid API keys from this address; retry after the Retry-After seconds"}
}

// throttleFailure counts an unknown key from the request's client. Unknown keys name no
// account, so they count on the client only, and a valid key later does not reset them (a key
// holder could otherwise reset its count between guesses): they decay.
func (s *Server) throttleFailure(r *http.Request) {
	s.opts.Throttle.Failure(throttle.HTTP, throttle.ParseAddr(r.RemoteAddr), "")
}

// throttleSuccess remembers that key was valid from the request's client.
func (s *Server) throttleSuccess(r *http.Request, key string) {
	s.opts.Throttle.Success(throttle.HTTP, throttle.ParseAddr(r.RemoteAddr), mailbox.HashAPIKey(key))
}
