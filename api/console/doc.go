// Package console is the approver's console: the web pages a person uses to see, judge and
// decide held sends (gated_send, gated_all), follow a message's trail, watch the queue and see
// each mailbox's oversight mode. It is served by the binary itself under /console/ on the HTTP
// listener, with its templates and assets embedded (html/template, one small plain-JS file for
// live updates; every action also works as a plain form without JS).
//
// It owns no data and reaches no store: every page calls the API's own handler in process with
// the signed-in API key (so a page sees and does exactly what that key may through the API:
// an approver of mailbox A sees A only), and the sign-in checks the key through
// api.Server.Identify (the failed-login throttle included). A key that holds send never signs
// in; a mailbox password is not an API key and never signs in.
//
// It owns the console's sessions (in memory: a restart signs everyone out), their cookies,
// CSRF tokens, the Host/Origin checks and security headers, and the one-click decision links
// of approval request emails (Links: signed, single-use, expiring tokens, kept hashed in
// memory, so a restart voids the links of earlier emails; the console still decides them).
package console
