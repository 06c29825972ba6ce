// Package pgstore is mailbox.Store on PostgreSQL (`[store] backend = "postgres"`): several
// multimail nodes can share one database's directory and mailboxes. It passes the same
// conformance suite (mailbox/storetest) as the Pebble and in-memory stores, and shares their
// semantics through mailbox.Kit (validation, IDs, flags, summaries, threading, the Query
// cursor, the login check and its cache, the watcher hub). The schema is pgdb's migration
// 0001_mailbox.sql and 0002_vanished.sql (expunge tombstones for QRESYNC, pruned as the
// Pebble store prunes its m 12 keys, see changes.go); Open refuses a database at another
// schema version.
//
// # Tables
//
//	mm_counter        name → value              'uidvalidity': the last UIDVALIDITY handed out
//	mm_domain         name → data               JSON of mailbox.Domain (DKIM and identity keys);
//	                                            with a SecretKey "mmseal1:" nonce ‖ sealed JSON
//	                                            (seal.go)
//	mm_mailbox        address → data, policy,   JSON of mailbox.Mailbox and mailbox.Policy;
//	                  version                   count of committed content changes
//	mm_api_key        id, hash (unique) → data  JSON of mailbox.APIKey
//	mm_folder         id; (mailbox, name)       UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ, subscription,
//	                                            tombstones (count), vanished_floor (highest
//	                                            modseq of a pruned tombstone)
//	mm_email          id ("em_…")               folder, UID (0 pending), ModSeq, flags, keywords,
//	                                            InternalDate (ns + zone offset), body id, thread,
//	                                            summary (JSON)
//	mm_body           id → raw                  shared by copies, deleted with its last email
//	mm_thread_msgid   (mailbox, message_id)     thread of a Message-ID seen
//	mm_thread_subject (mailbox, subject_key)    last Re: target and when
//	mm_vanished       (folder_id, modseq, uid)  expunge tombstone and when (Unix s), for VANISHED
//
// Folder counters (messages, unseen) are counted from mm_email on read, pending emails
// excluded.
//
// # Transactions
//
// Every mutation is one transaction at READ COMMITTED, run by pgdb.Tx (retried on SQLSTATE
// 40001 and 40P01), committed with synchronous_commit on (pgdb.Open refuses off) before the
// call returns. A change to a mailbox's contents first locks its mm_mailbox row (SELECT …
// FOR UPDATE): that row is the mailbox's writer lock across nodes, as the per-mailbox mutex
// is in the Pebble store. UIDs and ModSeqs are taken from the folder's mm_folder row by an
// UPDATE … RETURNING in the transaction that inserts or changes the email, never from a
// SEQUENCE: the row stays locked until commit, so UIDs commit in the order they are handed
// out, and a client that saw UID 11 never later finds a UID 10. UIDVALIDITY is
// max(now in seconds, last + 1) from the 'uidvalidity' counter row, across all nodes.
//
// # Watch
//
// This node's changes are published to its watchers after the commit, in commit order per
// mailbox (a node-local stripe lock spans the transaction and the publication). Every
// content transaction starts with UPDATE mm_mailbox SET version = version + 1 (which is also
// the row lock above); a poller (watch.go, every PollInterval) reads the versions of the
// mailboxes this node has watchers for and closes their channels (resynchronise, per the
// Watch contract) when another node moved one. A local commit advances what the watchers
// know only when it moved the version by exactly one from it, so a foreign commit in between
// is never mistaken for a local one.
//
// # Differences from the Pebble store
//
//   - DeliverOptions.NoSync (the Sent copy) commits with SET LOCAL synchronous_commit = off:
//     that one commit does not wait for the WAL flush (the connection-level refusal of
//     synchronous_commit = off stands for everything else).
//   - RenewUIDValidity (a restored Pebble node) has no counterpart: a PostgreSQL database is
//     restored with the database's own tools, and its counters come back with it.
//   - DeleteMailbox also drops the mailbox's threading indexes.
package pgstore
