package mailbox

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// keys.go is the only code that builds or parses Pebble keys; doc.go draws
// the schema.

// keyPrefix is the first byte of every key this package owns.
const keyPrefix = 'm'

// Key families: the byte after keyPrefix.
const (
	famMeta       byte = 0x00 // m 00 "version"
	famDomain     byte = 0x01 // m 01 <domain>
	famMailbox    byte = 0x02 // m 02 <address>
	famAPIKey     byte = 0x03 // m 03 <key id>
	famKeyHash    byte = 0x04 // m 04 <hex sha-256>
	famFolderName byte = 0x05 // m 05 <address> 00 <folder name>
	famFolder     byte = 0x06 // m 06 <folder id:8>
	famEmail      byte = 0x07 // m 07 <email id:16>
	famUID        byte = 0x08 // m 08 <folder id:8> <uid:4>
	famPending    byte = 0x09 // m 09 <folder id:8> <email id:16>
	famTime       byte = 0x0a // m 0a <address> 00 <sort key:24>
	famKeyword    byte = 0x0b // m 0b <address> 00 <lower keyword> 00 <sort key:24>
	famBody       byte = 0x0c // m 0c <body id:16>
	famBodyRef    byte = 0x0d // m 0d <body id:16> <email id:16>
	famMsgID      byte = 0x0e // m 0e <address> 00 <message-id>
	famSubject    byte = 0x0f // m 0f <address> 00 <subject key:16>
	famThread     byte = 0x10 // m 10 <address> 00 <thread id:16> <sort key:24>
	famPolicy     byte = 0x11 // m 11 <address>
	famVanished   byte = 0x12 // m 12 <folder id:8> <modseq:8>
	famUsage      byte = 0x13 // m 13 <address>

	// The full-text index (pebble_textindex.go).
	famTextPosting byte = 0x14 // m 14 <address> 00 <trigram:3> <chunk:4>
	famTextDoc     byte = 0x15 // m 15 <address> 00 <doc:4>
	famTextQueue   byte = 0x16 // m 16 <address> 00 <email id:16>
	famTextAlways  byte = 0x17 // m 17 <address> 00 <email id:16>; m 17 00 "version"
)

// Fixed widths of key parts.
const (
	folderIDLen = 8
	uidLen      = 4
	sep         = 0x00 // ends a variable-length string inside a key
)

// metaVersionKey holds the schema version (one byte, schemaVersion).
func metaVersionKey() []byte { return append(fam(famMeta), "version"...) }

func fam(f byte) []byte { return []byte{keyPrefix, f} }

func domainKey(name string) []byte  { return append(fam(famDomain), name...) }
func mailboxKey(addr string) []byte { return append(fam(famMailbox), addr...) }
func apiKeyKey(id string) []byte    { return append(fam(famAPIKey), id...) }
func policyKey(addr string) []byte  { return append(fam(famPolicy), addr...) }
func usageKey(addr string) []byte   { return append(fam(famUsage), addr...) }
func keyHashKey(hash string) []byte { return append(fam(famKeyHash), hash...) }
func folderNamePrefix(addr string) []byte {
	return append(append(fam(famFolderName), addr...), sep)
}
func folderNameKey(addr, name string) []byte { return append(folderNamePrefix(addr), name...) }

func folderKey(fid uint64) []byte { return binary.BigEndian.AppendUint64(fam(famFolder), fid) }
func emailKey(id ulid) []byte     { return append(fam(famEmail), id[:]...) }
func uidPrefix(fid uint64) []byte { return binary.BigEndian.AppendUint64(fam(famUID), fid) }
func uidKey(fid uint64, uid uint32) []byte {
	return binary.BigEndian.AppendUint32(uidPrefix(fid), uid)
}
func vanishedPrefix(fid uint64) []byte {
	return binary.BigEndian.AppendUint64(fam(famVanished), fid)
}
func vanishedKey(fid, modseq uint64) []byte {
	return binary.BigEndian.AppendUint64(vanishedPrefix(fid), modseq)
}
func pendingPrefix(fid uint64) []byte { return binary.BigEndian.AppendUint64(fam(famPending), fid) }
func pendingKey(fid uint64, id ulid) []byte {
	return append(pendingPrefix(fid), id[:]...)
}
func timePrefix(addr string) []byte { return append(append(fam(famTime), addr...), sep) }
func timeKey(addr string, k sortKey) []byte {
	return append(timePrefix(addr), k.bytes()...)
}

