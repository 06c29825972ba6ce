package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"time"
)

// httpFlags are shared by the http and latency modes.
type httpFlags struct {
	url, key, from string
}

func (f *httpFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.url, "url", "http://127.0.0.1:8025", "the server's HTTP API (loopback)")
	fs.StringVar(&f.key, "key", "", "API key (default $MULTIMAIL_API_KEY)")
	fs.StringVar(&f.from, "from", "agent@localhost", "mailbox_id")
}

// check fills the key from MULTIMAIL_API_KEY when no --key was given and refuses a
// non-loopback URL.
func (f *httpFlags) check() error {
	if f.key == "" {
		f.key = os.Getenv("MULTIMAIL_API_KEY")
	}
	if f.key == "" {
		return fmt.Errorf("--key or MULTIMAIL_API_KEY is required")
	}
	u, err := url.Parse(f.url)
	if err != nil {
		return err
	}
	return loopbackOnly(u.Host)
}

// sender posts send_email requests.
type sender struct {
	f      httpFlags
	client *http.Client
}

func newSender(f httpFlags, conns int) *sender {
	tr := &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns}
	return &sender{f: f, client: &http.Client{Transport: tr, Timeout: 60 * time.Second}}
}

// send posts one message and returns the message id.
func (s *sender) send(ctx context.Context, to, subject, text, priority string) (string, error) {
	b, _ := json.Marshal(map[string]any{"mailbox_id": s.f.from, "to": to, "subject": subject,
		"text": text, "priority": priority})
	req, err := http.NewRequestWithContext(ctx, "POST", s.f.url+"/v1/send_email", bytes.NewReader(b))
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+s.f.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 202 {
		return "", fmt.Errorf("send_email: %s: %s", resp.Status, out)
	}
	var r struct {
		MessageID string `json:"message_id"`
	}
	err = json.Unmarshal(out, &r)
	return r.MessageID, err
}

// runHTTP sends n messages from c concurrent clients and reports requests/s and latency.
func runHTTP(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("mmload http", flag.ContinueOnError)
	var f httpFlags
	f.register(fs)
	to := fs.String("to", "load@customer.test", "recipient")
	n := fs.Int("n", 1000, "messages")
	c := fs.Int("c", 16, "concurrent clients")
	size := fs.Int("size", 5120, "text size in bytes")
	prio := fs.String("priority", "normal", "high, normal or low")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := f.check(); err != nil {
		return err
	}
	s := newSender(f, *c)
	text := body(*size)
	all, took := drive(ctx, *c, *n, func(take func() bool) *stats {
		st := &stats{}
		for take() {
			t0 := time.Now()
			_, err := s.send(ctx, *to, "load", text, *prio)
			st.add(time.Since(t0), err)
		}
		return st
	})
	all.report(fmt.Sprintf("send_email c=%d", *c), took)
	return nil
}
