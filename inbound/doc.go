// Package inbound owns mail arriving on port 25 for local mailboxes: the go-smtp listener,
// the relay and recipient checks (only existing local mailboxes; never a relay), SPF, DKIM and
// DMARC verification with one prepended Authentication-Results header, delivery into the
// mailbox store's INBOX, the "received" event, and bounce correlation: a DSN to a VERP bounce
// address becomes a "bounced" event on the original queued message instead of stored mail.
//
// It imports mailbox, queue, smtpserver and dnsclient only (docs/architecture.md). The SMTP core — go-smtp's
// set-up, the connection limits, replies in one write, the DATA reader and Shutdown's drain —
// is package smtpserver, shared with submission.
//
// # The transaction
//
// Mail and Rcpt only check and collect; Data reads the whole message and acts:
//
//   - RCPT: the domain must be one of the store's domains, else 554 5.7.1 (no relaying, ever);
//     the address must be an existing mailbox, else 550 5.1.1; a VERP bounce address
//     bounce+<msg_id>.<tag>@<local domain> whose HMAC tag verifies
//     (queue.Queue.ParseBounceAddress; untagged ones only for messages sent before the
//     upgrade, for MaxLifetime) is accepted without a mailbox; a forged one is an unknown
//     user. After Options.MaxBadRecipients refusals the session ends
//     with 421 4.7.0 (address harvesting). go-smtp enforces MaxRecipients (452 4.5.3).
//   - DATA and BDAT: bounded by MaxMessageBytes (552 5.3.4) and MaxLineLength (500 5.5.2); a
//     bare CR or LF anywhere in the wire bytes, the ".\r" lines go-smtp's own reader would
//     hide included, is refused with 550 5.5.2 (SMTP smuggling: DATA ends only at CRLF.CRLF,
//     so a smuggled message stays inside the refused one; smtpserver.ReadData). ReadTimeout
//     bounds the idle time between reads, MaxSessionTime a connection's whole life.
//   - Admission: Options.Admit (a free-space floor) is asked at MAIL FROM and before DATA;
//     an error is 452 4.3.1.
//   - Checks: SPF (blitiri.com.ar/go/spf, the MAIL FROM identity or the HELO name for <>) and
//     DKIM (go-msgauth, at most 5 signatures) run concurrently, then DMARC (go-msgauth's
//     record parser; alignment and the organizational-domain fallback here, with the public
//     suffix list), all under CheckTimeout (10 s). A DNS failure or timeout is a temperror
//     in the header, never a failed session.
//   - Policy: DMARC fail with p=reject is refused with 550 5.7.1; with p=quarantine the mail
//     goes to Junk; a pct below 100 only records the failure. SPF or DKIM failing on their
//     own do not refuse mail: DMARC is what lets a domain ask for that.
//   - Delivery: one copy per local recipient, with our Authentication-Results field (authserv-id
//     Options.Hostname; any existing field claiming that id is removed as forged, RFC 8601 §5)
//     and a Received: field on top, through mailbox.Store.Deliver (committed with sync before
//     it returns) into INBOX, Pending for gated_all mailboxes. The 250 names the email ids and
//     comes only after every copy is committed; if one copy fails the reply is 451 and the
//     client retries (a duplicate is better than a loss). Each copy then gets a "received"
//     event (MsgID = EmailID = the email id); a failure to record it is logged, not replied,
//     since the mail is already stored.
//   - Bounces: a message to a bounce address is parsed as an RFC 3464 DSN (ParseDSN); every
//     per-recipient block with Action: failed becomes a "bounced" event on the original message
//     (recipient, SMTP code from Diagnostic-Code, enhanced code from Status, the diagnostic as
//     detail). It is not stored. A message that is not a DSN is accepted and dropped with a log
//     line: refusing it would only make backscatter elsewhere — unless it is an RFC 5965
//     feedback report (below), which feedback loops may send to the return path.
//   - Complaints: an RFC 5965 abuse report (multipart/report; report-type=feedback-report,
//     ParseARF) sent to abuse@ of a local domain or to a bounce address, with Feedback-Type
//     abuse or fraud, suppresses (queue "complaint") each recipient it is about —
//     Original-Rcpt-To, else the original's To/Cc when they name exactly one address — for the
//     sending domain of the message it reports: the bounce address's message, or the one its
//     original Message-ID (<msg_…@host>, ours) names. The queue refuses an address that was not
//     a recipient of that message, so a forged report suppresses no one else. A report to
//     abuse@ is stored in the abuse mailbox as well.
//
// Errors become SMTP replies in one place, reply.go; anything unknown is 451 4.3.0.
//
// # Files
//
// server.go (Server, Serve, Shutdown), options.go, session.go (the smtp.Session), rcpt.go
// (recipient classification), deliver.go (delivery, events, bounces, complaints), arf.go
// (ParseARF), auth.go (SPF, DKIM,
// Authentication-Results), dmarc.go, header.go (header scanning, Received:, forged field
// removal), dsn.go (ParseDSN), resolver.go (Resolver: the node's shared dnsclient.Client
// satisfies it), reply.go, errors.go, metrics.go.
//
// Metrics (when Options.Registerer is set): multimail_inbound_sessions,
// multimail_inbound_recipients_total{outcome}, multimail_inbound_messages_total{outcome},
// multimail_inbound_auth_results_total{method,result}.
package inbound
