package smtpserver

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// decodeDot runs readDot over raw with a small buffer and one-byte reads (every chunk and peek
// boundary gets exercised); it returns the content, the flags, the error and how many bytes of
// raw were consumed.
func decodeDot(raw []byte, max int64) (w *dataWriter, consumed int, err error) {
	src := &countingReader{r: iotest.OneByteReader(bytes.NewReader(raw))}
	br := bufio.NewReaderSize(src, 16)
	w = &dataWriter{max: max, keep: true}
	err = readDot(br, func() {}, w)
	return w, src.n - br.Buffered(), err
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func TestReadDot(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, raw, want string
		bare            bool
	}{
		{"empty", ".\r\n", "", false},
		{"one line", "a\r\n.\r\n", "a\r\n", false},
		{"stuffed dot", "..a\r\n..\r\n.\r\n", ".a\r\n.\r\n", false},
		{"unstuffed leading dot is removed", ".a\r\n.\r\n", "a\r\n", false},
		{"dot mid-line", "a.b\r\n.\r\n", "a.b\r\n", false},
		{"stops at the first end", "a\r\n.\r\nMAIL FROM:<x>\r\n", "a\r\n", false},
		{"bare LF", "a\nb\r\n.\r\n", "", true},
		{"bare CR", "a\rb\r\n.\r\n", "", true},
		{"CRLF dot CR (go-smtp drops the CR)", "a\r\n.\rMAIL FROM:<x>\r\n.\r\n", "", true},
		{"CRLF dot CR CRLF (go-smtp reads a blank line)", "a\r\n.\r\r\nMAIL FROM:<x>\r\n.\r\n", "", true},
		{"dot CR at the start", ".\rX\r\n.\r\n", "", true},
		{"LF dot LF does not end", "a\n.\nb\r\n.\r\n", "", true},
		{"CRLF dot LF does not end", "a\r\n.\nb\r\n.\r\n", "", true},
		{"LF dot CRLF does not end", "a\n.\r\nb\r\n.\r\n", "", true},
		{"CR dot CR does not end", "a\r.\rb\r\n.\r\n", "", true},
		{"CR CRLF", "a\r\r\n.\r\n", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, consumed, err := decodeDot([]byte(tc.raw), 1<<20)
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if w.bare != tc.bare || !tc.bare && w.buf.String() != tc.want {
				t.Fatalf("got %q bare=%v, want %q bare=%v", w.buf.String(), w.bare, tc.want, tc.bare)
			}
			if end := strings.Index(tc.raw, "\r\n.\r\n"); tc.raw[consumed:consumed+3] != ".\r\n" ||
				!strings.HasPrefix(tc.raw, ".\r\n") && consumed != end+2 {
				t.Fatalf("consumed %d bytes (%q left), want all but the end line", consumed, tc.raw[consumed:])
			}
		})
	}
}

func TestReadDotUnterminated(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{"", "a\r\n", "a\r\n.", "a\r\n.\r", "a\n.\n"} {
		if _, _, err := decodeDot([]byte(raw), 1<<20); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("%q: err = %v, want unexpected EOF", raw, err)
		}
	}
}

func TestReadDotTooLarge(t *testing.T) {
	t.Parallel()
	raw := strings.Repeat("0123456789\r\n", 10) + ".\r\nNOOP\r\n"
	w, consumed, err := decodeDot([]byte(raw), 50)
	if err != nil || !w.tooBig || w.buf.Len() > 50 {
		t.Fatalf("err=%v tooBig=%v kept=%d", err, w.tooBig, w.buf.Len())
	}
	if raw[consumed:] != ".\r\nNOOP\r\n" {
		t.Fatalf("left %q, want the end line and the next command", raw[consumed:])
	}
}

func TestBareIn(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]bool{
		"":              false,
		"a\r\nb\r\n":    false,
		"a\nb":          true,
		"a\rb":          true,
		"a\r":           true,
		"\n":            true,
		"a\r\r\n":       true,
		"a\r\n\n":       true,
		"x\r\n.\r\n":    false,
		"x\r\n.\ny\r\n": true,
		strings.Repeat("line\r\n", 1000) + "end\n": true,
	} {
		if got := hasBare([]byte(in)); got != want {
			t.Errorf("hasBare(%q) = %v, want %v", in, got, want)
		}
	}
}

