// Package submission is the one way outbound mail enters multimail, whichever door it came in
// by: the SMTP submission listeners (this package's Server), the HTTP API and MCP (package api,
// which calls Submitter.Send).
//
// It owns:
//   - validation of addresses and header-bound fields (CR or LF in a header-bound field is
//     refused with a *FieldError, never injected; relay tricks with '%', '!', quoted local parts
//     and address literals are refused);
//   - the sender check: the sender is the authenticated mailbox, on a configured domain;
//   - the oversight decision (docs/oversight-model.md) and the [[approval_rule]]s (first match wins);
//   - building the MIME message for API sends with go-message;
//   - adding Date and Message-ID when missing, DKIM signing on the sender's domain
//     (relaxed/relaxed, From oversigned), the VERP return path bounce+<msg_id>.<tag>@<domain>
//     (queue.Queue.BounceAddress: the tag is an HMAC under the node's key); both on the
//     mailbox's sending subdomain instead when Options.SendingDomain names one
//     (docs/deliverability.md);
//   - the single queue.Enqueue call that makes the message durable (one Pebble batch, synced);
//   - the approval flow on top of the queue (Approvals, Approve, Reject);
//   - the release point (identity.go, Submitter.release): the one function that adds the
//     Multimail-Identity header and its Ed25519 DKIM signature (package identity) when a
//     message is released: at accept for autonomous, monitored and rule-approved sends, inside
//     the queue's approval commit (queue.ApproveRelease) for a person's approval, and for the
//     oversight messages (mode=system). A held message is stored without it;
//   - the oversight messages for a mailbox's oversight_address (notify.go): a copy of each send
//     of a monitored mailbox (LaneNormal) and an approval request for each held send (LaneHigh),
//     each its own queued message from multimail-oversight@<domain>, DKIM-signed, Source
//     "oversight", Auto-Submitted: auto-generated, the user's message attached as
//     message/rfc822; enqueued directly, so never gated or copied itself, and a failure to
//     enqueue one is logged and counted, never a failure of the send;
//   - the SMTP submission listeners (STARTTLS and implicit TLS) with go-smtp, and their door of
//     the failed-login throttle (ServerOptions.Throttle): AUTH from an address or to an account
//     over its limits gets 421 4.7.0 and a closed connection before the secret is checked.
//
// Two commits, not one: the message is acknowledged (250 / 202) once queue.Enqueue has committed.
// The copy in the sender's "Sent" folder is a second, later commit in the mailbox store; if it
// fails the send still stands and the failure is logged. A held (gated) message is copied to
// Sent when it is approved through Submitter.Approve.
//
// SMTP notes. The SMTP core is package smtpserver, shared with inbound: the go-smtp set-up,
// the session lifetime, replies in one write, Shutdown's drain (go-smtp's Close does nothing
// once its Shutdown has started, so the core tracks the connections and closes those still
// open when Shutdown's context ends: it never returns with one left) and the DATA reader,
// which reads the wire bytes and refuses a bare CR or LF anywhere with 550 5.5.2 (the ".\r"
// lines go-smtp's own reader would hide included; DATA ends only at CRLF.CRLF, so a smuggling
// attempt is refused whole), with ReadTimeout between reads rather than over the transfer.
// go-smtp enforces SIZE (552 5.3.4), RCPTMAX (452 4.5.3), the line length (500) and the idle
// timeout (421 4.4.2); this package adds the command budget and the AUTH failure limit
// (421 4.7.0), AUTH only after TLS (523 5.7.10), ServerOptions.Admit (452 4.3.1 at MAIL FROM
// and before DATA) and every sender/oversight reply, all mapped from errors in reply.go.
//
// It does not own storage: the queue and the mailbox store each own their Pebble prefix, and
// this package writes nothing of its own.
package submission
