package mailbox

import (
	"encoding/binary"
	"fmt"
	"time"
)

// emailRecord is the value of m 07 <id>: the Email (Folder left empty: the
// folder's name lives in the folder record, so renames are cheap) plus the
// folder it is in and the body it reads. It is the hot record (List and Query
// read one per email), so it has a compact binary encoding instead of JSON:
//
//	0x01                                   value version
//	uvarint folder id, 16 bytes body id
//	uvarint UID, uvarint ModSeq
//	1 byte: bits 0-4 \Seen \Answered \Flagged \Deleted \Draft, bit 7 Pending
//	strs Keywords
//	time InternalDate, varint Size
//	strs From, To, Cc; str Subject, MessageID; time Date; str AuthResults
//	str Mailbox
//	[str ThreadID]                         absent in records written before threads
//
// str is uvarint length + bytes; strs is uvarint count + str each; time is
// one byte 0 (zero time) or 1 followed by varint Unix ns and varint zone
// offset in seconds. The ID is the key's.
type emailRecord struct {
	Email
	FolderID uint64
	Body     ulid
}

const pendingBit = 1 << 7

func (r *emailRecord) encode() []byte {
	b := make([]byte, 0, 256)
	b = append(b, valueV1)
	b = binary.AppendUvarint(b, r.FolderID)
	b = append(b, r.Body[:]...)
	b = binary.AppendUvarint(b, uint64(r.UID))
	b = binary.AppendUvarint(b, r.ModSeq)
	b = append(b, r.flagBits())
	b = appendStrs(b, r.Keywords)
	b = appendTime(b, r.InternalDate)
	b = binary.AppendVarint(b, r.Size)
	b = appendStrs(appendStrs(appendStrs(b, r.From), r.To), r.Cc)
	b = appendStr(appendStr(b, r.Subject), r.MessageID)
	b = appendTime(b, r.Date)
	b = appendStr(b, r.AuthResults)
	b = appendStr(b, r.Mailbox)
	if r.ThreadID != "" {
		b = appendStr(b, r.ThreadID)
	}
	return b
}

func (r *emailRecord) flagBits() byte {
	var bits byte
	for _, f := range r.Flags {
		if _, rank, ok := systemFlagRank(f); ok {
			bits |= 1 << rank
		}
	}
	if r.Pending {
		bits |= pendingBit
	}
	return bits
}

func flagsFromBits(bits byte) []string {
	out := []string{}
	for i, f := range [...]string{FlagSeen, FlagAnswered, FlagFlagged, FlagDeleted, FlagDraft} {
		if bits&(1<<i) != 0 {
			out = append(out, f)
		}
	}
	return out
}

func decodeEmailRecord(id ulid, b []byte) (emailRecord, error) {
	r, d := decodeHead(id, b)
	r.InternalDate, r.Size = d.time(), d.varint()
	r.From, r.To, r.Cc = d.strs(), d.strs(), d.strs()
	r.Subject, r.MessageID = d.str(), d.str()
	r.Date, r.AuthResults, r.Mailbox = d.time(), d.str(), d.str()
	if d.err == nil && len(d.b) != 0 {
		if r.ThreadID = d.str(); r.ThreadID == "" {
			d.fail("thread id") // encode never writes an empty one
		}
	}
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%w: %d trailing bytes in email record", ErrCorrupt, len(d.b))
	}
	return r, d.err
}

// decodeEmailRecordHead decodes only the head of an email record: folder,
// UID, ModSeq, flags and keywords (FlagLister); the rest stays zero.
func decodeEmailRecordHead(id ulid, b []byte) (emailRecord, error) {
	r, d := decodeHead(id, b)
	return r, d.err
}

// decodeHead decodes the head both decoders share and returns the decoder positioned after
// it (d.err set on a bad version or a short record).
func decodeHead(id ulid, b []byte) (emailRecord, *decoder) {
	var r emailRecord
	r.ID = id.String()
	if len(b) == 0 || b[0] != valueV1 {
		return r, &decoder{err: fmt.Errorf("%w: email record version", ErrCorrupt)}
	}
	d := &decoder{b: b[1:]}
	r.FolderID = d.uvarint()
	copy(r.Body[:], d.next(ulidLen))
	r.UID, r.ModSeq = uint32(d.uvarint()), d.uvarint()
	bits := d.byte()
	r.Flags, r.Pending = flagsFromBits(bits), bits&pendingBit != 0
	r.Keywords = d.strs()
	if r.Keywords == nil {
		r.Keywords = []string{} // Flags and Keywords are never nil (JSON "[]")
	}
	return r, d
}

func appendStr(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

func appendStrs(b []byte, ss []string) []byte {
	b = binary.AppendUvarint(b, uint64(len(ss)))
	for _, s := range ss {
		b = appendStr(b, s)
	}
	return b
}

func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, 0)
	}
	_, off := t.Zone()
	return binary.AppendVarint(binary.AppendVarint(append(b, 1), t.UnixNano()), int64(off))
}

// decoder reads the encoding above; the first error sticks and later reads
// return zero values.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: bad %s in email record", ErrCorrupt, what)
	}
	d.b = nil
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("uvarint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) next(n int) []byte {
	if n < 0 || n > len(d.b) {
		d.fail("length")
		return nil
	}
	out := d.b[:n]
	d.b = d.b[n:]
	return out
}

func (d *decoder) byte() byte {
	if b := d.next(1); b != nil {
		return b[0]
	}
	return 0
}

func (d *decoder) str() string {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail("string length")
		return ""
	}
	return string(d.next(int(n)))
}

func (d *decoder) strs() []string {
	n := d.uvarint()
	if n > uint64(len(d.b)) { // each string takes at least one byte
		d.fail("list length")
		return nil
	}
	var out []string
	for i := uint64(0); i < n && d.err == nil; i++ {
		out = append(out, d.str())
	}
	return out
}

func (d *decoder) time() time.Time {
	switch d.byte() {
	case 0:
		return time.Time{}
	case 1:
		ns, off := d.varint(), d.varint()
		if off < -24*3600 || off > 24*3600 {
			d.fail("zone offset")
			return time.Time{}
		}
		if off == 0 {
			return time.Unix(0, ns).UTC()
		}
		return time.Unix(0, ns).In(time.FixedZone("", int(off)))
	}
	d.fail("time")
	return time.Time{}
}
