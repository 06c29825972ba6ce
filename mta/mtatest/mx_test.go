package mtatest

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

const testBody = "From: a@example.test\r\nSubject: hi\r\n\r\nhello\r\n"

func send(t *testing.T, c *smtp.Client, from string, to []string) error {
	t.Helper()
	if err := c.Mail(from, nil); err != nil {
		return err
	}
	for _, rcpt := range to {
		if err := c.Rcpt(rcpt, nil); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write([]byte(testBody)); err != nil {
		return err
	}
	return w.Close()
}

func TestMXReplies(t *testing.T) {
	t.Parallel()
	mx := NewMX(t, MXOptions{SlowDelay: time.Millisecond})
	cases := []struct {
		name string
		rcpt string
		code int
	}{
		{"ok", "ok-1@example.test", 0},
		{"anything", "bob@example.test", 0},
		{"tempfail", "tempfail-1@example.test", 451},
		{"reject", "reject-1@example.test", 550},
		{"datafail", "datafail-1@example.test", 554},
		{"datatemp", "datatemp-1@example.test", 452},
		{"slow", "slow-1@example.test", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := smtp.Dial(mx.Addr())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			err = send(t, c, "s@example.test", []string{tc.rcpt})
			var se *smtp.SMTPError
			switch {
			case tc.code == 0 && err != nil:
				t.Fatalf("send: %v", err)
			case tc.code != 0 && (!errors.As(err, &se) || se.Code != tc.code):
				t.Fatalf("send: got %v, want code %d", err, tc.code)
			}
		})
	}
	msgs := mx.Messages()
	if len(msgs) != 3 {
		t.Fatalf("got %d messages, want 3", len(msgs))
	}
	if msgs[0].From != "s@example.test" || msgs[0].To[0] != "ok-1@example.test" ||
		string(msgs[0].Data) != testBody || msgs[0].TLS {
		t.Errorf("first message = %+v", msgs[0])
	}
}

func TestMXStartTLSAndReuse(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	logPath := filepath.Join(dir, "sink.log")
	mx := NewMX(t, MXOptions{TLS: true, LogPath: logPath})
	c, err := smtp.DialStartTLS(mx.Addr(), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := 0; i < 2; i++ {
		if err := send(t, c, "s@example.test", []string{"ok@example.test"}); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	msgs, err := mx.WaitFor(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !msgs[0].TLS || msgs[0].Conn != msgs[1].Conn || msgs[1].Seq != 2 || mx.Conns() != 1 {
		t.Errorf("messages = %+v, conns %d", msgs, mx.Conns())
	}
	if err := mx.Close(); err != nil {
		t.Fatal(err)
	}
	lines := readLines(t, logPath)
	if len(lines) != 2 {
		t.Fatalf("log has %d lines, want 2", len(lines))
	}
	var ll logLine
	if err := json.Unmarshal([]byte(lines[1]), &ll); err != nil || !ll.TLS || ll.Seq != 2 {
		t.Errorf("log line %q: %+v %v", lines[1], ll, err)
	}
}

func TestMXBrokenTLS(t *testing.T) {
	t.Parallel()
	mx := NewMX(t, MXOptions{BrokenTLS: true})
	c, err := smtp.DialStartTLS(mx.Addr(), &tls.Config{InsecureSkipVerify: true})
	if err == nil {
		err = c.Noop()
		c.Close()
	}
	if err == nil {
		t.Fatal("STARTTLS against a broken peer succeeded")
	}
}

func TestMXWaitForTimesOut(t *testing.T) {
	t.Parallel()
	mx := NewMX(t, MXOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := mx.WaitFor(ctx, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitFor = %v, want context.Canceled", err)
	}
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if s := strings.TrimSpace(sc.Text()); s != "" {
			lines = append(lines, s)
		}
	}
	return lines
}
