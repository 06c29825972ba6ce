package smtpserver

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"unsafe"

	"github.com/emersion/go-smtp"
)

// ReadData reads the message of one DATA or BDAT transaction from r, the reader go-smtp hands
// Session.Data, and returns it whole. It refuses a bare CR or bare LF anywhere in it
// (ErrBareLineEnding, RFC 5321 §2.3.8: SMTP smuggling) and a message over MaxMessageBytes
// (ErrTooLarge); either way the rest of the message is read and dropped, and the session goes
// on. ReadTimeout bounds the idle time before every read of the connection, and the session's
// end still caps it. On any other error (a timeout, a line too long, the client gone) the
// session ends after the reply. sizeHint is the SIZE of MAIL FROM, used only to size the buffer.
func (s *Server) ReadData(c *smtp.Conn, r io.Reader, sizeHint int64) ([]byte, error) {
	return s.readData(c, r, sizeHint, true)
}

// discardData reads and drops a transaction's message (a refused DATA still has to be read to
// its end before the reply).
func (s *Server) discardData(c *smtp.Conn, r io.Reader) error {
	_, err := s.readData(c, r, 0, false)
	return err
}

func (s *Server) readData(c *smtp.Conn, r io.Reader, sizeHint int64, keep bool) ([]byte, error) {
	conn := c.Conn()
	refresh := func() { _ = conn.SetReadDeadline(s.now().Add(s.opts.ReadTimeout)) }
	w := &dataWriter{max: s.opts.MaxMessageBytes, keep: keep}
	if keep && sizeHint > 0 && sizeHint <= w.max {
		w.buf.Grow(int(sizeHint))
	}
	br, err := wireReader(r)
	switch {
	case err != nil:
		s.log.Error("go-smtp's DATA reader is not the one this package reads; refusing the message", "err", err)
		return nil, err
	case br != nil:
		if err := readDot(br, refresh, w); err != nil {
			Expire(c) // out of step with the stream, or the client is gone: end after the reply
			return nil, err
		}
	default: // BDAT: chunks are not dot-encoded; go-smtp reads the connection and reports its errors
		if _, err := io.Copy(w, &idleReader{r: r, refresh: refresh}); err != nil {
			return nil, err
		}
		w.end()
	}
	switch {
	case w.bare:
		return nil, ErrBareLineEnding
	case w.tooBig:
		return nil, ErrTooLarge
	}
	return w.buf.Bytes(), nil
}

// dataWriter collects a message's content, checking line endings as it goes: a CR must be
// followed by LF and an LF preceded by CR. Past max, or after a bare line ending, it keeps
// checking but stops keeping.
type dataWriter struct {
	buf    bytes.Buffer
	max    int64
	keep   bool
	n      int64
	prevCR bool // the last byte written was a CR
	bare   bool
	tooBig bool
}

// Write implements io.Writer; it never fails.
func (w *dataWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	if w.n > w.max {
		w.tooBig = true
	}
	if !w.bare {
		w.bare = bareIn(p, w.prevCR)
	}
	if len(p) > 0 {
		w.prevCR = p[len(p)-1] == '\r'
	}
	if w.keep && !w.bare && !w.tooBig {
		w.buf.Write(p)
	}
	return len(p), nil
}

// end marks the end of the content: a CR left last is bare.
func (w *dataWriter) end() {
	if w.prevCR {
		w.bare = true
	}
}

// bareIn reports a bare CR or LF in p, prevCR telling whether the byte before p was a CR. A CR
// at the very end of p is judged by the next write (or end).
func bareIn(p []byte, prevCR bool) bool {
	if prevCR && len(p) > 0 {
		if p[0] != '\n' {
			return true // the CR before p
		}
		p = p[1:]
	}
	for i := 0; i < len(p); {
		j := bytes.IndexAny(p[i:], "\r\n")
		if j < 0 {
			return false
		}
		i += j
		if p[i] == '\n' {
			return true // CRLF pairs are skipped whole, so this LF has no CR before it
		}
		if i+1 == len(p) {
			return false // a CR last: the next write decides
		}
		if p[i+1] != '\n' {
			return true
		}
		i += 2
	}
	return false
}

