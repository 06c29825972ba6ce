// Package queue is multimail's durable outbound queue: messages waiting for delivery, their
// lanes (high / normal / low), the hold state for approvals, per-domain schedules and
// backoff, delivery leases, the per-message event journal and the webhook outbox. It stores
// everything in a Pebble database it is handed (it never opens or closes one) and owns the
// key prefix 'q' alone; it reads no other prefix and imports no project package.
//
// The rest of the program uses the queue through the interfaces of backend.go (Core: the
// delivery queue proper; Backend: all of it), which *Queue implements; queue/pgqueue is the
// second implementation (several nodes on one PostgreSQL database), and queue/queuetest is
// the conformance suite both pass.
//
// # Guarantees
//
// Nothing acknowledged is lost: Enqueue, Complete, Approve/Reject, Retry, Delete and Record
// write one batch committed with pebble.Sync and return only after it. Concurrent commits
// share fsyncs (Pebble's commit pipeline groups them). Every write that changes a message
// also appends its events to the journal and their webhook outbox entries in the same batch.
// Leases are written without fsync: a lease lost in a crash leaves its schedule entry in
// place, which is what Open does with surviving leases anyway (it returns every persisted
// lease to ready, because the process that held it is gone). Outbox acks and retries are
// also written without fsync: a lost ack means one more webhook delivery (at-least-once).
//
// # Scheduling
//
// The unit of delivery is one message to one recipient domain: a Lease carries all pending
// recipients of that domain. Per recipient the queue keeps attempts and the next attempt
// time (exponential backoff with ±20% jitter derived from a hash, BackoffInitial doubling to
// BackoffMax); the unit is due at the earliest next attempt of its pending recipients. A
// connection-level failure (Complete with domainBackoff) also blocks the whole domain,
// doubling per consecutive failure and reset by any other completion. A recipient still
// deferred when its next attempt would fall past MaxLifetime fails (returned as a Final for
// a DSN); one past the message's ExpiresAt expires. Postpone hands a lease back without an
// attempt (the MTA's pacing has no room for the destination now): its recipients become due
// later, with no event and no attempt counted.
//
// Recipients can also be finalised inside Next: a unit that falls due past ExpiresAt or
// MaxLifetime (typically after downtime) is not leased; its recipients expire or fail there.
// Next cannot return those Finals, so it hands them to the Options.OnFinal hook (or one set
// later with SetOnFinal; mta.New registers the Deliverer's), after the synced commit and
// outside every lock. When that leaves every recipient final, the body is deleted only after
// the hook returned, in a batch of its own, so the hook can still read it for the DSN.
//
// An in-memory index, rebuilt from the schedule family on Open, makes Next O(log n) without
// scanning Pebble: per domain and lane a min-heap of (due, message id) units of 32 bytes;
// per lane a heap of the domains that may be served now (under PerDomainConcurrency and not
// backing off), so a blocked domain never holds up the others; a heap of backoff ends; a
// heap of lease expiries. One goroutine sleeps on one timer set to the earliest of those
// times and is re-armed through a channel; Next waits on a broadcast channel that is closed
// whenever work may have become available. The persisted schedule is the source of truth:
// before leasing, the unit's schedule key is checked in Pebble.
//
// Next(ctx, LaneHigh) serves only high. With several lanes they are tried in order, except
// that every LowEvery-th bulk pick tries low before normal (never before high) when low has
// due work, so bulk mail cannot starve low and nothing delays high.
//
// # Caches
//
// Besides the schedule index the queue keeps, per message with a pending recipient, its last
// journal sequence number and a count of writes to its recipient records (entries made at
// Enqueue, dropped when the body is deleted; nothing after a restart, when a miss reads
// Pebble). Complete thus needs no seek for the journal's last key, and it reuses the message
// record and the recipients that Next read for the lease unless a recipient was written
// since. Every writer of a message's journal or recipients holds that message's lock.
//
// # Test outbox
//
// A test message (Message.Test) is never leased: Next delivers its due recipients to the
// test sink. In that same batch the queue keeps what would have been sent: the message's
// entry in its mailbox's test outbox (testout) and, the first time, a copy of its body
// (testbody), so the queue's own body is still deleted when every recipient is final, as for
// live mail. An entry lives for Options.TestRetention (default 7 days) after its first sink
// delivery: TestOutbox and TestMessage skip it once expired, the next sink delivery of the
// same mailbox deletes up to 64 expired entries of it, and Open deletes every expired one.
// Nothing else deletes them (deleting a mailbox leaves its test outbox to expire).
//
// # Return paths
//
// BounceAddress makes a message's VERP return path bounce+<msg_id>.<tag>@<domain>, the tag
// being 80 bits of HMAC-SHA256 of the id under the node's VERP key (base32, compared
// case-insensitively), so that a forged DSN naming one of our message ids is not correlated:
// ParseBounceAddress refuses it. The key is made by the first Open and kept under the secret
// family. Untagged return paths (the format before tags) are accepted only for messages whose
// id is older than the key, and only until MaxLifetime after the key was made.
//
// UnsubscribeToken makes the token of a one-click List-Unsubscribe URL (RFC 8058): the
// sending domain, the recipient and the message id, base64url, with 128 bits of
// HMAC-SHA256 under the same key and its own label ("multimail unsubscribe v1");
// ParseUnsubscribeToken verifies it and Unsubscribe adds the "unsubscribe" suppression.
// Both are made by a Signer (signer.go) holding the key, which another backend builds with
// NewSigner from a key it keeps itself.
//
// # Key schema
//
// Every key is 'q' (0x71), a family byte, then the fields below. Integers are big-endian
// and fixed-width so that byte order is numeric order. Message, approval and lease ids are
// stored as their 16-byte binary ULID (48-bit Unix milliseconds + 80 random bits; the text
// form is a prefix "msg_"/"apr_"/"lse_" + 26 Crockford base32 characters), so keys sort by
// creation time (message ids from one Queue strictly increase, even within a millisecond,
// so enqueue order is id order). s8 is a string preceded by its 1-byte length, s16 by a 2-byte length.
//
//	family       key after 'q'                                      value
//	0x01 msg     01 <msg:16>                                        v1 msgRecord: mailbox, from, subject, lane, tags,
//	                                                                expires_at, queued_at, size, approval id, source,
//	                                                                test (a test key's message: never leased),
//	                                                                require_tls (REQUIRETLS, RFC 8689), ...
//	0x02 body    02 <msg:16>                                        v1 + raw RFC 5322 bytes; stored once, deleted
//	                                                                when every recipient is final
//	0x03 rcpt    03 <msg:16> <idx:2>                                v1 rcptRecord: address, domain, status, attempts,
//	                                                                next attempt, last code/enhanced/detail, updated
//	0x04 sched   04 <lane:1> <due:8 unix ns> <msg:16> <domain>      1 flag byte (bit 0: retry = deferred/returned)
//	0x05 lease   05 <lease:16>                                      v1 leaseRecord: msg, domain, lane, expires, attempt
//	0x06 domain  06 <domain>                                        v1 domainRecord: consecutive failures, backoff until
//	0x07 approval 07 <apr:16>                                       v1 ApprovalRecord (state, by, rule, reason, decided,
//	                                                                msg id, mailbox, subject, to, tags, created)
//	0x08 hold    08 <apr:16>                                        <msg:16>; present exactly while the approval is
//	                                                                pending (the hold index)
//	0x09 idem    09 <s16 mailbox> <key>                             v1 idemRecord: request hash, msg id, status,
//	                                                                queued_at, created; ignored after 24h, deleted on Open
//	0x0a event   0a <s8 subject> <seq:8>                            v1 Event; subject = message id (or the email id of
//	                                                                "received"); seq from 1, append-only
//	0x0b outbox  0b <s8 subscriber> <s8 subject> <seq:8>            v1 outboxRecord: event copy, attempts, next, first,
//	                                                                last error; deleted when acknowledged
//	0x0c secret  0c <name>                                          v1 node secret; "verp": {key: 32 random bytes,
//	                                                                created}, made by the first Open, never changed
//	0x0d suppress 0d <s8 sending domain> <address, lower case>       v1 Suppression: reason (hard_bounce, complaint,
//	                                                                unsubscribe, manual), detail, msg id, created,
//	                                                                expires (zero = never)
//	0x0e testout 0e <s16 mailbox, lower case> <msg:16>              v1 testOutRecord: to (recipients delivered to the
//	                                                                sink), subject, queued_at, delivered_at, size,
//	                                                                expires (first sink delivery + TestRetention)
//	0x0f testbody 0f <msg:16>                                       v1 + raw RFC 5322 bytes of a test message, copied
//	                                                                from body at its first sink delivery
//
// "v1" is the version byte 0x01 followed by JSON; a reader rejects other versions as
// corrupt. Corrupt records are logged and skipped, never fatal.
//
// The sched family is both the ready lanes and the schedule: within a lane, entries sort by
// next-attempt time, and the ready ones are those due now or earlier, so a deferral moves
// nothing when it falls due. Invariant: for every (message, domain) with a pending
// recipient that is neither held nor leased there is exactly one sched key, whose due is the
// earliest next attempt of those recipients; a leased unit has a lease key instead. The
// per-domain in-flight count is not stored: it is the number of live leases, and all leases
// return to ready on Open.
//
// # Which batch writes what
//
//	Enqueue        msg, body, rcpt*, sched (one per domain, unless held or rejected),
//	               approval (+ hold when pending), idem, event*, outbox*          Sync
//	Next           -sched, +lease (or rcpt*/event*/outbox*, -body when done, when
//	               all recipients of the unit expired or failed, or the message
//	               is a test message: its due recipients are delivered to the
//	               test sink here and nothing is leased, with testout (+ testbody
//	               the first time) and -testout/-testbody of up to 64 expired
//	               entries of the same mailbox)                                   NoSync / Sync
//	  with OnFinal  ... and -body in a batch of its own after the hook             Sync
//	Complete       -lease, rcpt*, sched (still pending), domain, -body when done,
//	               event*, outbox*, suppress (a 5.1.1/5.1.2/5.1.10 bounce)        Sync
//	Postpone       -lease, rcpt* (Next only), sched                               NoSync
//	Approve/Reject approval, -hold, rcpt*, sched* / -body, event*, outbox*        Sync
//	ApproveRelease as Approve, plus body and msg (the body its ReleaseFunc returns) Sync
//	Retry          -sched, +sched (now), rcpt*, -domain                           Sync
//	Delete         -sched*, rcpt*, approval, -hold, -body, event*, outbox*        Sync
//	Record         event, outbox*, (late bounce: rcpt, sched, suppress)           Sync
//	HoldInFlight   per message: -sched*, rcpt*, msg, approval, +hold, event*,
//	               outbox* (restore.go: after a restore, before any Next)          Sync
//	Cancel         rcpt*, -sched*, approval, -hold, -body when done, event*,
//	               outbox*                                                        Sync
//	Suppress/Unsuppress  suppress                                                 Sync
//	lease expiry   -lease, +sched                                                 NoSync
//	Open           -lease*, +sched*; the VERP key once (bounce.go)                 Sync
//	               -idem* (older than 24h), -testout*/-testbody* (expired)         NoSync
//	OutboxAck/Retry -outbox / outbox                                              NoSync
//
// With Options.Audit, the Enqueue and Approve/Reject batches also carry their audit record
// (package audit, prefix 'a'): Journal.Commit adds it and commits the batch, so the record
// and the change are one write and the audit chain's order is the commit order.
package queue