// keywordPrefix indexes keywords lower-cased: tags match case-insensitively.
func keywordPrefix(addr, kw string) []byte {
	b := append(append(fam(famKeyword), addr...), sep)
	return append(append(b, strings.ToLower(kw)...), sep)
}
func keywordKey(addr, kw string, k sortKey) []byte {
	return append(keywordPrefix(addr, kw), k.bytes()...)
}
func bodyKey(id ulid) []byte       { return append(fam(famBody), id[:]...) }
func bodyRefPrefix(id ulid) []byte { return append(fam(famBodyRef), id[:]...) }
func bodyRefKey(body, email ulid) []byte {
	return append(bodyRefPrefix(body), email[:]...)
}

func msgIDKey(addr, msgID string) []byte {
	return append(append(append(fam(famMsgID), addr...), sep), msgID...)
}
func subjectIndexKey(addr string, k tid) []byte {
	return append(append(append(fam(famSubject), addr...), sep), k[:]...)
}
func threadPrefix(addr string, t tid) []byte {
	return append(append(append(fam(famThread), addr...), sep), t[:]...)
}
func threadKey(addr string, t tid, k sortKey) []byte {
	return append(threadPrefix(addr, t), k.bytes()...)
}

// Full-text index keys: every one is per mailbox, <address> 00 first.
func textPrefix(f byte, addr string) []byte { return append(append(fam(f), addr...), sep) }
func textPostingPrefix(addr string, tri [3]byte) []byte {
	return append(textPrefix(famTextPosting, addr), tri[:]...)
}
func textPostingKey(addr string, tri [3]byte, chunk uint32) []byte {
	return binary.BigEndian.AppendUint32(textPostingPrefix(addr, tri), chunk)
}
func textDocKey(addr string, doc uint32) []byte {
	return binary.BigEndian.AppendUint32(textPrefix(famTextDoc, addr), doc)
}
func textQueueKey(addr string, id ulid) []byte {
	return append(textPrefix(famTextQueue, addr), id[:]...)
}
func textAlwaysKey(addr string, id ulid) []byte {
	return append(textPrefix(famTextAlways, addr), id[:]...)
}

// textVersionKey marks a database whose every email was enqueued for the
// index; the empty address names no mailbox.
func textVersionKey() []byte { return append(textPrefix(famTextAlways, ""), "version"...) }

// parseText decodes the full-text families' <address> 00 <tail>.
func (p *parsedKey) parseText(rest []byte) error {
	name, tail, err := cutString(rest)
	if err != nil {
		return err
	}
	p.Name = name
	b := []byte(tail)
	switch {
	case p.Family == famTextAlways && name == "":
		p.MsgID = tail // the meta name ("version")
		return nil
	case p.Family == famTextPosting:
		return fixed(b, 3+4, func(b []byte) {
			copy(p.Trigram[:], b)
			p.UID = binary.BigEndian.Uint32(b[3:])
		})
	case p.Family == famTextDoc:
		return fixed(b, 4, func(b []byte) { p.UID = binary.BigEndian.Uint32(b) })
	default: // queue, always-candidate
		return fixed(b, ulidLen, func(b []byte) { copy(p.ID[:], b) })
	}
}

// prefixEnd returns the smallest key above every key starting with p.
func prefixEnd(p []byte) []byte {
	end := bytes.Clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		end[i]++
		if end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil // p is all 0xff: no upper bound
}

