// Package mailbox owns the directory and the mailbox contents.
//
// The directory: domains and their DKIM keys, mailboxes (address, oversight
// mode, oversight address, bcrypt password hash) with their oversight policy
// (recipient allowlist, approval rules added over the API, a pending request
// for less oversight; see Policy and docs/oversight-controls.md) and API keys (SHA-256 hash of
// the secret, the mailboxes it may act for, scopes). The contents: per
// mailbox, folders (IMAP mailboxes) with UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ
// and subscription; emails with UID, ModSeq, system flags and keywords; and
// the raw messages. Tags of the HTTP API are IMAP keywords: one store, two
// views. It does not own outbound mail (package queue) nor any listener; the
// IMAP server is built on Store in mailbox/imapserver.
//
// Store is the interface; PebbleStore is the production implementation and
// MemoryStore the one for tests; mailbox/pgstore is the one on PostgreSQL
// (several nodes on one database). storetest.Run is the conformance suite all
// three pass. Kit (kit.go) is what a store outside this package shares with
// these two: validation, IDs, flags, summaries, threading, the Query cursor,
// the login check and its cache, the watcher hub.
//
// # Semantics shared by both stores
//
//   - Authenticate keeps a login cache in memory (authcache.go): a password
//     verified within Options.AuthCacheTTL (default 60 s) is accepted again
//     without bcrypt, keyed by an HMAC of the secret under a per-process key
//     and the bcrypt hash it matched. Only successes are cached; UpdateMailbox
//     flushes the mailbox's entry, DeleteAPIKey and a restart flush all. API
//     keys (one SHA-256) are never cached.
//   - Addresses and domain names are lower-cased. Folder names are
//     case-sensitive except INBOX; "/" is the hierarchy separator.
//   - UIDVALIDITY is the creation time in Unix seconds, forced above every
//     value handed out before, so a recreated folder never reuses one.
//   - Each folder has its own ModSeq counter (HIGHESTMODSEQ starts at 1);
//     every change to an email (arrival, flags, move out, expunge) takes the
//     next value. A SetFlags that changes nothing does not bump it. A UID that
//     leaves a folder leaves a tombstone (UID, modseq) for QRESYNC, kept under
//     the retention rule of Options.VanishedMax and VanishedAge (Changes).
//   - Keywords are RFC 9051 atoms (see ValidateKeyword), case-preserving and
//     compared case-insensitively; the first spelling stored wins.
//   - Pending emails (gated_all) have UID 0, are invisible to List and to the
//     folder counters, and get a UID (the folder's next) on Release, so an
//     IMAP client never sees a UID lower than one it already saw appear.
//   - Copy shares the raw message: bodies are reference-counted (by reference
//     keys in Pebble) and deleted with their last email.
//   - Watch: a watcher's channel holds Options.WatchBuffer changes; a watcher
//     that falls behind is dropped and its channel closed (never a blocked
//     writer, never a silently lost change). Changes are published after the
//     commit, in commit order per mailbox.
//
// # Pebble key schema
//
// Every key starts with the package prefix 'm' (0x6d) and a one-byte family.
// Integers are big-endian and fixed-width, so byte order is numeric order.
// <address>, <domain> and folder names are UTF-8 without 0x00; inside a key a
// variable-length string is ended by 0x00 when something follows it. Email and
// body IDs are 16-byte ULIDs (48-bit Unix ms, 80 random bits; shown as "em_"
// + 26 Crockford base32 characters), so they sort by creation time.
// <sort> is 24 bytes: InternalDate in Unix ns as uint64 with the sign bit
// flipped, then the email ID; a Query cursor is the URL-safe base64 of it.
//
//	key                                                    value
//	m 00 "version"                                         schema version, 1 byte (1)
//	m 01 <domain>                                          v1 Domain (with its DKIM and identity keys)
//	m 02 <address>                                         v1 Mailbox
//	m 03 <key id>                                          v1 APIKey
//	m 04 <hex sha-256 of secret>                           key id (raw)     index of 03
//	m 05 <address> 00 <folder name>                        folder id:8      name index of 06
//	m 06 <folder id:8>                                     v1 folderRecord
//	m 07 <email id:16>                                     v1 emailRecord
//	m 08 <folder id:8> <uid:4>                             email id:16      the IMAP view, by UID
//	m 09 <folder id:8> <email id:16>                       ∅                pending emails of a folder
//	m 0a <address> 00 <sort:24>                            folder id:8      Query: newest first
//	m 0b <address> 00 <lower keyword> 00 <sort:24>         folder id:8      Query by tag
//	m 0c <body id:16>                                      0x01 + raw message bytes
//	m 0d <body id:16> <email id:16>                        ∅                references to a body
//	m 0e <address> 00 <message-id>                         thread id:16     threading: Message-IDs seen
//	m 0f <address> 00 <subject key:16>                     thread id:16 + unix ns:8  threading: last Re: target
//	m 10 <address> 00 <thread id:16> <sort:24>             folder id:8      Query by thread
//	m 11 <address>                                         v1 Policy        allowlist, API rules, oversight request
//	m 12 <folder id:8> <modseq:8>                          uid:4 + unix s:8 expunge tombstone (QRESYNC VANISHED)
//	m 13 <address>                                         bytes:8 + messages:8  usage (Usage, IMAP QUOTA)
//	m 14 <address> 00 <trigram:3> <chunk:4>                0x01 + roaring bitmap  full-text postings: doc numbers chunk<<16.. with the trigram
//	m 15 <address> 00 <doc:4>                              email id:16      full-text document number -> email
//	m 16 <address> 00 <email id:16>                        ∅                full-text queue: not yet indexed
//	m 17 <address> 00 <email id:16>                        ∅                full-text: always a candidate (text > 4 MiB, or unparsable)
//	m 17 00 "version"                                      0x01             every email was queued for the index (backfill done)
//
// Record values ("v1 T") are the version byte 0x01 followed by the JSON of
// T, except emailRecord, the hot record read once per email by List and
// Query, whose v1 is a compact binary encoding drawn in record.go.
// folderRecord holds the folder's mailbox, name, special use, UIDVALIDITY,
// UIDNEXT, HIGHESTMODSEQ, message and unseen counts (pending emails
// excluded), subscription, and its tombstone count and VanishedFloor (below). emailRecord is the Email without its Folder
// (names live in 06, so a rename rewrites only 05 and 06) plus the folder id
// and the body id. Folder ids come from a counter restored at open from the
// last 06 key. A body's id is the id of the email delivered with it.
//
// # Batches
//
// Every mutation is one batch, durable before the call returns. Directory batches commit
// with pebble.Sync. Content batches are applied with NoSync under the mailbox's mutex (so
// UIDs, commits and watcher notifications are in one order) and made durable after the mutex
// is released by a synced, empty WAL record that Pebble group-commits with other writers'
// (DeliverOptions.NoSync skips that last step, for the Sent copy). A watcher may see a change
// a moment before its fsync; a crash in that moment loses only an unacknowledged write.
//
//   - AddDomain: 01. AddMailbox: 02 and, per default folder, 05 + 06.
//     UpdateMailbox: 02. AddAPIKey/DeleteAPIKey: 03 + 04. UpdateOversight: 02 + 11 (the mode
//     and the policy change together: deciding an oversight request is one batch).
//   - DeleteMailbox (Remover): every folder as in DeleteFolder (INBOX too), then 02 and 11; API
//     keys are the caller's. DeleteDomain: 01, refused while a mailbox of it exists.
//   - CreateFolder and CreateFolderUse: 05 + 06 (CreateFolderUse first reads every 06 of
//     the mailbox through its 05 entries: one folder per special use). RenameFolder: 05 (delete + set) and 06 for the
//     folder and each sub-folder. DeleteFolder: every email of the folder as
//     in Expunge, then 05 + 06. SetSubscribed: 06.
//   - Deliver: 0c + 0d, 07, 08 (or 09 if pending), 0a, one 0b per keyword, 10,
//     0e (unless that Message-ID is already indexed), 0f, 06 (UIDNEXT, HIGHESTMODSEQ,
//     counters), 13 (usage; read first when DeliverOptions.QuotaBytes is set).
//   - SetFlags (and SetFlagsIf, which first compares the record's ModSeq): 07, 0b for
//     added/removed keywords, 06.
//   - Deliver and Copy also set 16 (the new email id, queued for the full-text index).
//   - Copy: 0d (a new reference to the same body), then as Deliver without 0c (13 counts
//     the copy's size again: usage is per email, not per stored body).
//   - Move, Release: remove 08/09, 0a, 0b, 10 and set them again in the target
//     (a new UID), 07, both 06.
//   - Expunge: per email 07, 08, 0a, 0b, 10, 0d deleted, a 12 set; 0c deleted when no
//     0d of that body is left; 06; 13. DeleteMailbox deletes 13. Move sets a 12 for the UID it takes out of the source.
//     DeleteFolder and DeleteMailbox delete the folder's 12 range. The threading indexes 0e and 0f are kept (they name only
//     thread ids, so a later reply to a deleted message still joins its thread).
//
// Tombstones (changes.go, pebble_changes.go): every visible email that leaves a folder
// (Expunge, Move out) leaves m 12 keyed by the folder's HIGHESTMODSEQ of that change, so
// Changes answers "vanished since modseq" with one range scan; "changed since modseq" is a
// scan of the folder's record heads (no modseq index). At the commit of a batch that added
// tombstones, the folder's oldest are deleted while it holds more than Options.VanishedMax
// or they are older than Options.VanishedAge (defaults 100,000 and 30 days); the folder
// record keeps the count and VanishedFloor, the highest modseq deleted, below which
// Changes says its Vanished list is incomplete.
//
// Usage (pebble_usage.go): m 13 holds the sum of Email.Size and the count of a mailbox's
// emails, pending ones and copies included, changed in the content batch of every Deliver,
// Copy and removal (Move, Release and SetFlags leave it). A database written before m 13
// existed has none: the first Usage call or content batch that needs it counts the mailbox's
// emails through 0a under the mailbox lock and stores the count in that batch.
//
// Threads (thread.go): an email's ThreadID is computed at Deliver from References and
// In-Reply-To (0e), with a subject fallback for Re:/Fwd: subjects between the same
// participants within ThreadSubjectWindow (0f), and stored in its record; subject key is the
// SHA-256 (16 bytes) of the base subject and the sorted participant addresses.
//
// Full-text index (pebble_textindex.go, textindex): one goroutine the store starts at open and
// Close stops drains m 16 in batches of at most 512 emails or 16 MiB of decoded text: it
// extracts each email's segments (textindex.Segments, the text IMAP BODY/TEXT search),
// allocates the mailbox's next doc number (m 15), merges the byte trigrams into the posting
// bitmaps (m 14, read-modify-write: it is their only writer, so no lock) and deletes the m 16
// keys, in one batch. An email with more than 4 MiB of text, or whose parse panics, gets m 17
// instead. TextCandidates intersects the postings of every trigram of every needle (needles
// under 3 bytes cannot narrow) and adds every m 16 and m 17 email: a superset of the matches,
// which the caller verifies. Move and Release keep the email id and need nothing. Expunged
// emails leave stale postings and doc numbers (not compacted; the verifier drops ids that are
// gone or in another folder); DeleteMailbox leaves the index keys of the address. A database
// from before the index (no m 17 00 "version") has every email queued at open.
//
// Writers of one mailbox's contents are serialised by a per-mailbox mutex;
// directory writers by one mutex. Readers use snapshots and take no lock.
//
// A record that does not decode is logged and skipped by scans (List, Query,
// Folders, Domains, Mailboxes, APIKeys) and returned as ErrCorrupt by point
// reads; it is never fatal to the store.
package mailbox
