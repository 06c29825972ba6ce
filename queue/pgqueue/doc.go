// Package pgqueue is the delivery queue core (queue.Core) on PostgreSQL, for several
// multimail nodes sharing one database: any node enqueues, any node delivers, and a node
// that dies loses nothing (its leases return to the pool when they expire). It owns the
// tables mq_* (migration pgdb/migrations/0003_queue.sql) and reads no other; it passes the
// conformance suites of queue/queuetest, one node and several (RunShared).
//
// # Status
//
// Implemented: Enqueue (the committed transaction is the acknowledgement), idempotency keys
// unique across nodes, lanes with high first and the low-lane starvation guard, leases by
// SELECT … FOR UPDATE SKIP LOCKED with expiry and fencing, Complete/Postpone with
// per-recipient retry backoff and per-domain backoff and concurrency shared across nodes,
// ExpiresAt/MaxLifetime, the journal and the webhook outbox, Body and Status, and
// queue.ReturnPaths (VERP return paths and unsubscribe tokens, queue.Signer under one key
// shared by all nodes in mq_secret, so a bounce reaching any node verifies), and
// queue.Suppressions (the suppression list, hard bounces adding to it in Complete's
// transaction, one-click unsubscribe), passing queuetest.RunSuppressions; queue.Oversight
// (approvals of held messages, passing queuetest.RunOversight and RunOversightShared) and
// the audit records of sends and decisions (Options.Audit, see below).
// Not implemented (the Pebble queue's queue.Backend beyond these): test messages (Enqueue
// refuses Message.Test with ErrUnsupported), List/Cancel/Retry/Delete/HoldInFlight, the
// test outbox, metrics. So cmd/multimail does not use this package yet: with [store]
// backend = "postgres" the queue is still the node's Pebble queue.
//
// # Guarantees
//
// Every change is one transaction run by pgdb.Tx (retried on 40001 and 40P01; no advisory
// locks, triggers or server-side functions): Enqueue writes the message, body, recipients,
// one unit per recipient domain, the idempotency key and the events with their outbox rows;
// Complete writes the recipients, the events and outbox rows, the domain's backoff, the
// unit's next due time (or deletes it) and drops the body when nothing is pending. Times that
// decide leasing are the database's now(): due, lease_expires, backoff_until, outbox
// busy_until; node clocks only choose an outbox retry time and Postpone's until.
//
// # Approvals
//
// A message enqueued with a pending Message.Approval is held: its mq_approval row, its
// recipients with status pending_approval and no mq_unit row are written by the Enqueue
// transaction (a rule's decision is written there too: approved is queued at once,
// rejected keeps no body). Approve, ApproveRelease and Reject are one transaction each: read
// the approval's message id, lock the message row, then the approval row (FOR UPDATE), and
// refuse with queue.ErrNotPending unless the approval is still pending; then the approval,
// the recipients (queued with one unit per domain, due now or at SendAt; or rejected with
// the body dropped), ApproveRelease's rewritten body and the events ("approved", "queued",
// maybe "scheduled"; or "rejected") with their outbox rows. Of two nodes deciding one
// approval, the second waits on the row lock, then reads the first's committed decision
// (READ COMMITTED re-reads a locked row) and gets ErrNotPending. A ReleaseFunc may run again
// when the transaction is retried.
//
// # Audit
//
// With Options.Audit (the node's audit.Journal, in its own Pebble database) the queue
// appends the Pebble queue's records (queue.SendRecord after every Enqueue that wrote a
// message, queue.DecisionRecord after every decision) once the transaction has committed.
// The Pebble queue writes them in the batch of the change; PostgreSQL and the node's Pebble
// cannot share a transaction, so here a crash or a failed append after the commit loses the
// record, never the change (a failed append is logged), and each node's chain holds the
// decisions made through that node only.
//
// # Leases and fencing
//
// Next runs, per lane in order, one transaction: pick the oldest due, unleased (or
// lease-expired) unit of the lane whose domain is not backing off, FOR UPDATE SKIP LOCKED so
// that racing nodes take different units; lock the domain's mq_domain row and count its live
// leases (the row lock serialises leasing within a domain across nodes, so
// PerDomainConcurrency holds globally; a capped domain is skipped for up to 16 others);
// then increment the unit's lease_gen and set lease_id ("lse_<random>.<gen>") and
// lease_expires = now() + LeaseTTL. Complete and Postpone first lock the unit WHERE lease_id
// and lease_gen match AND lease_expires > now(): a node whose lease expired (and perhaps was
// taken by another node) gets queue.ErrLeaseLost and writes nothing. A lease must outlast
// the longest SMTP attempt (10 minutes for the end-of-DATA reply) or be renewed: without
// Options.Heartbeat, LeaseTTL defaults to 15 minutes, and a dead node's units wait that long
// before another node takes them; with a Heartbeat (say LeaseTTL 30 s, Heartbeat 10 s) each
// node renews the leases it holds (UPDATE … WHERE lease_id = ANY(held) AND lease_expires >
// now(): the same fencing), so a live node keeps a lease however long its attempt takes and
// a dead node's units return within LeaseTTL. A lease whose holder had delivered but not yet
// completed is delivered again by the next holder: at least once, duplicates only within
// that window.
//
// Next waits between rounds on a local wake channel (closed by this node's writes) or the
// poll interval (default 1 s), which is how it sees other nodes' work and due times.
//
// # Journal and outbox
//
// Events are numbered per subject from mq_subject.last_seq, updated (and so row-locked) in
// the transaction that appends: sequence numbers commit in order, never twice. Each event is
// fanned out to this node's subscribers (SetSubscribers) as mq_outbox rows in the same
// transaction. OutboxDue hands out chain heads (no lower seq of the same subscriber and
// subject) FOR UPDATE SKIP LOCKED and sets busy_until = now() + LeaseTTL, so no other node
// hands the same item out until it is acknowledged, retried or busy_until passes; the
// webhook-id is "<subject>.<seq>" on every node: at least once, same id, in order per
// message and subscriber. OutboxKick fires after local writes and every poll interval.
//
// # Schema (migrations 0003, 0004)
//
//	mq_message (id PK, mailbox, data JSON bytea, body bytea NULL when done, queued_at)
//	mq_rcpt    (msg_id, idx) PK: address, domain, status, attempts, next_attempt,
//	           last_code, last_enhanced, last_detail, updated_at
//	mq_unit    (msg_id, domain) PK: lane, due, lease_id, lease_gen, lease_expires;
//	           index (lane, due) for Next, (domain, lease_expires) for the in-flight count,
//	           (lease_id) for the heartbeat
//	mq_domain  (domain PK): failures, backoff_until; its row lock serialises leasing
//	mq_idem    (mailbox, key) PK: request_hash, msg_id, status, queued_at, created (24 h)
//	mq_subject (subject PK): last_seq
//	mq_event   (subject, seq) PK: data JSON of queue.Event
//	mq_outbox  (subscriber, subject, seq) PK: data, attempts, next_attempt, first_try,
//	           busy_until, last_err; index (next_attempt)
//	mq_suppress (domain, address) PK: data JSON of queue.Suppression
//	mq_secret  (name PK): data; 'verp' = JSON {key: 32 random bytes, created}, made by the
//	           first Open (INSERT … ON CONFLICT DO NOTHING, then read: one key for all)
//	mq_approval (id PK, msg_id → mq_message ON DELETE CASCADE): state
//	           (pending|approved|rejected|cancelled), data JSON of queue.ApprovalRecord;
//	           index (state, id) for Approvals (id order is creation order), (msg_id, id):
//	           a message's current approval is its latest (a hold after a restore adds one)
//
// Lock order: unit, then message, then approval, then domain, then subject counter; Record
// takes only the subject counter. A deadlock is retried by pgdb.Tx all the same.
package pgqueue
