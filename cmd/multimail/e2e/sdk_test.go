package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"multimail.dev/multimail/mta/mtatest"
)

// sdkWebhookSecret is the secret of the Python SDK's webhook endpoint ("whsec_" + base64 of
// 24 bytes), distinct from the harness receiver's so each side verifies with its own.
const sdkWebhookSecret = "whsec_c2RrLXdlYmhvb2stc2VjcmV0LTI0Ynl0ZXM="

// sdkDir is the absolute path of sdk/python.
func sdkDir(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs("../../../sdk/python")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// pythonEnv is the environment of every Python process: the SDK from the source tree, the
// node's URL and the sender's key, and nothing from the user's site or a proxy.
func pythonEnv(t *testing.T, n *Node, extra ...string) []string {
	env := []string{
		"PYTHONPATH=" + filepath.Join(sdkDir(t), "src"),
		"PYTHONDONTWRITEBYTECODE=1",
		"PYTHONUNBUFFERED=1",
		"MULTIMAIL_API_KEY=" + APIKey,
		"MULTIMAIL_WEBHOOK_SECRET=" + sdkWebhookSecret,
		"NO_PROXY=*",
	}
	if n != nil {
		env = append(env, "MULTIMAIL_API_URL="+n.URL(""))
	}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case k == "PATH", k == "HOME", k == "LANG", k == "TMPDIR", strings.HasPrefix(k, "PYENV"), strings.HasPrefix(k, "LC_"):
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// runPython runs a Python program to completion (bounded) and returns its stdout.
func runPython(t *testing.T, py string, env []string, d time.Duration, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, args...)
	cmd.Dir = sdkDir(t)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("python3 %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	if testing.Verbose() {
		t.Logf("python3 %s:\n%s%s", strings.Join(args, " "), stdout.String(), stderr.String())
	}
	return stdout.String()
}

// pyProc is a long-running Python process whose stdout is one JSON object per line.
type pyProc struct {
	cmd     *exec.Cmd
	stderr  *syncBuffer
	mu      sync.Mutex
	lines   []map[string]any
	raw     []string
	changed chan struct{}
}

// startPython starts a Python program that runs until the test ends (then it is killed).
func startPython(t *testing.T, py string, env []string, args ...string) *pyProc {
	t.Helper()
	cmd := exec.Command(py, args...)
	cmd.Dir = sdkDir(t)
	cmd.Env = env
	p := &pyProc{cmd: cmd, stderr: &syncBuffer{}, changed: make(chan struct{})}
	cmd.Stderr = p.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); p.read(out) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		_ = cmd.Wait()
	})
	return p
}

func (p *pyProc) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		var m map[string]any
		_ = json.Unmarshal(sc.Bytes(), &m)
		p.mu.Lock()
		p.raw = append(p.raw, sc.Text())
		if m != nil {
			p.lines = append(p.lines, m)
		}
		close(p.changed)
		p.changed = make(chan struct{})
		p.mu.Unlock()
	}
}

// waitLine waits until a JSON line satisfies match.
func (p *pyProc) waitLine(ctx context.Context, match func(map[string]any) bool) (map[string]any, error) {
	for {
		p.mu.Lock()
		for _, m := range p.lines {
			if match(m) {
				p.mu.Unlock()
				return m, nil
			}
		}
		ch := p.changed
		p.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			p.mu.Lock()
			defer p.mu.Unlock()
			return nil, fmt.Errorf("%w; stdout:\n%s\nstderr:\n%s", ctx.Err(), strings.Join(p.raw, "\n"), p.stderr.String())
		}
	}
}

// has is a waitLine matcher: the line's key equals value.
func has(key, value string) func(map[string]any) bool {
	return func(m map[string]any) bool { return m[key] == value }
}

var queuedLine = regexp.MustCompile(`Queued: (msg_\S+), status: (\S+)`)

