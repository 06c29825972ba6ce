package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"multimail.dev/multimail/mta/mtatest"
)

const (
	gatedMailbox = "gated@example.com"
	gatedKey     = "mm_live_e2e_gated_key_00000000001"
)

// verifyIdentity runs `multimail identity verify --key-url …` with msg on stdin.
func verifyIdentity(t *testing.T, n *Node, msg []byte) (string, error) {
	t.Helper()
	cmd := exec.Command(Binary(t), "identity", "verify", "--key-url", n.URL("/.well-known/multimail-identity"))
	cmd.Stdin = bytes.NewReader(msg)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// delivered waits for the count-th message at the MX and returns the one for rcpt.
func delivered(t *testing.T, n *Node, count int, rcpt string) mtatest.Message {
	t.Helper()
	msgs, err := n.MX.WaitFor(Context(t, 30*time.Second), count)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if len(m.To) == 1 && m.To[0] == rcpt {
			return m
		}
	}
	t.Fatalf("nothing delivered to %s", rcpt)
	return mtatest.Message{}
}

// TestIdentityHeader follows the three kinds of release to the recipient MX: an autonomous
// send, a gated send a person approves and one a rule auto-approves. Each delivered message
// carries Multimail-Identity, and `multimail identity verify` with the node's well-known key
// set accepts it, and refuses it once one byte of the body, the From or the header changes.
func TestIdentityHeader(t *testing.T) {
	t.Parallel()
	n := Start(t, Options{Config: "[[mailbox]]\naddress = \"" + gatedMailbox + "\"\noversight = \"gated_send\"\napi_keys = [\"" + gatedKey + "\"]\n\n" +
		"[[approval_rule]]\nmailbox = \"" + gatedMailbox + "\"\ntags = [\"auth\"]\naction = \"auto_approve\"\n"})

	if out := n.mustCLI(t, "domain", "dns", Domain); !regexp.MustCompile(`mmid1\._domainkey\.example\.com\.\s+3600\s+IN\s+TXT\s+"v=DKIM1; k=ed25519; p=[A-Za-z0-9+/]{43}="`).MatchString(out) {
		t.Errorf("domain dns lacks the identity record:\n%s", out)
	}

	// Autonomous.
	send(t, n, `{"mailbox_id":"auth@example.com","to":"one@customer.test","subject":"Your code","text":"Your code is 847291."}`)
	m := delivered(t, n, 1, "one@customer.test")
	out, err := verifyIdentity(t, n, m.Data)
	if err != nil || !strings.Contains(out, "OK: sent by mailbox auth@example.com (mode autonomous), released autonomous") {
		t.Fatalf("verify autonomous: %v\n%s\n%s", err, out, m.Data)
	}
	for name, tc := range map[string]struct{ old, new, want string }{
		"one body byte": {"847291", "847292", "body hash mismatch"},
		"From":          {"From: <auth@example.com>", "From: <ceo@example.com>", "not aligned with From"},
		"From name":     {"From: <auth@example.com>", "From: CEO <auth@example.com>", "signature does not verify"},
		"header":        {"release=autonomous", "release=approved; ref=apr_01KBQ0000000000000000000AA", "signature does not verify"},
		"header mode":   {"mode=autonomous", "mode=gated_send", "signature does not verify"},
	} {
		tampered := bytes.Replace(m.Data, []byte(tc.old), []byte(tc.new), 1)
		if bytes.Equal(tampered, m.Data) {
			t.Errorf("%s: %q not in the message:\n%s", name, tc.old, m.Data)
			continue
		}
		out, err := verifyIdentity(t, n, tampered)
		if err == nil || !strings.Contains(out, "FAIL") || !strings.Contains(out, tc.want) {
			t.Errorf("%s changed: err %v, want exit 1 naming %q:\n%s", name, err, tc.want, out)
		}
	}

	// Gated, approved by a person: release=approved with the approval's id, never its name.
	code, body := n.Do("POST", "/v1/send_email", gatedKey, []byte(`{"mailbox_id":"`+gatedMailbox+`","to":"two@customer.test","subject":"needs a human","text":"hi"}`))
	if code != 202 || !strings.Contains(string(body), "pending_approval") {
		t.Fatalf("gated send = %d %s", code, body)
	}
	apr := regexp.MustCompile(`apr_[0-9A-Za-z]{26}`).FindString(n.mustCLI(t, "approvals", "list"))
	if apr == "" {
		t.Fatal("no pending approval")
	}
	n.mustCLI(t, "approvals", "approve", apr, "--reason", "fine")
	m = delivered(t, n, 2, "two@customer.test")
	out, err = verifyIdentity(t, n, m.Data)
	if err != nil || !strings.Contains(out, "mode gated_send), released approved (approval "+apr+")") {
		t.Fatalf("verify approved: %v\n%s\n%s", err, out, m.Data)
	}
	if !bytes.Contains(m.Data, []byte("release=approved; ref="+apr)) || bytes.Contains(m.Data, []byte("cli")) && bytes.Contains(m.Data, []byte("by=")) {
		t.Errorf("approved header:\n%s", m.Data)
	}

	// Gated, released by a rule.
	code, body = n.Do("POST", "/v1/send_email", gatedKey, []byte(`{"mailbox_id":"`+gatedMailbox+`","to":"three@customer.test","subject":"code","text":"1234","tags":["auth"]}`))
	if code != 202 || !strings.Contains(string(body), `"queued"`) {
		t.Fatalf("rule send = %d %s", code, body)
	}
	m = delivered(t, n, 3, "three@customer.test")
	out, err = verifyIdentity(t, n, m.Data)
	if err != nil || !strings.Contains(out, "released auto_approved (approval apr_") {
		t.Fatalf("verify auto_approved: %v\n%s\n%s", err, out, m.Data)
	}

	// The Python SDK's verifier (pure Python: its own Ed25519 and DKIM canonicalization) agrees.
	pyVerifyIdentity(t, n, m.Data, "auto_approved")

	// A message with no identity header at all.
	if out, err := verifyIdentity(t, n, []byte("From: a@example.com\r\nSubject: x\r\n\r\nhi\r\n")); err == nil || !strings.Contains(out, "no Multimail-Identity header") {
		t.Errorf("missing header: err %v\n%s", err, out)
	}
}

// pyVerifyIdentity runs multimail.identity.verify on msg with the node's well-known key set and
// checks the release it reports, and that a changed body is refused.
func pyVerifyIdentity(t *testing.T, n *Node, msg []byte, release string) {
	t.Helper()
	py := Tool(t, "python3")
	file := filepath.Join(t.TempDir(), "msg.eml")
	if err := os.WriteFile(file, msg, 0o600); err != nil {
		t.Fatal(err)
	}
	prog := `
import json, sys, urllib.request
from multimail import identity
keys = json.load(urllib.request.urlopen(sys.argv[2]))
raw = open(sys.argv[1], "rb").read()
r = identity.verify(raw, keys)
print(r.release, r.ref, r.mailbox)
try:
    identity.verify(raw[:-3] + b"X" + raw[-2:], keys)
    print("TAMPERED ACCEPTED")
except identity.IdentityError as e:
    print("refused", e.reason)
`
	out := runPython(t, py, pythonEnv(t, n), 60*time.Second, "-c", prog, file, n.URL("/.well-known/multimail-identity"))
	if !strings.HasPrefix(out, release+" apr_") || !strings.Contains(out, "refused body_hash") {
		t.Fatalf("python identity.verify:\n%s", out)
	}
}
