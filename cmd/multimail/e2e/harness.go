// Package e2e is the end-to-end harness: it builds the real multimail binary once per test
// run, writes a config with free 127.0.0.1 ports, starts the binary beside two real peers — a
// recipient MX (mta/mtatest) and a webhook receiver that checks Standard Webhooks signatures —
// and gives tests real clients' entry points. Each test owns its process, ports and data
// directory, so tests run in parallel.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"multimail.dev/multimail/internal/interoptest"

	"multimail.dev/multimail/mta/mtatest"
)

// Ports are the listener ports of one started binary.
type Ports struct {
	SMTP, Submission, Submissions, IMAP, IMAPS, HTTP int
	HTTPS, ACMEHTTP                                  int // reserved for tests that write their own config (RawConfig)
}

// Options shape one started binary. The zero value starts a node with the domain example.com,
// the mailboxes of DefaultMailboxes, every domain routed to the harness MX, and one webhook.
type Options struct {
	// Config is appended to the generated config (more [[mailbox]], [[approval_rule]], …).
	Config string
	// NoTransport leaves out the `[[transport]] domain = "*"` route to the harness MX (for
	// tests that route through a loopback DNS server instead).
	NoTransport bool
	// TransportTLS is the TLS policy of the route to the harness MX; default "none", or
	// "opportunistic" when the MX offers STARTTLS.
	TransportTLS string
	// MX configures the harness's recipient MX.
	MX mtatest.MXOptions
	// SenderExtra is TOML appended to the [[mailbox]] of Sender (e.g. `ip_pool = "auth"`).
	SenderExtra string
	// Webhook configures the harness's webhook receiver.
	Webhook WebhookOptions
	// NoWebhook leaves the harness's receiver out of the config (a test that brings its own
	// endpoint in Config); Node.Hooks still exists but receives nothing.
	NoWebhook bool
	// Args are extra `serve` arguments.
	Args []string
	// DataDir is the node's data directory; default Dir/data (created by the binary).
	DataDir string
	// Umask, when set (e.g. "000"), starts the binary under that umask through sh.
	Umask string
	// RawConfig, when set, is the whole config file instead of the generated one (Config is
	// ignored); it gets the node with its Ports, MX, Hooks and DataDir set. Its HTTP listener
	// must be on 127.0.0.1:Ports.HTTP, where the harness checks /healthz.
	RawConfig func(n *Node) string
}

// Test credentials every node gets from the generated config.
const (
	Domain       = "example.com"
	Sender       = "auth@example.com" // oversight autonomous
	Password     = "sender-password-1"
	APIKey       = "mm_live_e2e_sender_key_0000000001"
	WebhookToken = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
)

