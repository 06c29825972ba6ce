package audit

// verify.go checks an export offline: the hash chain, the seq order and every checkpoint.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// VerifyOptions say which key signs checkpoints and which checkpoint must be extended.
type VerifyOptions struct {
	Key     string // verifier key; "" = the export's header key (says nothing about who wrote it)
	Against string // a signed checkpoint seen earlier: the journal must extend it
}

// Report is what a successful Verify saw.
type Report struct {
	First, Last uint64 // seqs of the first and last record (or stub)
	Records     int
	Omitted     int // stubs of a --mailbox export, taken on trust
	Checkpoints int
	Anchored    bool   // the first record's prev was checked against a signed checkpoint
	Key         string // the key checkpoints were checked with
}

// Error names the first bad record (Seq) or line of an export.
type Error struct {
	Line   int
	Seq    uint64
	Reason string
}

func (e *Error) Error() string {
	if e.Seq == 0 {
		return fmt.Sprintf("line %d: %s", e.Line, e.Reason)
	}
	return fmt.Sprintf("record %d (line %d): %s", e.Seq, e.Line, e.Reason)
}

// item is one parsed export line.
type item struct {
	line    int
	raw     string
	rec     *Record
	hash    string // of a record, or given by a stub
	omitted bool
	ckpt    string
	header  *struct {
		Origin   string `json:"origin"`
		Key      string `json:"key"`
		Complete bool   `json:"complete"`
	}
}

// Verify reads an export and checks it; the error is an *Error naming the first bad record.
func Verify(r io.Reader, opts VerifyOptions) (Report, error) {
	items, err := readItems(r)
	if err != nil {
		return Report{}, err
	}
	v := verifier{opts: opts, items: items, hashes: map[uint64]string{}}
	return v.run()
}

func readItems(r io.Reader) ([]item, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	var out []item
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSuffix(sc.Text(), "\r")
		if line == "" {
			continue
		}
		it, err := parseItem(n, line)
		if err != nil {
			return nil, err
		}
		out = append(out, it)
	}
	return out, sc.Err()
}

// parseItem tells the kinds of line apart by their exact keys (encoding/json would match
// "Checkpoint" too, where the Python verifier of docs/audit.md would not).
func parseItem(n int, line string) (item, error) {
	var keys map[string]json.RawMessage
	if err := json.Unmarshal([]byte(line), &keys); err != nil {
		return item{}, &Error{Line: n, Reason: "not a JSON object: " + err.Error()}
	}
	it := item{line: n, raw: line}
	switch {
	case keys["audit_journal"] != nil:
		if err := json.Unmarshal([]byte(line), &it.header); err != nil {
			return item{}, &Error{Line: n, Reason: "bad header: " + err.Error()}
		}
	case keys["checkpoint"] != nil:
		if err := json.Unmarshal(keys["checkpoint"], &it.ckpt); err != nil || it.ckpt == "" {
			return item{}, &Error{Line: n, Reason: "bad checkpoint line"}
		}
	case keys["omitted"] != nil:
		var stub struct {
			Seq  uint64 `json:"seq"`
			Hash string `json:"hash"`
		}
		if err := json.Unmarshal([]byte(line), &stub); err != nil {
			return item{}, &Error{Line: n, Reason: "bad stub: " + err.Error()}
		}
		it.omitted, it.hash, it.rec = true, stub.Hash, &Record{Seq: stub.Seq}
	default:
		it.rec = new(Record)
		if err := json.Unmarshal([]byte(line), it.rec); err != nil {
			return item{}, &Error{Line: n, Reason: "not a record: " + err.Error()}
		}
		if keys["seq"] == nil || keys["prev"] == nil {
			return item{}, &Error{Line: n, Reason: "not a record: no seq or prev"}
		}
		it.hash = Hash([]byte(line))
	}
	return it, nil
}

type verifier struct {
	opts     VerifyOptions
	complete bool // the header says the export starts at the journal's start
	items    []item
	hashes   map[uint64]string
	rep      Report
	have     bool // lastSeq/lastHash hold a checked position
	lastSeq  uint64
	lastHash string
	lastLine int
}

func (v *verifier) run() (Report, error) {
	v.rep.Key = v.opts.Key
	for i := range v.items {
		if err := v.step(i); err != nil {
			return v.rep, err
		}
	}
	if v.opts.Against != "" {
		if err := v.against(); err != nil {
			return v.rep, err
		}
	}
	return v.rep, nil
}

func (v *verifier) step(i int) error {
	it := &v.items[i]
	switch {
	case it.header != nil:
		if v.rep.Key == "" {
			v.rep.Key = it.header.Key
		}
		v.complete = it.header.Complete
		return nil
	case it.ckpt != "":
		return v.checkpoint(it)
	}
	return v.record(i)
}

