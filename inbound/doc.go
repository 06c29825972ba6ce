// Package inbound owns mail arriving on port 25 for local mailboxes: the go-smtp listener,
// the relay and recipient checks (only existing local mailboxes; never a relay), SPF, DKIM and
// DMARC verification with one prepended Authentication-Results header, delivery into the
// mailbox store's INBOX, the "received" event, and bounce correlation: a DSN to a VERP bounce
// address becomes a "bounced" event on the original queued message instead of stored mail.
//
// It imports mailbox and queue only (DESIGN.md).
package inbound