// hasBare runs the dataWriter's check over b, written in one piece and byte by byte.
func hasBare(b []byte) bool {
	w := &dataWriter{max: 1 << 30}
	_, _ = w.Write(b)
	w.end()
	one := &dataWriter{max: 1 << 30}
	for i := range b {
		_, _ = one.Write(b[i : i+1])
	}
	one.end()
	if w.bare != one.bare {
		panic("split writes disagree")
	}
	return w.bare
}

// rawBare is the definition: a CR not followed by LF, or an LF not preceded by CR.
func rawBare(b []byte) bool {
	for i, c := range b {
		if c == '\n' && (i == 0 || b[i-1] != '\r') || c == '\r' && (i+1 == len(b) || b[i+1] != '\n') {
			return true
		}
	}
	return false
}

// goSMTPDecode is go-smtp v0.25.1's DATA state machine (data.go, dataReader.Read, MIT
// licence), kept as the oracle: on clean input readDot must read exactly what it reads.
func goSMTPDecode(raw []byte) (out []byte, consumed int, ended bool) {
	const (
		stateBeginLine = iota
		stateDot
		stateDotCR
		stateCR
		stateData
	)
	state := stateBeginLine
	for i, c := range raw {
		switch state {
		case stateBeginLine:
			if c == '.' {
				state = stateDot
				continue
			}
			if c == '\r' {
				state = stateCR
				break
			}
			state = stateData
		case stateDot:
			if c == '\r' {
				state = stateDotCR
				continue
			}
			state = stateData
		case stateDotCR:
			if c == '\n' {
				return out, i + 1, true
			}
			state = stateData
		case stateCR:
			if c == '\n' {
				state = stateBeginLine
				break
			}
			state = stateData
		case stateData:
			if c == '\r' {
				state = stateCR
			}
		}
		out = append(out, c)
	}
	return out, len(raw), false
}

// firstEnd is where the end-of-data line starts in raw: ".\r\n" at the start or after CRLF;
// -1 if there is none.
func firstEnd(raw []byte) int {
	for p := 0; p+3 <= len(raw); p++ {
		if bytes.HasPrefix(raw[p:], []byte(".\r\n")) && (p == 0 || p >= 2 && raw[p-2] == '\r' && raw[p-1] == '\n') {
			return p
		}
	}
	return -1
}

// FuzzReadDot checks readDot against the definitions: it stops in front of the first
// CRLF.CRLF, refuses exactly the content with a bare CR or LF, and on clean content reads what
// go-smtp's own reader reads, ending at the same byte.
func FuzzReadDot(f *testing.F) {
	for _, s := range []string{
		".\r\n", "a\r\n.\r\n", "..a\r\n.\r\n", "a\r\n.\rb\r\n.\r\n", "a\r\n.\r\r\nb\r\n.\r\n",
		"a\n.\nb\r\n.\r\n", "a\r.\rb\r\n.\r\n", "a\r\n..\r\n.\r\nQUIT\r\n", ".a\r\n.\r\n", "\r\n.\r\n",
		"a\r\n.", "x\r\r\n.\r\n", "a\r\n.\r\r\n.\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		w, consumed, err := decodeDot(raw, 1<<20)
		end := firstEnd(raw)
		if end < 0 {
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("%q: no end of data, got err %v", raw, err)
			}
			return
		}
		if err != nil || consumed != end {
			t.Fatalf("%q: err %v, consumed %d, want the end at %d", raw, err, consumed, end)
		}
		content := raw[:end]
		if w.bare != rawBare(content) {
			t.Fatalf("%q: bare = %v, want %v", raw, w.bare, !w.bare)
		}
		if w.bare {
			return
		}
		out, n, ended := goSMTPDecode(raw)
		if !ended || n != end+3 || !bytes.Equal(out, w.buf.Bytes()) {
			t.Fatalf("%q: read %q to %d, go-smtp reads %q to %d (ended %v)", raw, w.buf.Bytes(), end+3, out, n, ended)
		}
	})
}