func (v *verifier) checkpoint(it *item) error {
	if v.rep.Key == "" {
		return &Error{Line: it.line, Reason: "checkpoint before any key (give --key)"}
	}
	c, err := ParseCheckpoint(it.ckpt, v.rep.Key)
	if err != nil {
		return &Error{Line: it.line, Reason: err.Error()}
	}
	v.rep.Checkpoints++
	if !v.have { // the anchor of a pruned journal
		v.have, v.lastSeq, v.lastHash, v.rep.Anchored = true, c.Size, c.Hash, true
		v.hashes[c.Size] = c.Hash
		return nil
	}
	h, ok := v.hashes[c.Size]
	if !ok {
		return &Error{Line: it.line, Seq: c.Size, Reason: "covered by a signed checkpoint but missing"}
	}
	if h != c.Hash {
		return &Error{Line: it.line, Seq: c.Size, Reason: "does not match the signed checkpoint (changed)"}
	}
	return nil
}

func (v *verifier) record(i int) error {
	it := &v.items[i]
	r := it.rec
	if it.omitted {
		v.rep.Omitted++
	} else {
		v.rep.Records++
	}
	if v.rep.First == 0 {
		v.rep.First = r.Seq
	}
	if !v.have {
		switch {
		case r.Seq == 1 && !it.omitted && r.Prev != zeroHash:
			return &Error{Line: it.line, Seq: 1, Reason: "first record's prev is not zero (changed)"}
		case r.Seq != 1 && !it.omitted && r.Prev == zeroHash:
			return &Error{Line: it.line, Seq: 1, Reason: fmt.Sprintf("seq changed to %d", r.Seq)}
		case r.Seq != 1 && v.complete:
			if v.find(1, i+1) >= 0 {
				return &Error{Line: it.line, Seq: 1, Reason: fmt.Sprintf("out of order: record %d comes before it (swapped)", r.Seq)}
			}
			return &Error{Line: it.line, Seq: 1, Reason: fmt.Sprintf("missing (removed): the journal starts at record %d without an anchor", r.Seq)}
		}
		v.rep.Anchored = v.rep.Anchored || r.Seq == 1
	} else if err := v.link(i); err != nil {
		return err
	}
	v.have, v.lastSeq, v.lastHash, v.lastLine = true, r.Seq, it.hash, it.line
	v.hashes[r.Seq] = it.hash
	v.rep.Last = r.Seq
	return nil
}

// link checks that record i follows the last one: next seq, prev = its hash.
func (v *verifier) link(i int) error {
	it := &v.items[i]
	want := v.lastSeq + 1
	if it.rec.Seq < want {
		return &Error{Line: it.line, Seq: it.rec.Seq, Reason: fmt.Sprintf("out of order: after record %d (swapped or moved)", v.lastSeq)}
	}
	if it.rec.Seq != want {
		if !it.omitted && it.rec.Prev == v.lastHash {
			return &Error{Line: it.line, Seq: want, Reason: fmt.Sprintf("seq changed to %d", it.rec.Seq)}
		}
		if j := v.find(want, i+1); j >= 0 {
			return &Error{Line: it.line, Seq: want, Reason: fmt.Sprintf("out of order: record %d comes before it (swapped)", it.rec.Seq)}
		}
		return &Error{Line: it.line, Seq: want, Reason: fmt.Sprintf("missing (removed): record %d follows record %d", it.rec.Seq, v.lastSeq)}
	}
	if it.omitted || it.rec.Prev == v.lastHash {
		return nil
	}
	// Either the previous record changed (its hash is no longer what this one committed to)
	// or this record's prev did (then its own hash breaks the next link too).
	if v.brokenAfter(i) {
		return &Error{Line: it.line, Seq: want, Reason: "prev does not match record " + fmt.Sprint(v.lastSeq) + " (changed)"}
	}
	return &Error{Line: v.lastLine, Seq: v.lastSeq, Reason: fmt.Sprintf("hash does not match record %d's prev (changed)", want)}
}

// brokenAfter reports whether record i's own hash is also refused by what follows it: the
// next record's prev, or a checkpoint over it.
func (v *verifier) brokenAfter(i int) bool {
	if i+1 >= len(v.items) {
		return false
	}
	it, n := v.items[i], v.items[i+1]
	if n.rec != nil && !n.omitted && n.rec.Seq == it.rec.Seq+1 {
		return n.rec.Prev != it.hash
	}
	if n.ckpt != "" && v.rep.Key != "" {
		c, err := ParseCheckpoint(n.ckpt, v.rep.Key)
		return err == nil && c.Size == it.rec.Seq && c.Hash != it.hash
	}
	return false
}

func (v *verifier) find(seq uint64, from int) int {
	for j := from; j < len(v.items); j++ {
		if r := v.items[j].rec; r != nil && r.Seq == seq {
			return j
		}
	}
	return -1
}

// against checks that the journal extends the checkpoint opts.Against.
func (v *verifier) against() error {
	if v.rep.Key == "" {
		return &Error{Reason: "no key to check --against with"}
	}
	c, err := ParseCheckpoint(v.opts.Against, v.rep.Key)
	if err != nil {
		return &Error{Reason: "--against: " + err.Error()}
	}
	h, ok := v.hashes[c.Size]
	switch {
	case !ok:
		return &Error{Seq: c.Size, Reason: "--against: the journal does not contain the checkpoint's record (pruned, or the journal was truncated)"}
	case h != c.Hash:
		return &Error{Seq: c.Size, Reason: "--against: the journal was rewritten: record differs from the earlier checkpoint"}
	}
	return nil
}
