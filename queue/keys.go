package queue

// keys.go is the only code that builds or parses queue keys; doc.go draws the layout.

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
)

// keyPrefix is the one byte every queue key starts with.
const keyPrefix = 'q'

// Key families: the byte after keyPrefix.
const (
	famMsg      byte = 0x01 // message record
	famBody     byte = 0x02 // message body
	famRcpt     byte = 0x03 // per-recipient state
	famSched    byte = 0x04 // ready lanes / schedule: lane, next-attempt time
	famLease    byte = 0x05 // leases
	famDomain   byte = 0x06 // per-domain backoff
	famApproval byte = 0x07 // approval records
	famHold     byte = 0x08 // hold index: approvals still pending
	famIdem     byte = 0x09 // idempotency keys
	famEvent    byte = 0x0a // per-message event journal
	famOutbox   byte = 0x0b // webhook outbox
	famSecret   byte = 0x0c // node secrets (the VERP key)
	famSuppress byte = 0x0d // suppression list: sending domain, address
	famTestOut  byte = 0x0e // test outbox index: mailbox, message
	famTestBody byte = 0x0f // test outbox bytes: message
)

// Named lengths of the fixed-width parts.
const (
	headerLen = 2 // keyPrefix + family
	dueLen    = 8 // big-endian unix nanoseconds
	seqLen    = 8 // big-endian sequence number
	idxLen    = 2 // big-endian recipient index
	laneLen   = 1
)

var familyNames = map[byte]string{
	famMsg: "msg", famBody: "body", famRcpt: "rcpt", famSched: "sched", famLease: "lease",
	famDomain: "domain", famApproval: "approval", famHold: "hold", famIdem: "idem",
	famEvent: "event", famOutbox: "outbox", famSecret: "secret", famSuppress: "suppress",
	famTestOut: "testout", famTestBody: "testbody",
}

func header(fam byte, capacity int) []byte {
	k := make([]byte, headerLen, headerLen+capacity)
	k[0], k[1] = keyPrefix, fam
	return k
}

// familyPrefix is the key prefix of a whole family; familyEnd its exclusive upper bound.
func familyPrefix(fam byte) []byte { return header(fam, 0) }

// prefixEnd returns the smallest key greater than every key starting with p.
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		end[i]++
		if end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil
}

// secretKey is the key of the named node secret.
func secretKey(name string) []byte { return append(header(famSecret, len(name)), name...) }

func idKey(fam byte, u ulid) []byte { return append(header(fam, ulidLen), u[:]...) }

func msgKey(u ulid) []byte      { return idKey(famMsg, u) }
func bodyKey(u ulid) []byte     { return idKey(famBody, u) }
func leaseKey(u ulid) []byte    { return idKey(famLease, u) }
func approvalKey(u ulid) []byte { return idKey(famApproval, u) }
func holdKey(u ulid) []byte     { return idKey(famHold, u) }
func rcptPrefix(u ulid) []byte  { return idKey(famRcpt, u) }
func testBodyKey(u ulid) []byte { return idKey(famTestBody, u) }

// testOutPrefix: q 0e <len:2> <mailbox, lower case>; testOutKey appends <msg:16>.
func testOutPrefix(mailbox string) []byte {
	mailbox = strings.ToLower(mailbox)
	k := header(famTestOut, 2+len(mailbox)+ulidLen)
	k = binary.BigEndian.AppendUint16(k, uint16(len(mailbox)))
	return append(k, mailbox...)
}

func testOutKey(mailbox string, u ulid) []byte { return append(testOutPrefix(mailbox), u[:]...) }

func rcptKey(u ulid, idx int) []byte {
	return binary.BigEndian.AppendUint16(rcptPrefix(u), uint16(idx))
}

// schedKey: q 04 <lane:1> <due:8> <msg:16> <domain>.
func schedKey(lane Lane, due int64, u ulid, domain string) []byte {
	k := header(famSched, laneLen+dueLen+ulidLen+len(domain))
	k = append(k, byte(lane))
	k = binary.BigEndian.AppendUint64(k, uint64(due))
	k = append(k, u[:]...)
	return append(k, domain...)
}

// schedEntry is a parsed schedule key.
type schedEntry struct {
	lane   Lane
	due    int64
	id     ulid
	domain string
}

func parseSchedKey(k []byte) (schedEntry, error) {
	var e schedEntry
	if len(k) < headerLen+laneLen+dueLen+ulidLen || k[1] != famSched {
		return e, fmt.Errorf("%w: schedule key %x", ErrCorrupt, k)
	}
	k = k[headerLen:]
	e.lane = Lane(k[0])
	e.due = int64(binary.BigEndian.Uint64(k[laneLen:]))
	copy(e.id[:], k[laneLen+dueLen:])
	e.domain = string(k[laneLen+dueLen+ulidLen:])
	return e, nil
}

// domainKey: q 06 <domain>.
func domainKey(domain string) []byte { return append(header(famDomain, len(domain)), domain...) }

// idemKey: q 09 <len:2> <mailbox> <key>.
func idemKey(mailbox, key string) []byte {
	k := header(famIdem, 2+len(mailbox)+len(key))
	k = binary.BigEndian.AppendUint16(k, uint16(len(mailbox)))
	return append(append(k, mailbox...), key...)
}

// suppressKey is the key of one suppressed address of a sending domain; suppressPrefix that of
// the domain's list.
func suppressKey(domain, addr string) []byte {
	return append(suppressPrefix(domain), addr...)
}

func suppressPrefix(domain string) []byte {
	return appendStr8(header(famSuppress, 1+len(domain)), domain)
}

