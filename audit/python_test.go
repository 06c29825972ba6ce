package audit

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"multimail.dev/multimail/internal/interoptest"
)

// pythonBlocks returns the ```python blocks of docs/audit.md, in order.
func pythonBlocks(t *testing.T) []string {
	t.Helper()
	doc, err := os.ReadFile("../docs/audit.md")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range regexp.MustCompile("(?s)```python\n(.*?)```").FindAllStringSubmatch(string(doc), -1) {
		out = append(out, m[1])
	}
	if len(out) < 2 {
		t.Fatalf("docs/audit.md has %d python blocks, want the verifier and the signature check", len(out))
	}
	return out
}

// runPython runs script with export on stdin.
func runPython(t *testing.T, py, script string, export []string) (string, error) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "verify.py")
	if err := os.WriteFile(f, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, f)
	cmd.Stdin = strings.NewReader(strings.Join(export, "\n") + "\n")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestPythonVerifierFromDocs runs docs/audit.md's twenty-line verifier with python3 against
// real exports (whole, pruned, with stubs) and tampered ones, so the documented format cannot
// drift from the code. The signature block runs too when the cryptography module is there.
func TestPythonVerifierFromDocs(t *testing.T) {
	py := interoptest.Tool(t, "python3")
	blocks := pythonBlocks(t)
	j, _, clk := openTest(t)
	fill(t, j, 4)
	cut := clk.now()
	fill(t, j, 4)
	full := export(t, j, Filter{})
	stubs := export(t, j, Filter{Mailbox: "mb0@example.com"})
	if out, err := runPython(t, py, blocks[0], full); err != nil || !strings.Contains(out, "ok: chain of 8 records") {
		t.Fatalf("python on the export: %v\n%s", err, out)
	}
	if out, err := runPython(t, py, blocks[0], stubs); err != nil || !strings.Contains(out, "ok") {
		t.Fatalf("python on the --mailbox export: %v\n%s", err, out)
	}
	tampered := append([]string(nil), full...)
	i := recordLine(t, tampered, 3)
	tampered[i] = strings.Replace(tampered[i], `"reason":"ok"`, `"reason":"ok!"`, 1)
	if out, err := runPython(t, py, blocks[0], tampered); err == nil || !strings.Contains(out, "record 4") {
		t.Fatalf("python on a changed record 3: %v\n%s", err, out)
	}
	removed := append(append([]string(nil), full[:recordLine(t, full, 1)]...), full[recordLine(t, full, 1)+1:]...)
	if out, err := runPython(t, py, blocks[0], removed); err == nil {
		t.Fatalf("python on an export without record 1: %s", out)
	}
	if _, err := j.Prune(t.Context(), cut); err != nil {
		t.Fatal(err)
	}
	pruned := export(t, j, Filter{})
	if out, err := runPython(t, py, blocks[0], pruned); err != nil || !strings.Contains(out, "ok: chain of 4 records") {
		t.Fatalf("python on the pruned export: %v\n%s", err, out)
	}
	if exec.Command(py, "-c", "import cryptography").Run() != nil {
		t.Log("python3 has no cryptography module: the signature block is not run")
		return
	}
	sigScript := "import base64, json, sys\n" + blocks[1] + `
lines = [json.loads(l) for l in sys.stdin.read().splitlines()]
key = lines[0]["key"]
notes = [l["checkpoint"] for l in lines if "checkpoint" in l]
assert notes and all(check_note(n, key) for n in notes)
print("ok: %d signatures" % len(notes))
`
	if out, err := runPython(t, py, sigScript, pruned); err != nil || !strings.Contains(out, "ok:") {
		t.Fatalf("python signature check: %v\n%s", err, out)
	}
	forged := append([]string(nil), pruned...)
	for i, l := range forged {
		if strings.HasPrefix(l, `{"checkpoint"`) {
			forged[i] = strings.Replace(l, `\n4\n`, `\n5\n`, 1)
		}
	}
	if out, err := runPython(t, py, sigScript, forged); err == nil {
		t.Fatalf("python accepted a changed checkpoint: %s", out)
	}
}
