package imapserver

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

// rawIMAP is a line-level IMAP client for what go-imap's client cannot say (QRESYNC
// parameters, VANISHED, SORT RETURN, COMPRESS, non-synchronising literals): it sends one
// command and collects the untagged lines until the tagged one. Responses with literals are
// not expected.
type rawIMAP struct {
	t     testing.TB
	conn  *tls.Conn
	w     io.Writer // conn, or a compressing writer after COMPRESS
	r     *bufio.Reader
	n     int
	bytes int // bytes read, for the cost measurement
}

func dialRaw(t testing.TB, e *env) *rawIMAP {
	t.Helper()
	conn, err := tls.Dial("tcp", e.imapsAddr, e.clientTLS)
	must(t, err)
	t.Cleanup(func() { conn.Close() })
	c := &rawIMAP{t: t, conn: conn, w: conn, r: bufio.NewReader(conn)}
	c.line() // greeting
	c.ok(fmt.Sprintf("LOGIN %q %q", testUser, testPassword))
	return c
}

func (c *rawIMAP) line() string {
	c.t.Helper()
	must(c.t, c.conn.SetReadDeadline(time.Now().Add(30*time.Second)))
	l, err := c.r.ReadString('\n')
	if err != nil {
		c.t.Fatalf("read: %v (after %q)", err, l)
	}
	c.bytes += len(l)
	return strings.TrimRight(l, "\r\n")
}

// doTag is rawIMAP.do with the client's own tag, to reuse one.
func (c *rawIMAP) doTag(tag, cmd string) (untagged []string, status string) {
	c.t.Helper()
	if _, err := fmt.Fprintf(c.w, "%s %s\r\n", tag, cmd); err != nil {
		c.t.Fatal(err)
	}
	for i := 0; i < 1_000_000; i++ {
		l := c.line()
		if rest, ok := strings.CutPrefix(l, tag+" "); ok {
			return untagged, rest
		}
		untagged = append(untagged, l)
	}
	c.t.Fatalf("%s: no tagged answer", cmd)
	return nil, ""
}

// answersEach sends each template with arg in it (CR, LF and braces dropped: a literal
// would wait for its bytes) and fails unless every command gets a tagged OK, NO or BAD: the
// fuzz targets' check that any argument gets an answer.
func (c *rawIMAP) answersEach(t *testing.T, templates []string, arg string) {
	t.Helper()
	arg = strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' || r == '{' || r == '}' {
			return -1
		}
		return r
	}, arg)
	for _, tmpl := range templates {
		cmd := fmt.Sprintf(tmpl, arg)
		if _, st := c.do(cmd); !strings.HasPrefix(st, "OK") && !strings.HasPrefix(st, "NO") && !strings.HasPrefix(st, "BAD") {
			t.Fatalf("%q: %q", cmd, st)
		}
	}
}

// do sends cmd and returns the untagged lines and the tagged status line (without tag).
func (c *rawIMAP) do(cmd string) (untagged []string, status string) {
	c.t.Helper()
	c.n++
	return c.doTag(fmt.Sprintf("r%d", c.n), cmd)
}

// ok runs cmd and fails unless it ends in OK.
func (c *rawIMAP) ok(cmd string) []string {
	c.t.Helper()
	u, st := c.do(cmd)
	if !strings.HasPrefix(st, "OK") {
		c.t.Fatalf("%s: %s (untagged %q)", cmd, st, u)
	}
	return u
}
