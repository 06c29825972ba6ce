package submission

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"multimail.dev/multimail/queue"
)

// The dialog harness runs testdata/dialogs/*.dialog against in-process servers. A dialog is
// lines of:
//
//	# comment                 ignored
//	!trusted                  (first lines) use the server whose trusted_networks has 127.0.0.1
//	!implicit                 (first lines) connect to the implicit-TLS (submissions) port
//	!tls                      EHLO, STARTTLS, handshake, EHLO (each must succeed)
//	!login MAILBOX            !tls, then AUTH PLAIN with the test password (must give 235)
//	C: text [xN]              send text + CRLF (N times; {i} is replaced by the iteration)
//	D: "go string" [xN]       send the unquoted bytes as they are (N copies in one write)
//	S: pattern [xN]           read one reply; its last line must equal pattern, or start with
//	                          it when the pattern ends in '*'
//	S: EOF                    the server must close the connection
//	A: text / N: text         some line / no line of the previous reply contains text
//
// Every read has a deadline, so a dialog cannot hang.

// dialogServers are the two servers dialogs run against.
type dialogServers struct{ plain, trusted *testServer }

// dialogLimits are small limits so floods stay small files.
func dialogLimits(o *ServerOptions) {
	o.MaxMessageBytes = 10000
	o.MaxCommands = 150
}

func TestDialogs(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("testdata/dialogs/*.dialog")
	if err != nil || len(files) < 25 {
		t.Fatalf("want at least 25 dialogs, found %d (%v)", len(files), err)
	}
	srv := dialogServers{plain: newServer(t, false, dialogLimits), trusted: newServer(t, true, dialogLimits)}
	for _, ts := range []*testServer{srv.plain, srv.trusted} { // suppressed_rcpt.dialog
		if err := ts.q.Suppress(context.Background(), queue.Suppression{Domain: "example.com", Address: "gone@suppressed.example",
			Reason: queue.SuppressHardBounce, Detail: "5.1.1 no such user\r\n250 OK"}); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".dialog"), func(t *testing.T) {
			t.Parallel()
			runDialog(t, srv, f)
		})
	}
}

// dialog is one running dialog.
type dialog struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
	last []string // lines of the previous reply
}

// runDialog runs one file.
func runDialog(t *testing.T, srv dialogServers, file string) {
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	ts, implicit := srv.plain, false
	for _, l := range lines {
		switch strings.TrimSpace(l) {
		case "!trusted":
			ts = srv.trusted
		case "!implicit":
			implicit = true
		}
	}
	d := dial(t, ts, implicit)
	defer d.conn.Close()
	for n, l := range lines {
		if l == "" || l[0] == '#' || l == "!trusted" || l == "!implicit" {
			continue
		}
		if err := d.step(l); err != nil {
			t.Fatalf("%s:%d: %s: %v (previous reply %q)", file, n+1, l, err, d.last)
		}
	}
}

// dial connects to the submission or submissions port.
func dial(t *testing.T, ts *testServer, implicit bool) *dialog {
	var c net.Conn
	var err error
	if implicit {
		c, err = tls.Dial("tcp", ts.submissions, clientTLS())
	} else {
		c, err = net.Dial("tcp", ts.submission)
	}
	if err != nil {
		t.Fatal(err)
	}
	return &dialog{t: t, conn: c, r: bufio.NewReader(c)}
}

// repeatRE finds a trailing " xN" repeat count.
var repeatRE = regexp.MustCompile(` x(\d+)$`)

// step runs one line.
func (d *dialog) step(l string) error {
	n := 1
	if m := repeatRE.FindStringSubmatch(l); m != nil {
		n, _ = strconv.Atoi(m[1])
		l = l[:len(l)-len(m[0])]
	}
	kind, arg, _ := strings.Cut(l, " ")
	if kind == "D:" { // one write, as a client that pipelines would
		s, err := strconv.Unquote(arg)
		if err != nil {
			return err
		}
		return d.send(strings.Repeat(s, n))
	}
	for i := 0; i < n; i++ {
		if err := d.do(kind, strings.ReplaceAll(arg, "{i}", strconv.Itoa(i))); err != nil {
			return fmt.Errorf("iteration %d: %w", i, err)
		}
	}
	return nil
}

// do runs one command of the dialog language.
func (d *dialog) do(kind, arg string) error {
	switch kind {
	case "C:":
		return d.send(arg + "\r\n")
	case "S:":
		return d.expect(arg)
	case "A:", "N:":
		return d.contains(arg, kind == "A:")
	case "!tls":
		return d.starttls()
	case "!login":
		return d.login(arg)
	}
	return fmt.Errorf("unknown dialog line kind %q", kind)
}

// send writes raw bytes.
func (d *dialog) send(s string) error {
	_ = d.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err := io.WriteString(d.conn, s)
	return err
}

// reply reads one (possibly multi-line) reply.
func (d *dialog) reply() ([]string, error) {
	_ = d.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var lines []string
	for {
		l, err := d.r.ReadString('\n')
		if err != nil {
			return lines, err
		}
		l = strings.TrimRight(l, "\r\n")
		lines = append(lines, l)
		if len(l) < 4 || l[3] != '-' {
			return lines, nil
		}
	}
}

// expect reads a reply and matches its last line, or expects the end of the connection.
func (d *dialog) expect(pattern string) error {
	lines, err := d.reply()
	d.last = lines
	if pattern == "EOF" {
		if err == nil {
			return fmt.Errorf("want EOF, got %q", lines)
		}
		if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || strings.Contains(err.Error(), "reset") {
			return nil
		}
		return fmt.Errorf("want EOF, got %v", err)
	}
	if err != nil {
		return fmt.Errorf("reading reply: %w (got %q)", err, lines)
	}
	got := lines[len(lines)-1]
	if p, wild := strings.CutSuffix(pattern, "*"); wild && strings.HasPrefix(got, p) || got == pattern {
		return nil
	}
	return fmt.Errorf("got %q, want %q", got, pattern)
}

// contains checks the previous reply's lines for text.
func (d *dialog) contains(text string, want bool) error {
	for _, l := range d.last {
		if strings.Contains(l, text) {
			if want {
				return nil
			}
			return fmt.Errorf("reply has %q", text)
		}
	}
	if want {
		return fmt.Errorf("reply lacks %q", text)
	}
	return nil
}

// starttls greets, upgrades the connection and greets again.
func (d *dialog) starttls() error {
	for _, s := range []string{"S: 220*", "C: EHLO client.example", "S: 250*", "C: STARTTLS", "S: 220*"} {
		if err := d.step(s); err != nil {
			return err
		}
	}
	tc := tls.Client(d.conn, clientTLS())
	if err := tc.Handshake(); err != nil {
		return err
	}
	d.conn, d.r = tc, bufio.NewReader(tc)
	if err := d.step("C: EHLO client.example"); err != nil {
		return err
	}
	return d.step("S: 250*")
}

// login runs !tls and AUTH PLAIN as mbox.
func (d *dialog) login(mbox string) error {
	if err := d.starttls(); err != nil {
		return err
	}
	cred := base64.StdEncoding.EncodeToString([]byte("\x00" + mbox + "\x00" + testPassword))
	if err := d.step("C: AUTH PLAIN " + cred); err != nil {
		return err
	}
	return d.step("S: 235 2.0.0*")
}
