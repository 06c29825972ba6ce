package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"multimail.dev/multimail/internal/pgtest"
	"multimail.dev/multimail/mta/mtatest"
)

func TestMain(m *testing.M) {
	code := pgtest.Main(m) // m.Run, then stop the PostgreSQL cluster if a test started one
	Cleanup()
	os.Exit(code)
}

// TestServeHealthAndMetrics starts the binary on a config file, checks the no-auth endpoints
// and that SIGTERM stops it with exit status 0 (Stop fails the test otherwise).
func TestServeHealthAndMetrics(t *testing.T) {
	t.Parallel()
	n := Start(t, Options{})
	if code, body := n.Do("GET", "/healthz", "", nil); code != 200 || !strings.Contains(string(body), "ok") {
		t.Fatalf("/healthz = %d %s", code, body)
	}
	code, body := n.Do("GET", "/metrics", "", nil)
	if code != 200 || !strings.Contains(string(body), "go_goroutines") {
		t.Fatalf("/metrics = %d %.200s", code, body)
	}
	n.Stop()
}

// TestDevDefault runs `multimail serve` with no flags in an empty directory, as the README
// says, and checks the printed key is the same after a restart.
func TestDevDefault(t *testing.T) {
	// Not parallel: the dev default's ports are fixed (docs/operations.md).
	dir := t.TempDir()
	if l, err := net.Listen("tcp", "127.0.0.1:8025"); err != nil {
		t.Skipf("dev default port 8025 is busy: %v", err)
	} else {
		l.Close()
	}
	first := runDevDefault(t, dir)
	second := runDevDefault(t, dir)
	if first != second {
		t.Fatalf("dev API keys changed across restarts: %q then %q", first, second)
	}
	for _, f := range []string{"db", "tls/cert.pem", "tls/key.pem", "dev-api-key", "dev-operator-key"} {
		if _, err := os.Stat(filepath.Join(dir, "multimail-data", f)); err != nil {
			t.Errorf("dev default did not create %s: %v", f, err)
		}
	}
}

var devKeyLine = regexp.MustCompile(`(?m)^\s+(mm_live_\S+)\s*$`)

// devKeys are the banner's two keys: the agent's, then the operator's.
type devKeys struct{ agent, operator string }

func runDevDefault(t *testing.T, dir string) devKeys {
	t.Helper()
	n := &Node{t: t, Dir: dir, Ports: Ports{HTTP: 8025}}
	n.cmd = exec.Command(Binary(t), "serve")
	n.out = &syncBuffer{}
	n.cmd.Stdout, n.cmd.Stderr, n.cmd.Dir = n.out, n.out, dir
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	n.exited = make(chan struct{})
	go func() { n.exitErr = n.cmd.Wait(); close(n.exited) }()
	n.waitHealthy()
	out := n.Output()
	for _, want := range []string{"127.0.0.1:2525", "127.0.0.1:2587", "127.0.0.1:2465", "127.0.0.1:2143", "127.0.0.1:2993", "127.0.0.1:8025", "agent@localhost", "curl",
		"agent key", "operator key", "IMAP/SMTP password of agent@localhost", "the embedded dev default"} {
		if !strings.Contains(out, want) {
			t.Errorf("banner lacks %q:\n%s", want, out)
		}
	}
	m := devKeyLine.FindAllStringSubmatch(out, -1)
	if len(m) != 2 {
		n.Stop()
		t.Fatalf("want two API keys in the banner (agent, operator):\n%s", out)
	}
	keys := devKeys{agent: m[0][1], operator: m[1][1]}
	if !strings.Contains(out, "Bearer "+keys.agent) {
		t.Errorf("the banner's first message is not sent with the agent key:\n%s", out)
	}
	// Separation of duties: the agent key sends and administers nothing; the operator key
	// administers and never sends.
	send := []byte(`{"mailbox_id":"agent@localhost","to":"agent@localhost","subject":"hello","text":"first message"}`)
	mint := []byte(`{"mailbox":"*","scopes":["admin"]}`)
	for _, c := range []struct {
		name, method, path, key string
		body                    []byte
		want                    int
	}{
		{"agent sends", "POST", "/v1/send_email", keys.agent, send, 202},
		{"agent mints an admin key", "POST", "/v1/admin/keys", keys.agent, mint, 403},
		{"agent lists approvals", "GET", "/v1/approvals", keys.agent, nil, 200},
		{"operator sends", "POST", "/v1/send_email", keys.operator, send, 403},
		{"operator lists approvals", "GET", "/v1/approvals", keys.operator, nil, 200},
		{"operator lists keys", "GET", "/v1/admin/keys", keys.operator, nil, 200},
	} {
		if code, body := n.Do(c.method, c.path, c.key, c.body); code != c.want {
			t.Errorf("%s: %d, want %d: %s", c.name, code, c.want, body)
		}
	}
	n.Stop()
	return keys
}

