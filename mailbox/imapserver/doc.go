// Package imapserver is multimail's IMAP4rev1/IMAP4rev2 server, built on
// go-imap v2's imapserver (multimail's fork in third_party/go-imap, which adds
// ID, CONDSTORE/QRESYNC syntax and a few RFC fixes; docs/imap.md) and backed by
// a mailbox.Store.
//
// It owns the IMAP listeners (STARTTLS on "imap", implicit TLS on "imaps"),
// authentication (LOGIN and AUTHENTICATE PLAIN, after TLS only, through
// mailbox.Store.Authenticate: the mailbox password or one of its API keys),
// the per-user connection cap, the login throttle's IMAP door (Options.Throttle:
// refused before the password is checked, NO [UNAVAILABLE]), and the translation between IMAP and the
// store: folders are IMAP mailboxes (with SPECIAL-USE), system flags are IMAP
// system flags, and keywords are the API's tags, so a tag set through the API
// is an IMAP keyword and the reverse. Pending emails (gated_all) are
// invisible: the store never lists them.
//
// Each selected session keeps a snapshot of the folder's UIDs (its sequence
// numbers) and a watcher on mailbox.Store.Watch. Changes made by anyone,
// this session included, queue up and reach the client as EXISTS, EXPUNGE
// and FETCH FLAGS at the points IMAP allows: after a command (go-imap's Poll,
// expunges held back after FETCH, STORE and SEARCH) and during IDLE. A
// watcher that falls behind is closed by the store; the session then
// resynchronises from a fresh List.
//
// A message another session expunged, still numbered in this view, is
// skipped by FETCH (OK, or OK [EXPUNGEISSUED] when content was asked), STORE
// and COPY (OK), as RFC 2180 §4 and Dovecot do; a sequence number beyond the
// view is BAD. \Recent is not supported (IMAP4rev2 dropped it).
//
// CONDSTORE and QRESYNC (RFC 7162, condstore.go) answer from the store's
// MODSEQs and expunge tombstones (mailbox.Store.Changes): MODSEQ in every
// FETCH once enabled, VANISHED instead of EXPUNGE under QRESYNC, and a
// QRESYNC SELECT told only what changed since the client's modseq.
//
// Store errors become IMAP responses in one place, errors.go.
//
// Files: server.go (listeners, limits, shutdown), session.go (login,
// namespace), folders.go (LIST, STATUS, CREATE, DELETE, RENAME, SUBSCRIBE),
// view.go (the selected folder's snapshot and its updates), selectcmd.go
// (SELECT, EXAMINE, UNSELECT, IDLE, polling), fetch.go, store.go (STORE and
// flags), search.go, sort.go (SORT), threads.go (THREAD), subject.go (RFC 5256 base
// subject), copy.go (APPEND, COPY, MOVE, EXPUNGE), multiappend.go (APPEND of one
// message or several, RFC 3502), condstore.go (MODSEQ, VANISHED, the QRESYNC resync),
// metrics.go.
package imapserver
