package textindex

import (
	"bytes"
	"io"
	"slices"
	"strings"
	"testing"

	gomessage "github.com/emersion/go-message"
)

const multipartMsg = "From: =?utf-8?q?J=C3=BCrgen?= <j@example.org>\r\n" +
	"Subject: Quarterly REPORT\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed; boundary=b1\r\n\r\n" +
	"--b1\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
	"Gr=FC=DFe aus K=F6ln, the Lazy=\r\n Dog\r\n" +
	"--b1\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
	"PHA+U8OcRERFVVRTQ0g8L3A+\r\n" + // <p>SÜDDEUTSCH</p>
	"--b1\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
	"c2VjcmV0IHBpeGVscw==\r\n" + // "secret pixels": not text, never searched
	"--b1\r\nContent-Type: message/rfc822\r\n\r\n" +
	"Subject: Inner\r\n\r\nforwarded words\r\n" +
	"--b1--\r\n"

func TestSegmentsDecodeAndLowercase(t *testing.T) {
	segs := Segments([]byte(multipartMsg))
	for _, tc := range []struct {
		needle       string
		header, want bool
	}{
		{"jürgen", true, true},   // RFC 2047 header, TEXT
		{"JÜRGEN", false, false}, // headers are not BODY
		{"quarterly report", true, true},
		{"grüße aus köln", false, true}, // QP + ISO-8859-1
		{"lazy dog", false, true},       // soft line break joined
		{"süddeutsch", false, true},     // base64 + UTF-8, lower-cased
		{"secret pixels", true, false},  // image part
		{"forwarded words", false, true},
		{"subject: inner", false, true}, // a message/* body is its raw text
		{"", false, true},
	} {
		if got := Contains(segs, tc.needle, tc.header); got != tc.want {
			t.Errorf("Contains(%q, header=%v) = %v, want %v", tc.needle, tc.header, got, tc.want)
		}
	}
}

func TestSegmentsUnparsable(t *testing.T) {
	raw := []byte("Bad header line without colon\r\n\r\nbody")
	if segs := Segments(raw); segs != nil {
		t.Fatalf("segments of an unreadable message: %v", segs)
	}
	if Contains(nil, "", true) {
		t.Fatal("the empty needle matched an unreadable message")
	}
}

func TestTrigrams(t *testing.T) {
	if got := NeedleTrigrams("ab"); len(got) != 0 {
		t.Fatalf("2-byte needle: %v", got)
	}
	got := NeedleTrigrams("AbCd")
	want := []Trigram{Parse([3]byte{'a', 'b', 'c'}), Parse([3]byte{'b', 'c', 'd'})}
	if !slices.Equal(got, want) {
		t.Fatalf("NeedleTrigrams = %v, want %v", got, want)
	}
	segs := []Segment{{Text: []byte("xy")}, {Text: []byte("zab")}}
	if tr := SegmentTrigrams(segs); !slices.Equal(tr, []Trigram{Parse([3]byte{'z', 'a', 'b'})}) {
		t.Fatalf("a trigram spanned two segments: %v", tr)
	}
	if b := Parse([3]byte{1, 2, 3}).Bytes(); b != [3]byte{1, 2, 3} {
		t.Fatalf("Bytes = %v", b)
	}
}

// oldMatch is the IMAP matcher as it was before Segments (matchEntity of
// mailbox/imapserver/search.go), kept as the oracle Segments must agree with.
func oldMatch(raw []byte, s string, header bool) bool {
	ent, err := gomessage.Read(bytes.NewReader(raw))
	if ent == nil || (err != nil && !gomessage.IsUnknownCharset(err) && !gomessage.IsUnknownEncoding(err)) {
		return false
	}
	return oldMatchEntity(ent, s, header)
}

func oldMatchEntity(e *gomessage.Entity, s string, header bool) bool {
	if s == "" {
		return true
	}
	if header {
		for f := e.Header.Fields(); f.Next(); {
			v, err := f.Text()
			if err != nil {
				v = f.Value()
			}
			if strings.Contains(strings.ToLower(v), strings.ToLower(s)) {
				return true
			}
		}
	}
	if mr := e.MultipartReader(); mr != nil {
		for {
			p, err := mr.NextPart()
			if err != nil {
				return false
			}
			if oldMatchEntity(p, s, header) {
				return true
			}
		}
	}
	t, _, _ := e.Header.ContentType()
	if t != "" && !strings.HasPrefix(t, "text/") && !strings.HasPrefix(t, "message/") {
		return false
	}
	b, _ := io.ReadAll(io.LimitReader(e.Body, 32<<20))
	return bytes.Contains(bytes.ToLower(b), []byte(strings.ToLower(s)))
}

// checkAgainstOracle asserts that Contains agrees with the old matcher and
// that a match's needle trigrams are all among the message's (the index's
// superset property).
func checkAgainstOracle(t *testing.T, raw []byte, needle string) {
	segs := Segments(raw)
	have := SegmentTrigrams(segs)
	for _, header := range []bool{false, true} {
		got, want := Contains(segs, needle, header), oldMatch(raw, needle, header)
		if got != want {
			t.Fatalf("Contains(%q, header=%v) = %v, old matcher %v\nmessage %q", needle, header, got, want, raw)
		}
		if !got {
			continue
		}
		for _, tr := range NeedleTrigrams(needle) {
			if _, ok := slices.BinarySearch(have, tr); !ok {
				t.Fatalf("match of %q but trigram %x not indexed\nmessage %q", needle, tr.Bytes(), raw)
			}
		}
	}
}

func TestSegmentsAgreeWithOldMatcher(t *testing.T) {
	for _, needle := range []string{"lazy dog", "LAZY", "jürgen", "köln", "report", "b1", "inner", "pixels", "x", ""} {
		checkAgainstOracle(t, []byte(multipartMsg), needle)
	}
}

func FuzzSegments(f *testing.F) {
	f.Add([]byte(multipartMsg), "lazy dog")
	f.Add([]byte(multipartMsg), "GRÜSSE")
	f.Add([]byte("Subject: =?iso-8859-1?q?caf=E9?=\r\n\r\nCAFÉ au lait"), "café")
	f.Add([]byte("Content-Type: text/plain; charset=x-unknown\r\n\r\nHello"), "hello")
	f.Add([]byte("Content-Type: multipart/alternative; boundary=x\r\n\r\n--x\r\n\r\nA\r\n--x"), "a")
	f.Add([]byte("Content-Transfer-Encoding: base64\r\n\r\nSGVsbG8gV29ybGQ="), "o wor")
	f.Fuzz(func(t *testing.T, raw []byte, needle string) {
		if len(raw) > 1<<16 {
			return
		}
		checkAgainstOracle(t, raw, needle)
	})
}
