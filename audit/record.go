package audit

// record.go is the record format: what one line of the journal says.

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"
)

// Record kinds.
const (
	KindSend          = "send"           // a message accepted: Detail status, lane, source; Rule when a rule released or rejected it
	KindApprove       = "approve"        // a held send released by Actor
	KindReject        = "reject"         // a held send refused by Actor
	KindOversight     = "oversight"      // a mailbox's oversight mode changed (Detail from, to)
	KindKeyCreate     = "key.create"     // an API key made (Object key id, Detail scopes, mailboxes)
	KindKeyRevoke     = "key.revoke"     // an API key deleted
	KindMailboxAdd    = "mailbox.add"    // a mailbox created
	KindMailboxRemove = "mailbox.remove" // a mailbox removed
	KindDomainAdd     = "domain.add"     // a sender domain created
	KindDomainRemove  = "domain.remove"  // a sender domain removed
	KindConfig        = "config.apply"   // a config-declared change applied at start (Detail what)
	KindQueueRetry    = "queue.retry"    // an admin retried a queued message
	KindQueueDelete   = "queue.delete"   // an admin deleted a queued message
	// A mailbox's oversight policy (docs/oversight-controls.md): Detail op (add, remove,
	// replace), entry or rule; the mode change itself is KindOversight with Actor the person.
	KindAllowlist        = "oversight.allowlist" // allowlist entries added or removed
	KindRule             = "oversight.rule"      // approval rules added or removed over the API
	KindOversightRequest = "oversight.request"   // the agent asked for less oversight (Detail from, to); approved or rejected later
	KindBackup           = "backup"              // a backup was taken over the ctl socket (Detail files, bytes)
	KindRestore          = "restore"             // the node started from a restored backup (Detail backup time, held messages, folders)
	KindCancel           = "send.cancel"         // the sender cancelled a message (Detail cancelled, in_flight counts)
)

// zeroHash is prev of the first record of a journal.
var zeroHash = strings.Repeat("0", 64)

// Record is one journal entry. Its JSON (encoding/json, this field order) is stored, exported
// and hashed byte for byte. Seq, Prev and Time are set by the Journal.
type Record struct {
	Seq     uint64            `json:"seq"`
	Prev    string            `json:"prev"`
	Time    string            `json:"time"` // RFC 3339 with nanoseconds, UTC
	Kind    string            `json:"kind"`
	Actor   string            `json:"actor"`             // "api:<key id>", "mcp:<key id>", "cli", "rule:<n>", "config", "smtp:<mailbox>"
	Mailbox string            `json:"mailbox,omitempty"` // the mailbox concerned, lower case
	Object  string            `json:"object,omitempty"`  // message, approval, key or domain id
	Rule    string            `json:"rule,omitempty"`
	Reason  string            `json:"reason,omitempty"`
	Rcpts   []string          `json:"rcpts,omitempty"` // keyed hashes (RcptHash), never addresses
	Detail  map[string]string `json:"detail,omitempty"`
}

// marshal returns the record's stored bytes. json.Marshal of this struct cannot fail.
func (r *Record) marshal() []byte {
	b, err := json.Marshal(r)
	if err != nil {
		panic("audit: marshal record: " + err.Error())
	}
	return b
}

// headPrefix is how json.Marshal begins a Record whose Seq, Prev and Time are zero.
const headPrefix = `{"seq":0,"prev":"","time":""`

// tail is the record's JSON after its first three fields, marshalled before seq, prev and
// time are known (outside the journal's lock).
func (r *Record) tail() []byte {
	c := *r
	c.Seq, c.Prev, c.Time = 0, "", ""
	return c.marshal()[len(headPrefix):]
}

// withHead returns the record's stored bytes from its tail: the bytes json.Marshal makes of
// the whole record, since seq is a number and prev and time (hex, RFC 3339) need no escaping.
func (r *Record) withHead(tail []byte) []byte {
	b := make([]byte, 0, 128+len(tail))
	b = append(b, `{"seq":`...)
	b = strconv.AppendUint(b, r.Seq, 10)
	b = append(b, `,"prev":"`...)
	b = append(b, r.Prev...)
	b = append(b, `","time":"`...)
	b = append(b, r.Time...)
	b = append(b, '"')
	return append(b, tail...)
}

// Hash is the lower-case hex SHA-256 of a record's stored bytes, as the next record's prev.
func Hash(stored []byte) string {
	h := sha256.Sum256(stored)
	return hex.EncodeToString(h[:])
}

// rcptHash is the keyed hash of one recipient address (lower-cased).
func rcptHash(key []byte, addr string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(strings.ToLower(strings.TrimSpace(addr))))
	return hex.EncodeToString(m.Sum(nil)[:16])
}