// testKeyPath is the absolute path of testdata/dkim/example.com.rsa.pem.
func testKeyPath(t testing.TB) string {
	p, err := filepath.Abs("../../../testdata/dkim/example.com.rsa.pem")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Node is one running multimail binary and its peers.
type Node struct {
	t       testing.TB
	Dir     string // the data directory
	Config  string // path of the config file
	Ports   Ports
	MX      *mtatest.MX
	Hooks   *WebhookReceiver
	opts    Options
	cmd     *exec.Cmd
	out     *syncBuffer
	exited  chan struct{}
	exitErr error
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Binary builds cmd/multimail once per test process and returns its path. The binary lives in
// a temporary directory removed by Cleanup (call it from TestMain).
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "multimail-e2e-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "multimail")
		cmd := exec.Command("go", "build", "-o", binPath, "multimail.dev/multimail/cmd/multimail")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// Cleanup removes the built binary; TestMain calls it after m.Run.
func Cleanup() {
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
}

// Start writes a config and starts the binary with its peers; the node is stopped (and must
// exit cleanly) when the test ends.
func Start(t testing.TB, opts Options) *Node {
	t.Helper()
	n := &Node{t: t, Dir: t.TempDir(), opts: opts}
	n.MX = mtatest.NewMX(t, opts.MX)
	n.Hooks = NewWebhookReceiver(t, opts.Webhook)
	t.Cleanup(func() { n.Hooks.CheckTrails(t) })
	n.Ports = freePorts(t)
	n.Config = filepath.Join(n.Dir, "multimail.toml")
	text := n.configText()
	if opts.RawConfig != nil {
		text = opts.RawConfig(n)
	}
	if err := os.WriteFile(n.Config, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	n.start()
	t.Cleanup(func() {
		if n.running() {
			n.Stop()
		}
	})
	return n
}

// configText renders the node's TOML config.
func (n *Node) configText() string {
	var b strings.Builder
	fmt.Fprintf(&b, "hostname = \"mx.e2e.test\"\ndata_dir = %q\n\n[listen]\n", n.DataDir())
	p := n.Ports
	fmt.Fprintf(&b, "smtp = \"127.0.0.1:%d\"\nsubmission = \"127.0.0.1:%d\"\nsubmissions = \"127.0.0.1:%d\"\n", p.SMTP, p.Submission, p.Submissions)
	fmt.Fprintf(&b, "imap = \"127.0.0.1:%d\"\nimaps = \"127.0.0.1:%d\"\nhttp = \"127.0.0.1:%d\"\n\n", p.IMAP, p.IMAPS, p.HTTP)
	if !n.opts.NoTransport {
		tlsMode := n.opts.TransportTLS
		if tlsMode == "" && n.opts.MX.TLS {
			tlsMode = "opportunistic"
		} else if tlsMode == "" {
			tlsMode = "none"
		}
		fmt.Fprintf(&b, "[[transport]]\ndomain = \"*\"\nnext_hop = %q\ntls = %q\n\n", n.MX.Addr(), tlsMode)
	}
	// A checked-in test key: generating RSA-2048 at every start would dominate test time.
	fmt.Fprintf(&b, "[[domain]]\nname = %q\ndkim_selector = \"mm1\"\ndkim_key = %q\n\n", Domain, testKeyPath(n.t))
	fmt.Fprintf(&b, "[[mailbox]]\naddress = %q\noversight = \"autonomous\"\npassword = %q\napi_keys = [%q]\n%s\n", Sender, Password, APIKey, n.opts.SenderExtra)
	if !n.opts.NoWebhook {
		fmt.Fprintf(&b, "[[webhook]]\nurl = %q\nsecret = %q\n\n", n.Hooks.URL(), WebhookToken)
	}
	b.WriteString(n.opts.Config)
	return b.String()
}

func (n *Node) start() {
	n.t.Helper()
	args := append([]string{"serve", "--config", n.Config, "--log-level", "debug", "--grace", "5s"}, n.opts.Args...)
	n.cmd = exec.Command(Binary(n.t), args...)
	if n.opts.Umask != "" {
		n.cmd = exec.Command("sh", append([]string{"-c", "umask " + n.opts.Umask + ` && exec "$0" "$@"`, Binary(n.t)}, args...)...)
	}
	n.out = &syncBuffer{}
	n.cmd.Stdout, n.cmd.Stderr = n.out, n.out
	n.cmd.Dir = n.Dir
	if err := n.cmd.Start(); err != nil {
		n.t.Fatal(err)
	}
	n.exited = make(chan struct{})
	go func() { n.exitErr = n.cmd.Wait(); close(n.exited) }()
	n.waitHealthy()
}

// waitHealthy polls /healthz until it answers 200, the process exits, or 60 s pass.
func (n *Node) waitHealthy() {
	n.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	url := n.URL("/healthz")
	for time.Now().Before(deadline) {
		select {
		case <-n.exited:
			n.t.Fatalf("multimail exited during start: %v\n%s", n.exitErr, n.out.String())
		default:
		}
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				n.waitBanner(deadline)
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	n.t.Fatalf("multimail did not become healthy in 60 s\n%s", n.out.String())
}

// waitBanner waits for the start banner in the output: the node writes it before it serves,
// but the copy from its pipe into n.out may lag behind a /healthz answer.
func (n *Node) waitBanner(deadline time.Time) {
	n.t.Helper()
	for {
		out := n.out.String()
		if strings.Contains(out, " ready in ") || strings.Contains(out, "multimail ready") {
			return
		}
		if time.Now().After(deadline) {
			n.t.Fatalf("multimail answered /healthz but printed no banner\n%s", out)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (n *Node) running() bool {
	select {
	case <-n.exited:
		return false
	default:
		return true
	}
}

// Stop sends SIGTERM and fails the test unless the process exits 0 within 30 s (a process
// that does not stop cleanly has a deadlock or a leaked owner).
func (n *Node) Stop() {
	n.t.Helper()
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.exited:
	case <-time.After(30 * time.Second):
		_ = n.cmd.Process.Kill()
		<-n.exited
		n.t.Fatalf("multimail did not stop within 30 s of SIGTERM\n%s", n.out.String())
	}
	if n.exitErr != nil {
		n.t.Errorf("multimail exited with %v after SIGTERM\n%s", n.exitErr, n.out.String())
	}
}

// Kill stops the process with SIGKILL, as a crash would.
func (n *Node) Kill() {
	_ = n.cmd.Process.Kill()
	<-n.exited
}

// Restart starts the binary again on the same config and data directory.
func (n *Node) Restart() {
	n.t.Helper()
	if n.running() {
		n.t.Fatal("Restart of a running node")
	}
	n.start()
}

// DataDir is the node's data directory.
func (n *Node) DataDir() string {
	if n.opts.DataDir != "" {
		return n.opts.DataDir
	}
	return filepath.Join(n.Dir, "data")
}

// Pid is the running process's id.
func (n *Node) Pid() int { return n.cmd.Process.Pid }

// WaitExit waits up to d for the process to exit on its own and returns its exit status;
// ok is false if it is still running.
func (n *Node) WaitExit(d time.Duration) (status int, ok bool) {
	select {
	case <-n.exited:
		return n.cmd.ProcessState.ExitCode(), true
	case <-time.After(d):
		return 0, false
	}
}

// Output is everything the process printed so far.
func (n *Node) Output() string { return n.out.String() }

// Signal sends sig to the process (SIGHUP: reload).
func (n *Node) Signal(sig os.Signal) {
	n.t.Helper()
	if err := n.cmd.Process.Signal(sig); err != nil {
		n.t.Fatal(err)
	}
}

// WaitOutput waits up to d until the output holds want count times or more (e.g. the
// count-th reload's log line) and fails the test otherwise.
func (n *Node) WaitOutput(want string, count int, d time.Duration) {
	n.t.Helper()
	deadline := time.Now().Add(d)
	for strings.Count(n.Output(), want) < count {
		if time.Now().After(deadline) {
			n.t.Fatalf("%q not seen %d times in %v\n%s", want, count, d, n.Output())
		}
		if !n.running() {
			n.t.Fatalf("multimail exited waiting for %q: %v\n%s", want, n.exitErr, n.Output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// URL is the node's HTTP address joined with path.
func (n *Node) URL(path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", n.Ports.HTTP, path)
}

// Addr is "127.0.0.1:port".
func Addr(port int) string { return fmt.Sprintf("127.0.0.1:%d", port) }

// Do sends an HTTP request with key as bearer ("" for none) and returns status and body; a
// transport error fails the test.
func (n *Node) Do(method, path, key string, body []byte) (int, []byte) {
	n.t.Helper()
	code, b, err := n.try(method, path, key, body)
	if err != nil {
		n.t.Fatal(err)
	}
	return code, b
}

// try is Do that returns transport errors (for requests racing a crash).
func (n *Node) try(method, path, key string, body []byte) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, n.URL(path), rd)
	if err != nil {
		return 0, nil, err
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// httpClient bounds every harness request, so a hung server fails a test instead of hanging it.
var httpClient = &http.Client{Timeout: 30 * time.Second}

// Context returns a context that ends after d or with the test.
func Context(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// freePorts reserves eight distinct loopback ports. They are released before the binary binds
// them; a port taken in between fails the start loudly, never silently. They come from below
// the kernel's ephemeral range (32768–60999 by default on Linux), where no client connection's
// source port lands, picked at random so that parallel tests and packages rarely try the same.
func freePorts(t testing.TB) Ports {
	t.Helper()
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	port := func() int {
		for range 200 {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", 10000+rand.IntN(22000)))
			if err != nil {
				continue // taken: try another
			}
			ls = append(ls, l)
			return l.Addr().(*net.TCPAddr).Port
		}
		t.Fatal("no free loopback port in 10000-31999 after 200 tries")
		return 0
	}
	return Ports{port(), port(), port(), port(), port(), port(), port(), port()}
}

// syncBuffer is a bytes.Buffer safe for the process's writers and the test's readers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Tool returns the path of an interop client (swaks, python3, curl, mbsync): see
// interoptest.Tool. Swaks is checked for its TLS and AUTH support as well.
func Tool(t testing.TB, name string) string {
	t.Helper()
	if name == "swaks" {
		return interoptest.Swaks(t)
	}
	return interoptest.Tool(t, name)
}
