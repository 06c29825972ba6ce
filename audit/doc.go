// Package audit is multimail's tamper-evident audit journal: one append-only, hash-chained
// record of every oversight decision and administrative change on a node (sends and their
// release, approvals and rejections, oversight-mode changes, API keys created and revoked,
// domains and mailboxes added, config-declared changes applied at start, admin actions over
// the API and the ctl socket), signed checkpoints over it, their export, offline
// verification and retention. It imports no project package; queue, api and cmd append to it.
//
// # Records and hashing
//
// A record is the JSON object Go's encoding/json makes of Record (fields in the struct's
// order, maps sorted, HTML characters escaped, no insignificant whitespace, never a raw
// newline). Those exact bytes are what is stored, what is exported (one record a line) and
// what is hashed: the chain hashes stored bytes, not a re-canonicalised form, so a verifier in
// any language needs only SHA-256 over each exported line. Record n carries "prev", the
// lower-case hex SHA-256 of record n-1's bytes (64 zeros for the first record of a journal),
// and "seq" = n, counting from 1 with no gap. Records hold no secrets, no bodies and no
// subjects; recipient addresses are "rcpts", HMAC-SHA256 under the journal's recipient key
// (kept in the store, secret "rcpt") of the lower-cased address, hex, truncated to 16 bytes:
// deleting the key unlinks the records from the addresses.
//
// # Order = commit order
//
// Journal.Commit appends records into a caller's *pebble.Batch (the queue's enqueue and
// decision batches, so the record and the state change it records are one atomic write). It
// holds the journal's lock while it assigns seq and prev, adds the records and hands the batch
// to Pebble's commit pipeline with DB.ApplyNoSyncWait, which fixes the batch's place in the
// write-ahead log; it releases the lock before waiting for the fsync (Batch.SyncWait). So the
// chain's order is the WAL's order (a crash keeps a prefix of the chain, never a record without
// its predecessor), and concurrent audited commits still share fsyncs through Pebble's group
// commit: the lock covers a memory append, not a disk sync. Only audited batches take the lock.
// Writes that cannot share a batch (the directory lives in package mailbox, which owns its
// batches: domains, mailboxes, keys, config applied at start, admin queue actions) are
// recorded by their caller with Journal.Append in a synced batch of their own right after the
// change committed: a crash between the two loses that record, never a decision (a send or an
// approval is recorded in its own batch).
//
// # Checkpoints
//
// A checkpoint is a signed note (C2SP signed-note, golang.org/x/mod/sumdb/note, Ed25519)
// whose text is three lines in the C2SP tlog-checkpoint layout, over the hash chain instead of
// a Merkle tree: the origin ("multimail.dev/audit/<node>"), the size (the seq of the last
// record covered) and the base64 of that record's SHA-256, then one extension line
// "time <RFC 3339>". The node's audit key is made at first start and kept in the store
// (secret "signing"); its public verifier key ("<origin>+<hash>+<base64>") heads every
// export and every checkpoint webhook. A checkpoint is made every CheckpointEvery records,
// at most CheckpointInterval after a new record, and at the start of a full export; it is
// stored and handed to Options.Anchor (the auditor webhook).
//
// # Retention
//
// Prune(before) deletes the records older than before. It first signs a checkpoint over the
// last record it deletes and keeps it as the anchor: an export of a pruned journal starts with
// that checkpoint, so the first remaining record's prev is checked against a signed head.
//
// # Key schema
//
// Every key is 'a' (0x61; queue owns 'q', mailbox 'm'), a family byte, then:
//
//	family        key after 'a'     value
//	0x01 record   01 <seq:8>        the record's JSON bytes (hashed as stored)
//	0x02 ckpt     02 <seq:8>        signed note text of the checkpoint of size seq
//	0x03 anchor   03                signed note text of the checkpoint over the pruned prefix
//	0x04 secret   04 <name>         "signing": note signer key text; "rcpt": 32 random bytes
//
// seq is big-endian, so key order is chain order.
package audit