// parsedKey is a decoded key; which fields are set depends on Family.
type parsedKey struct {
	Family  byte
	Name    string // domain, address, key id, hash, or meta name
	Folder  string // folder name (famFolderName)
	Keyword string // lower-cased keyword (famKeyword)
	FID     uint64
	UID     uint32
	ID      ulid // email id
	Body    ulid
	Sort    sortKey
	MsgID   string  // famMsgID
	Thread  tid     // famSubject (the subject key), famThread
	ModSeq  uint64  // famVanished
	Trigram [3]byte // famTextPosting; its UID is the chunk, famTextDoc's UID the doc number
}

// parseKey decodes a key of this package; errors wrap ErrCorrupt.
func parseKey(k []byte) (parsedKey, error) {
	if len(k) < 2 || k[0] != keyPrefix {
		return parsedKey{}, fmt.Errorf("%w: key %q not ours", ErrCorrupt, k)
	}
	p := parsedKey{Family: k[1]}
	rest := k[2:]
	var err error
	switch p.Family {
	case famMeta, famDomain, famMailbox, famAPIKey, famKeyHash, famPolicy, famUsage:
		p.Name = string(rest)
	case famFolderName:
		p.Name, p.Folder, err = cutString(rest)
	case famFolder:
		err = fixed(rest, folderIDLen, func(b []byte) { p.FID = binary.BigEndian.Uint64(b) })
	case famEmail:
		err = fixed(rest, ulidLen, func(b []byte) { copy(p.ID[:], b) })
	case famBody:
		err = fixed(rest, ulidLen, func(b []byte) { copy(p.Body[:], b) })
	case famUID:
		err = fixed(rest, folderIDLen+uidLen, func(b []byte) {
			p.FID, p.UID = binary.BigEndian.Uint64(b), binary.BigEndian.Uint32(b[folderIDLen:])
		})
	case famVanished:
		err = fixed(rest, folderIDLen+8, func(b []byte) {
			p.FID, p.ModSeq = binary.BigEndian.Uint64(b), binary.BigEndian.Uint64(b[folderIDLen:])
		})
	case famPending:
		err = fixed(rest, folderIDLen+ulidLen, func(b []byte) {
			p.FID = binary.BigEndian.Uint64(b)
			copy(p.ID[:], b[folderIDLen:])
		})
	case famBodyRef:
		err = fixed(rest, 2*ulidLen, func(b []byte) {
			copy(p.Body[:], b)
			copy(p.ID[:], b[ulidLen:])
		})
	case famTime:
		err = p.parseSorted(rest, false)
	case famKeyword:
		err = p.parseSorted(rest, true)
	case famMsgID:
		p.Name, p.MsgID, err = cutString(rest)
	case famSubject, famThread:
		var tail string
		p.Name, tail, err = cutString(rest)
		n := ulidLen
		if p.Family == famThread {
			n += sortKeyLen
		}
		if err == nil {
			err = fixed([]byte(tail), n, func(b []byte) {
				copy(p.Thread[:], b)
				if p.Family == famThread {
					p.Sort, _ = decodeSortKey(b[ulidLen:])
					p.ID = p.Sort.id
				}
			})
		}
	case famTextPosting, famTextDoc, famTextQueue, famTextAlways:
		err = p.parseText(rest)
	default:
		err = fmt.Errorf("%w: unknown family %#x", ErrCorrupt, p.Family)
	}
	return p, err
}

// parseSorted decodes <address> 00 [<keyword> 00] <sort key>.
func (p *parsedKey) parseSorted(rest []byte, keyword bool) error {
	if len(rest) < sortKeyLen+1 {
		return fmt.Errorf("%w: short index key", ErrCorrupt)
	}
	head, tail := rest[:len(rest)-sortKeyLen], rest[len(rest)-sortKeyLen:]
	if head[len(head)-1] != sep {
		return fmt.Errorf("%w: index key without separator", ErrCorrupt)
	}
	head = head[:len(head)-1]
	var err error
	if keyword {
		p.Name, p.Keyword, err = cutString(head)
	} else {
		p.Name = string(head)
	}
	if err != nil {
		return err
	}
	p.Sort, err = decodeSortKey(tail)
	p.ID = p.Sort.id
	return err
}