// TestBadConfigRefused checks that a bad config stops the start with the file, line and key
// named, a non-zero exit, and no listener opened.
func TestBadConfigRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().String()
	l.Close()
	cases := []struct{ name, src, want string }{
		{"unknown key", "[listen]\nhttp = \"" + port + "\"\nsmtpp = \"127.0.0.1:1\"\n", "bad.toml:3: listen.smtpp: unknown key"},
		{"bad duration", "[listen]\nhttp = \"" + port + "\"\n[delivery]\nmax_lifetime = \"forever\"\n", "bad.toml:4: delivery.max_lifetime: bad duration"},
		{"missing file", "", "nope.toml"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, "bad.toml")
			if tc.src == "" {
				path = filepath.Join(dir, "nope.toml")
			} else if err := os.WriteFile(path, []byte(tc.src), 0o600); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(Binary(t), "serve", "--config", path)
			cmd.Dir = dir
			done := make(chan struct{})
			go func() {
				// While the process runs, nothing may listen on the configured port.
				for {
					select {
					case <-done:
						return
					default:
					}
					if c, err := net.DialTimeout("tcp", port, 50*time.Millisecond); err == nil {
						c.Close()
						t.Errorf("a listener opened on %s with a bad config", port)
						return
					}
					time.Sleep(5 * time.Millisecond)
				}
			}()
			out, err := cmd.CombinedOutput()
			close(done)
			if err == nil {
				t.Fatalf("serve with a bad config exited 0:\n%s", out)
			}
			if !strings.Contains(string(out), tc.want) {
				t.Fatalf("output does not name %q:\n%s", tc.want, out)
			}
		})
	}
}

// TestSIGTERMDuringActivity stops the server with SIGTERM while sends are in flight (it must
// exit 0 within the deadline), restarts it on the same data directory, and finds every
// acknowledged message and the API key intact.
func TestSIGTERMDuringActivity(t *testing.T) {
	t.Parallel()
	n := Start(t, Options{MX: mtatest.MXOptions{Delay: 10 * time.Millisecond}})
	acked := make(chan string, 10000)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			body := fmt.Sprintf(`{"mailbox_id":%q,"to":"t%d@customer.test","subject":"term","text":"x"}`, Sender, i)
			code, out, err := n.try("POST", "/v1/send_email", APIKey, []byte(body))
			if err != nil {
				return
			}
			var r sendResp
			if code == 202 && json.Unmarshal(out, &r) == nil {
				acked <- r.MessageID
			}
		}
	}()
	waitUntil(t, 30*time.Second, func() bool { return len(acked) >= 20 })
	n.Stop()
	close(stop)
	<-done
	close(acked)
	n.Restart()
	for id := range acked {
		code, body := n.Do("GET", "/v1/messages/"+id, APIKey, nil)
		if code != 200 {
			t.Fatalf("after restart, %s = %d %s", id, code, body)
		}
	}
}
