package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The fixture is a message signed by package identity and its key set (also the Python SDK's).
const (
	fixtureMsg  = "../../sdk/python/tests/data/identity.eml"
	fixtureKeys = "../../sdk/python/tests/data/identity-keys.json"
)

// runCLI runs the CLI in-process with stdin and returns the exit status, stdout and stderr.
func runCLI(stdin []byte, args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	env := &cliEnv{stdin: bytes.NewReader(stdin), stdout: &out, stderr: &errOut, getenv: func(string) string { return "" }}
	code := run(context.Background(), env, args)
	return code, out.String(), errOut.String()
}

func TestIdentityVerifyOffline(t *testing.T) {
	t.Parallel()
	msg, err := os.ReadFile(fixtureMsg)
	if err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(msg, "identity", "verify", "--keys", fixtureKeys)
	if code != 0 || !strings.Contains(out, "OK: sent by mailbox auth@example.com (mode gated_send), released approved (approval apr_01KBQ7Y3N4M5ZJ2R8T6W0XVCAD)") {
		t.Fatalf("verify: %d\n%s%s", code, out, errOut)
	}
	file := filepath.Join(t.TempDir(), "m.eml")
	if err := os.WriteFile(file, bytes.Replace(msg, []byte("123456"), []byte("654321"), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		stdin []byte
		args  []string
		code  int
		want  string
	}{
		{nil, []string{"identity", "verify", "--keys", fixtureKeys, file}, 1, "FAIL: identity: body hash mismatch"},
		{msg, []string{"identity", "verify"}, 2, "exactly one of --key-url, --keys, --dns"},
		{msg, []string{"identity", "verify", "--keys", fixtureKeys, "--dns"}, 2, "exactly one"},
		{nil, []string{"identity", "verify", "--keys", fixtureKeys}, 1, "empty message"},
		{msg, []string{"identity", "verify", "--keys", "/nonexistent/keys.json"}, 1, "no such file"},
	} {
		code, out, errOut := runCLI(tc.stdin, tc.args...)
		if code != tc.code || !strings.Contains(out+errOut, tc.want) {
			t.Errorf("%v: exit %d, want %d with %q:\n%s%s", tc.args, code, tc.code, tc.want, out, errOut)
		}
	}
}