// TestPythonSDKSeedExamples runs the seed's two Python examples (sdk/python/examples) as
// written, with the key and URL from the environment: the magic link arrives DKIM-signed at
// the MX, its message_id is the one the example's webhook endpoint verifies and hands to
// handle_multimail_webhook as delivered, and a refused recipient reaches its failure branch.
func TestPythonSDKSeedExamples(t *testing.T) {
	t.Parallel()
	py := Tool(t, "python3")
	ctx := Context(t, 60*time.Second)
	recv := startPython(t, py, pythonEnv(t, nil), "examples/agent_webhook.py", "serve", "--listen", "127.0.0.1:0")
	l, err := recv.waitLine(ctx, func(m map[string]any) bool { return m["listening"] != nil })
	if err != nil {
		t.Fatalf("webhook endpoint did not start: %v", err)
	}
	n := Start(t, Options{NoWebhook: true, Config: fmt.Sprintf("[[webhook]]\nurl = %q\nsecret = %q\n", fmt.Sprint(l["listening"]), sdkWebhookSecret)})
	env := pythonEnv(t, n)

	out := runPython(t, py, env, 30*time.Second, "examples/magic_link.py")
	m := queuedLine.FindStringSubmatch(out)
	if m == nil || m[2] != "queued" {
		t.Fatalf("magic_link.py printed %q", out)
	}
	id := m[1]
	msg := waitMXFrom(t, ctx, n, id)
	checkSigned(t, msg, "user@customer.test", "Subject: Your secure sign-in link",
		"From: <auth@example.com>", "Sign in: https://app.yourproduct.com/auth/verify?token", "Sign in to YourProduct")
	if _, err := recv.waitLine(ctx, has("delivered", id)); err != nil {
		t.Fatalf("handler never saw %s delivered: %v\n%s", id, err, webhookLog(n))
	}

	out = runPython(t, py, env, 30*time.Second, "examples/agent_webhook.py", "send", "user2@customer.test", "reject-user@customer.test")
	sent := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var s struct {
			Sent      string `json:"sent"`
			MessageID string `json:"message_id"`
			Status    string `json:"status"`
		}
		if err := json.Unmarshal([]byte(line), &s); err != nil || s.Status != "queued" {
			t.Fatalf("agent_webhook.py send printed %q", line)
		}
		sent[s.Sent] = s.MessageID
	}
	okID, badID := sent["user2@customer.test"], sent["reject-user@customer.test"]
	t.Logf("agent sent %s and %s", okID, badID)
	checkSigned(t, waitMXFrom(t, ctx, n, okID), "user2@customer.test", "Sign in: https://app.yourproduct.com/auth/verify")
	if _, err := recv.waitLine(ctx, has("delivered", okID)); err != nil {
		t.Fatalf("handler never saw %s delivered: %v", okID, err)
	}
	t.Logf("%s delivered", okID)
	esc, err := recv.waitLine(ctx, has("escalated", badID))
	if err != nil {
		t.Fatalf("handler never escalated the bounce %s: %v", badID, err)
	}
	if d, _ := esc["error_detail"].(string); d == "" || d == "unknown" {
		t.Errorf("escalated with error_detail %q, want the MX's reply text", d)
	}
}

