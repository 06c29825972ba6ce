package textindex

import (
	"bytes"
	"io"
	"strings"

	gomessage "github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // decode non-UTF-8 text, in the index and the matcher alike
)

// MaxPart is how much of one part's decoded body is searched.
const MaxPart = 32 << 20

// Segment is one lower-cased run of searchable text: a header field's
// decoded value (searched by TEXT only) or a text/* or message/* part's body
// decoded from its transfer encoding and charset (searched by BODY and TEXT).
// A match never spans two segments.
type Segment struct {
	Header bool
	Text   []byte
}

// Segments returns the segments of raw in the order a reader meets them:
// each entity's header fields, then its parts (depth first) or its body.
// A message go-message cannot read has none. Parsing stops at the first
// broken multipart boundary of an entity, as the matcher always did.
func Segments(raw []byte) []Segment {
	ent, err := gomessage.Read(bytes.NewReader(raw))
	if ent == nil || (err != nil && !gomessage.IsUnknownCharset(err) && !gomessage.IsUnknownEncoding(err)) {
		return nil
	}
	out := []Segment{} // non-nil: the message parsed
	collect(ent, &out)
	return out
}

// collect appends e's header field values, then its parts' segments or its
// text body. A part that go-message returns with an error (an unknown charset
// of a nested part, a broken boundary) ends the entity's parts.
func collect(e *gomessage.Entity, out *[]Segment) {
	for f := e.Header.Fields(); f.Next(); {
		v, err := f.Text()
		if err != nil {
			v = f.Value()
		}
		*out = append(*out, Segment{Header: true, Text: []byte(strings.ToLower(v))})
	}
	if mr := e.MultipartReader(); mr != nil {
		for range maxParts {
			p, err := mr.NextPart()
			if err != nil {
				return
			}
			collect(p, out)
		}
		return
	}
	t, _, _ := e.Header.ContentType()
	if t != "" && !strings.HasPrefix(t, "text/") && !strings.HasPrefix(t, "message/") {
		return
	}
	b, _ := io.ReadAll(io.LimitReader(e.Body, MaxPart))
	*out = append(*out, Segment{Text: bytes.ToLower(b)})
}

// maxParts bounds the parts read of one multipart entity (a loop bound; the
// message size limit bounds them long before).
const maxParts = 1 << 20

// Contains reports whether a segment holds needle, case-insensitively; only
// body segments unless header. The empty needle matches every message that
// parsed (segments non-nil), as the matcher always answered.
func Contains(segs []Segment, needle string, header bool) bool {
	return ContainsLower(segs, Lower(needle), header)
}

// ContainsLower is Contains with a needle already lower-cased by Lower.
func ContainsLower(segs []Segment, lower []byte, header bool) bool {
	if len(lower) == 0 {
		return segs != nil
	}
	for _, s := range segs {
		if (header || !s.Header) && bytes.Contains(s.Text, lower) {
			return true
		}
	}
	return false
}

// Lower lower-cases a needle as segments are.
func Lower(needle string) []byte { return []byte(strings.ToLower(needle)) }

// Size is the total length of the segments' text.
func Size(segs []Segment) int {
	n := 0
	for _, s := range segs {
		n += len(s.Text)
	}
	return n
}