// readDot reads dot-encoded DATA content (RFC 5321 §4.5.2) from the connection's buffered
// reader and writes it, unstuffed, to w. It reads the wire bytes themselves, not go-smtp's
// decoding of them: go-smtp v0.25.1's reader drops the CR of a line starting with ".\r" not
// followed by LF ("\r\n.\rX" reads as "\r\nX", "\r\n.\r\r\n" as "\r\n\r\n"), so no check of
// its output can see those bytes. Here the dot alone is removed and the CR stays, which the
// line-ending check then refuses.
//
// The end of data is CRLF "." CRLF only, or "." CRLF as the very first line. readDot stops in
// front of that final ".\r\n" without consuming it: go-smtp's reader, which has read nothing
// yet and so stands at the beginning of a line, consumes exactly those three bytes when it
// drains after Session.Data and finds the end there, so both stay in step with the stream.
// refresh is called before every read of the connection (the idle timeout between reads).
func readDot(br *bufio.Reader, refresh func(), w *dataWriter) error {
	lineStart := true // after CRLF (or at the start)
	for {
		if lineStart {
			p, err := peek(br, 3, refresh)
			if err != nil {
				return eofErr(err)
			}
			if p[0] == '.' {
				if p[1] == '\r' && p[2] == '\n' {
					return nil // the end, left for go-smtp's reader
				}
				_, _ = br.Discard(1) // a leading dot is removed (dot-stuffing)
			}
			lineStart = false
		}
		p, err := peek(br, 1, refresh)
		if err != nil {
			return eofErr(err)
		}
		if i := bytes.IndexByte(p, '\n'); i >= 0 {
			p = p[:i+1]
			lineStart = i > 0 && p[i-1] == '\r' || i == 0 && w.prevCR
		}
		_, _ = w.Write(p)
		_, _ = br.Discard(len(p))
	}
}

// peek returns the buffered bytes once at least n are there (fewer only with an error),
// reading the connection one read at a time and calling refresh before each.
func peek(br *bufio.Reader, n int, refresh func()) ([]byte, error) {
	for br.Buffered() < n {
		refresh()
		if _, err := br.Peek(br.Buffered() + 1); err != nil {
			p, _ := br.Peek(br.Buffered())
			return p, err
		}
	}
	return br.Peek(br.Buffered())
}

// eofErr turns the end of the stream inside DATA into io.ErrUnexpectedEOF.
func eofErr(err error) error {
	if err == nil || errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// idleReader calls refresh before every read (the idle timeout between reads of BDAT chunks).
type idleReader struct {
	r       io.Reader
	refresh func()
}

// Read implements io.Reader.
func (r *idleReader) Read(b []byte) (int, error) {
	r.refresh()
	return r.r.Read(b)
}

// errDataReader: the reader go-smtp passed to Data is its DATA reader but not in the shape
// wireReader knows (a go-smtp upgrade): the message is refused with a temporary error rather
// than read without the checks.
var errDataReader = errors.New("smtpserver: unknown go-smtp DATA reader layout")

// bufioReaderType is the type of go-smtp's dataReader.r.
var bufioReaderType = reflect.TypeFor[*bufio.Reader]()

// wireReader returns the buffered connection reader under go-smtp v0.25.1's DATA reader
// (its unexported dataReader{r *bufio.Reader; state int; ...}), so that readDot sees the wire
// bytes; nil, nil for any other reader (BDAT's pipe, a test's reader), whose content is not
// dot-encoded. The reader must not have read anything yet (state 0, the beginning of a line).
// The layout is checked on every call, and TestWireReader pins it, so a go-smtp upgrade that
// changes it fails closed (errDataReader) instead of skipping the checks.
func wireReader(r io.Reader) (*bufio.Reader, error) {
	v := reflect.ValueOf(r)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		return nil, nil
	}
	e := v.Elem()
	t := e.Type()
	if t.PkgPath() != "github.com/emersion/go-smtp" {
		return nil, nil
	}
	if t.Name() != "dataReader" || t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("%w: %s", errDataReader, t)
	}
	f, st := e.FieldByName("r"), e.FieldByName("state")
	if !f.IsValid() || f.Type() != bufioReaderType || !st.IsValid() || st.Kind() != reflect.Int || f.IsNil() {
		return nil, fmt.Errorf("%w: %s fields", errDataReader, t)
	}
	if st.Int() != 0 {
		return nil, fmt.Errorf("%w: DATA reader already started (state %d)", errDataReader, st.Int())
	}
	// The field is unexported: reflect reads it only through its address.
	return reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem().Interface().(*bufio.Reader), nil
}