// webhookLog is the node's log lines about webhooks, for failure messages.
func webhookLog(n *Node) string {
	var b strings.Builder
	for _, l := range strings.Split(n.Output(), "\n") {
		if strings.Contains(l, "webhook") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// waitMXFrom waits for the MX to receive the message whose return path names msgID.
func waitMXFrom(t *testing.T, ctx context.Context, n *Node, msgID string) mtatest.Message {
	t.Helper()
	ms, err := n.MX.WaitUntil(ctx, func(ms []mtatest.Message) bool { return findFrom(ms, msgID) >= 0 })
	if err != nil {
		t.Fatalf("%s never reached the MX: %v", msgID, err)
	}
	return ms[findFrom(ms, msgID)]
}

func findFrom(ms []mtatest.Message, msgID string) int {
	for i, m := range ms {
		if bounceID(m.From) == msgID {
			return i
		}
	}
	return -1
}

// checkSigned checks a delivered message's recipient, DKIM signature and content.
func checkSigned(t *testing.T, m mtatest.Message, to string, want ...string) {
	t.Helper()
	data := strings.ReplaceAll(string(m.Data), "=\r\n", "") // undo quoted-printable soft breaks
	if len(m.To) != 1 || m.To[0] != to {
		t.Errorf("delivered to %v, want %s", m.To, to)
	}
	for _, s := range append([]string{"DKIM-Signature:", "d=example.com", "s=mm1"}, want...) {
		if !strings.Contains(data, s) {
			t.Errorf("delivered message lacks %q:\n%.2000s", s, data)
		}
	}
}

var sdkKeyLine = regexp.MustCompile(`(?m)^(mm_live_\S+)$`)

// TestPythonSDKSuite runs sdk/python/tests (python3 -m unittest) against a real node: every
// error code of docs/api.md as its exception, reading and tagging, the approval queue,
// webhook verification, and a send whose first connection drops after the request reached
// the server, which must be sent once.
func TestPythonSDKSuite(t *testing.T) {
	t.Parallel()
	py := Tool(t, "python3")
	n := Start(t, Options{Config: `
[[mailbox]]
address = "inbox@example.com"
oversight = "autonomous"

[[mailbox]]
address = "gated@example.com"
oversight = "gated_send"
`})
	key := func(mailbox, scopes string) string {
		out := n.mustCLI(t, "key", "create", "--mailbox", mailbox, "--scope", scopes)
		m := sdkKeyLine.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("key create printed no key:\n%s", out)
		}
		return m[1]
	}
	env := pythonEnv(t, n,
		"MULTIMAIL_TEST_LIVE=1",
		"MULTIMAIL_TEST_SENDER="+Sender,
		"MULTIMAIL_TEST_INBOX=inbox@example.com",
		"MULTIMAIL_TEST_GATED=gated@example.com",
		"MULTIMAIL_TEST_AGENT_KEY="+key("*", "send,read,tag"),
		"MULTIMAIL_TEST_ADMIN_KEY="+key("*", "approve,admin"),
		"MULTIMAIL_TEST_RATE_KEY="+key(Sender, "read"),
	)
	out := runPython(t, py, env, 120*time.Second, "-m", "unittest", "discover", "-v", "-s", "tests")
	m := regexp.MustCompile(`RETRY_ONCE_MESSAGE_ID=(msg_\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("the dropped-connection test printed no message id:\n%s", out)
	}
	ctx := Context(t, 30*time.Second)
	if _, err := n.Hooks.WaitEvent(ctx, m[1], "delivered"); err != nil {
		t.Fatal(err)
	}
	count := 0
	for _, msg := range n.MX.Messages() {
		if len(msg.To) == 1 && msg.To[0] == "retry-once@customer.test" {
			count++
		}
	}
	if count != 1 {
		t.Errorf("the retried send reached the MX %d times, want 1", count)
	}
}

// TestPythonSDKInstallsOffline creates a fresh venv and installs sdk/python into it with
// `pip install --no-build-isolation` and no package index, then imports it.
func TestPythonSDKInstallsOffline(t *testing.T) {
	t.Parallel()
	py := Tool(t, "python3")
	venv := filepath.Join(t.TempDir(), "venv")
	ctx := Context(t, 120*time.Second)
	if out, err := exec.CommandContext(ctx, py, "-m", "venv", venv).CombinedOutput(); err != nil {
		if os.Getenv("MULTIMAIL_INTEROP") == "1" {
			t.Fatalf("python3 -m venv: %v\n%s", err, out)
		}
		t.Skipf("python3 -m venv unavailable (no ensurepip?): %v\n%s", err, out)
	}
	vpy := filepath.Join(venv, "bin", "python")
	env := append(pythonEnv(t, nil), "PIP_NO_INDEX=1", "PIP_DISABLE_PIP_VERSION_CHECK=1")
	env = slicesWithout(env, "PYTHONPATH=")
	pip := exec.CommandContext(ctx, vpy, "-m", "pip", "install", "--no-build-isolation", sdkDir(t))
	pip.Env = env
	pip.Dir = t.TempDir()
	if out, err := pip.CombinedOutput(); err != nil {
		t.Fatalf("pip install --no-build-isolation: %v\n%s", err, out)
	}
	imp := exec.CommandContext(ctx, vpy, "-c", `import multimail, multimail.webhooks, os.path
from multimail import MultimailClient, RateLimited, NotFound
assert os.path.exists(os.path.join(os.path.dirname(multimail.__file__), "py.typed"))
print(multimail.__version__, multimail.__file__)`)
	imp.Env = env
	imp.Dir = t.TempDir()
	out, err := imp.CombinedOutput()
	if err != nil || !strings.Contains(string(out), venv) {
		t.Fatalf("import from the venv: %v\n%s", err, out)
	}
}

// slicesWithout drops the entries of env that start with prefix.
func slicesWithout(env []string, prefix string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, prefix) {
			out = append(out, kv)
		}
	}
	return out
}