func cutString(b []byte) (string, string, error) {
	before, after, ok := bytes.Cut(b, []byte{sep})
	if !ok {
		return "", "", fmt.Errorf("%w: key without separator", ErrCorrupt)
	}
	return string(before), string(after), nil
}

func fixed(b []byte, n int, set func([]byte)) error {
	if len(b) != n {
		return fmt.Errorf("%w: key part of %d bytes, want %d", ErrCorrupt, len(b), n)
	}
	set(b)
	return nil
}

// familyNames name the families in FormatKey.
func familyName(f byte) string {
	names := [...]string{"meta", "domain", "mailbox", "apikey", "keyhash", "foldername",
		"folder", "email", "uid", "pending", "time", "keyword", "body", "bodyref", "msgid", "subject", "thread", "policy", "vanished", "usage"}
	if int(f) < len(names) {
		return names[f]
	}
	return fmt.Sprintf("%#02x", f)
}

// FormatKey renders one of this package's keys for debug dumps, e.g.
// "m/uid/fid=7/uid=42"; a key it cannot parse is shown in hex.
func FormatKey(k []byte) string {
	p, err := parseKey(k)
	if err != nil {
		return "?" + hex.EncodeToString(k)
	}
	f := "m/" + familyName(p.Family)
	switch p.Family {
	case famMeta, famDomain, famMailbox, famAPIKey, famKeyHash, famPolicy, famUsage:
		return fmt.Sprintf("%s/%q", f, p.Name)
	case famFolderName:
		return fmt.Sprintf("%s/%q/%q", f, p.Name, p.Folder)
	case famFolder:
		return fmt.Sprintf("%s/fid=%d", f, p.FID)
	case famEmail:
		return fmt.Sprintf("%s/%s", f, p.ID)
	case famBody:
		return fmt.Sprintf("%s/%s", f, p.Body)
	case famUID:
		return fmt.Sprintf("%s/fid=%d/uid=%d", f, p.FID, p.UID)
	case famPending:
		return fmt.Sprintf("%s/fid=%d/%s", f, p.FID, p.ID)
	case famVanished:
		return fmt.Sprintf("%s/fid=%d/modseq=%d", f, p.FID, p.ModSeq)
	case famTextPosting:
		return fmt.Sprintf("m/textposting/%q/%q/chunk=%d", p.Name, p.Trigram[:], p.UID)
	case famTextDoc:
		return fmt.Sprintf("m/textdoc/%q/doc=%d", p.Name, p.UID)
	case famTextQueue:
		return fmt.Sprintf("m/textqueue/%q/%s", p.Name, p.ID)
	case famTextAlways:
		if p.Name == "" {
			return fmt.Sprintf("m/textalways/meta/%q", p.MsgID)
		}
		return fmt.Sprintf("m/textalways/%q/%s", p.Name, p.ID)
	case famBodyRef:
		return fmt.Sprintf("%s/%s/%s", f, p.Body, p.ID)
	case famTime:
		return fmt.Sprintf("%s/%q/%s/%s", f, p.Name, formatNanos(p.Sort.date), p.ID)
	case famMsgID:
		return fmt.Sprintf("%s/%q/%q", f, p.Name, p.MsgID)
	case famSubject:
		return fmt.Sprintf("%s/%q/%x", f, p.Name, p.Thread[:])
	case famThread:
		return fmt.Sprintf("%s/%q/%s/%s/%s", f, p.Name, formatThreadID(p.Thread), formatNanos(p.Sort.date), p.ID)
	default: // famKeyword
		return fmt.Sprintf("%s/%q/%q/%s/%s", f, p.Name, p.Keyword, formatNanos(p.Sort.date), p.ID)
	}
}

func formatNanos(ns int64) string { return time.Unix(0, ns).UTC().Format(time.RFC3339Nano) }
