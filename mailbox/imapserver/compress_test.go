package imapserver

import (
	"bufio"
	"bytes"
	"compress/flate"
	"fmt"
	"io"
	"strings"
	"testing"

	"multimail.dev/multimail/mailbox"
)

// TestCompressDeflate: after COMPRESS DEFLATE (RFC 4978) the session goes on
// over raw DEFLATE in both directions, written here with compress/flate the
// way a client does (a sync flush after each command), through commands whose
// answers carry literals; a second COMPRESS is NO [COMPRESSIONACTIVE].
func TestCompressDeflate(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	for i := 1; i <= 3; i++ {
		e.deliver(t, "INBOX", testMessage(i, fmt.Sprintf("compressed %d", i), strings.Repeat("body text ", 500)), mailbox.DeliverOptions{})
	}
	c := dialRaw(t, e)
	if caps := strings.Join(c.ok("CAPABILITY"), " "); !strings.Contains(caps, " COMPRESS=DEFLATE") {
		t.Fatalf("CAPABILITY = %s", caps)
	}
	if _, st := c.do("COMPRESS LZMA"); !strings.HasPrefix(st, "BAD") {
		t.Errorf("COMPRESS LZMA = %s", st)
	}
	// The OK comes uncompressed; a command pipelined after COMPRESS is compressed.
	fw, err := flate.NewWriter(c.conn, flate.BestSpeed)
	must(t, err)
	if _, err := fmt.Fprint(c.conn, "z1 COMPRESS DEFLATE\r\n"); err != nil {
		t.Fatal(err)
	}
	if _, err := fmt.Fprint(flushWriter{fw}, "z2 NOOP\r\n"); err != nil {
		t.Fatal(err)
	}
	if l := c.line(); l != "z1 OK DEFLATE active" {
		t.Fatalf("COMPRESS DEFLATE = %q", l)
	}
	ahead, err := c.r.Peek(c.r.Buffered())
	must(t, err)
	c.r = bufio.NewReader(flate.NewReader(io.MultiReader(bytes.NewReader(bytes.Clone(ahead)), c.conn)))
	c.w = flushWriter{fw}
	if l := c.line(); !strings.HasPrefix(l, "z2 OK") {
		t.Fatalf("NOOP pipelined after COMPRESS = %q", l)
	}
	if caps := strings.Join(c.ok("CAPABILITY"), " "); strings.Contains(caps, "COMPRESS=") {
		t.Errorf("CAPABILITY once compressed = %s", caps)
	}
	c.ok("SELECT INBOX")
	u := c.ok("FETCH 1:3 (UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
	if got := strings.Join(u, "\n"); strings.Count(got, "Subject: compressed ") != 3 {
		t.Errorf("FETCH over DEFLATE = %s", got)
	}
	if u := c.ok("UID SORT (REVERSE SUBJECT) UTF-8 ALL"); len(u) != 1 || u[0] != "* SORT 3 2 1" {
		t.Errorf("SORT over DEFLATE = %q", u)
	}
	if _, st := c.do("COMPRESS DEFLATE"); !strings.HasPrefix(st, "NO [COMPRESSIONACTIVE]") {
		t.Errorf("second COMPRESS = %s", st)
	}
	c.ok("NOOP")
}

// flushWriter writes a compressed command and sync-flushes it.
type flushWriter struct{ fw *flate.Writer }

func (w flushWriter) Write(p []byte) (int, error) {
	n, err := w.fw.Write(p)
	if err == nil {
		err = w.fw.Flush()
	}
	return n, err
}