func appendStr8(k []byte, s string) []byte { return append(append(k, byte(len(s))), s...) }

// eventPrefix: q 0a <len:1> <subject id>; eventKey adds <seq:8>.
func eventPrefix(subject string) []byte {
	return appendStr8(header(famEvent, 1+len(subject)+seqLen), subject)
}

func eventKey(subject string, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(eventPrefix(subject), seq)
}

// outboxKey: q 0b <len:1> <subscriber> <len:1> <subject id> <seq:8>.
func outboxKey(sub, subject string, seq uint64) []byte {
	k := appendStr8(header(famOutbox, 2+len(sub)+len(subject)+seqLen), sub)
	k = appendStr8(k, subject)
	return binary.BigEndian.AppendUint64(k, seq)
}

// outboxRef names one outbox entry.
type outboxRef struct {
	sub, subject string
	seq          uint64
}

func parseOutboxKey(k []byte) (outboxRef, error) {
	var r outboxRef
	bad := fmt.Errorf("%w: outbox key %x", ErrCorrupt, k)
	if len(k) < headerLen+1 || k[1] != famOutbox {
		return r, bad
	}
	rest := k[headerLen:]
	var ok bool
	if r.sub, rest, ok = cutStr8(rest); !ok {
		return r, bad
	}
	if r.subject, rest, ok = cutStr8(rest); !ok || len(rest) != seqLen {
		return r, bad
	}
	r.seq = binary.BigEndian.Uint64(rest)
	return r, nil
}

func cutStr8(b []byte) (string, []byte, bool) {
	if len(b) < 1 || len(b) < 1+int(b[0]) {
		return "", nil, false
	}
	n := int(b[0])
	return string(b[1 : 1+n]), b[1+n:], true
}

// FormatKey renders a queue key for debug dumps, e.g.
// "q/sched/normal/2026-11-25T09:00:00Z/msg_01…/example.com". Unknown keys are shown in hex.
func FormatKey(k []byte) string {
	if len(k) < headerLen || k[0] != keyPrefix {
		return fmt.Sprintf("%x", k)
	}
	name, ok := familyNames[k[1]]
	if !ok {
		return fmt.Sprintf("q/?%02x/%x", k[1], k[headerLen:])
	}
	rest, err := formatRest(k[1], k[headerLen:])
	if err != nil {
		return fmt.Sprintf("q/%s/!%x", name, k[headerLen:])
	}
	return "q/" + name + "/" + rest
}

func formatRest(fam byte, b []byte) (string, error) {
	switch fam {
	case famMsg, famBody, famTestBody:
		return fmtID(prefixMsg, b)
	case famTestOut:
		if len(b) < 2 || len(b) != 2+int(binary.BigEndian.Uint16(b))+ulidLen {
			return "", ErrCorrupt
		}
		n := 2 + int(binary.BigEndian.Uint16(b))
		id, _ := fmtID(prefixMsg, b[n:])
		return strconv.Quote(string(b[2:n])) + "/" + id, nil
	case famLease:
		return fmtID(prefixLease, b)
	case famApproval, famHold:
		return fmtID(prefixApproval, b)
	case famRcpt:
		return fmtRcpt(b)
	case famSched:
		return fmtSched(b)
	case famDomain, famSecret:
		return strconv.Quote(string(b)), nil
	case famIdem:
		return fmtIdem(b)
	case famEvent:
		return fmtEvent(b)
	case famOutbox:
		return fmtOutbox(b)
	case famSuppress:
		if len(b) < 1 || len(b) < 1+int(b[0]) {
			return "", ErrCorrupt
		}
		return strconv.Quote(string(b[1:1+b[0]])) + "/" + strconv.Quote(string(b[1+b[0]:])), nil
	}
	return "", ErrCorrupt
}

func fmtID(prefix string, b []byte) (string, error) {
	if len(b) != ulidLen {
		return "", ErrCorrupt
	}
	return formatID(prefix, ulid(b)), nil
}

func fmtRcpt(b []byte) (string, error) {
	if len(b) != ulidLen+idxLen {
		return "", ErrCorrupt
	}
	id, _ := fmtID(prefixMsg, b[:ulidLen])
	return fmt.Sprintf("%s/%d", id, binary.BigEndian.Uint16(b[ulidLen:])), nil
}

func fmtSched(b []byte) (string, error) {
	e, err := parseSchedKey(append(familyPrefix(famSched), b...))
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s/%s/%s/%s", e.lane, fmtTime(e.due), formatID(prefixMsg, e.id),
		strconv.Quote(e.domain)), nil
}

func fmtIdem(b []byte) (string, error) {
	if len(b) < 2 || len(b) < 2+int(binary.BigEndian.Uint16(b)) {
		return "", ErrCorrupt
	}
	n := 2 + int(binary.BigEndian.Uint16(b))
	return strconv.Quote(string(b[2:n])) + "/" + strconv.Quote(string(b[n:])), nil
}

func fmtEvent(b []byte) (string, error) {
	subject, rest, ok := cutStr8(b)
	if !ok || len(rest) != seqLen {
		return "", ErrCorrupt
	}
	return fmt.Sprintf("%s/%d", subject, binary.BigEndian.Uint64(rest)), nil
}

func fmtOutbox(b []byte) (string, error) {
	r, err := parseOutboxKey(append(familyPrefix(famOutbox), b...))
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s/%s/%d", r.sub, r.subject, r.seq), nil
}

func fmtTime(ns int64) string {
	return strings.Replace(timeFromNanos(ns).UTC().Format("2006-01-02T15:04:05.000000000Z"), ".000000000Z", "Z", 1)
}
