package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"multimail.dev/multimail/internal/interoptest"
)

// TestAuditJournal drives approvals, a rejection, key creation, a mailbox and a domain added,
// and sends through the binary; then `multimail audit export` verifies with `multimail audit
// verify` (also against a checkpoint the auditor webhook received earlier), and fails naming
// the record when any field of any record is changed, a record removed, or two swapped.
func TestAuditJournal(t *testing.T) {
	t.Parallel()
	auditor := NewWebhookReceiver(t, WebhookOptions{})
	n := Start(t, Options{Config: fmt.Sprintf("[audit]\ncheckpoint_webhook = %q\ncheckpoint_secret = %q\ncheckpoint_interval = \"1s\"\n\n",
		auditor.URL(), WebhookToken)})
	n.mustCLI(t, "domain", "add", "agents.test", "--key-type", "ed25519")
	n.mustCLI(t, "mailbox", "add", "bot@agents.test", "--oversight", "gated_send")
	key := apiKeyLine.FindStringSubmatch(n.mustCLI(t, "key", "create", "--mailbox", "bot@agents.test", "--scope", "send,read"))
	if key == nil {
		t.Fatal("key create printed no key")
	}
	for _, subj := range []string{"needs a human", "will be refused"} {
		code, body := n.Do("POST", "/v1/send_email", key[1], []byte(`{"mailbox_id":"bot@agents.test","to":"someone@customer.test","subject":"`+subj+`","text":"code 123456"}`))
		if code != 202 {
			t.Fatalf("gated send = %d %s", code, body)
		}
	}
	ids := regexp.MustCompile(`apr_[0-9A-Za-z]+`).FindAllString(n.mustCLI(t, "approvals", "list"), -1)
	if len(ids) != 2 {
		t.Fatalf("approvals: %v", ids)
	}
	n.mustCLI(t, "approvals", "approve", ids[0], "--reason", "looks fine")
	n.mustCLI(t, "approvals", "reject", ids[1], "--reason", "not today")
	if code, body := n.Do("POST", "/v1/send_email", APIKey, []byte(`{"mailbox_id":"`+Sender+`","to":"x@customer.test","subject":"Your code 987654","text":"987654"}`)); code != 202 {
		t.Fatalf("send = %d %s", code, body)
	}

	// The auditor receives a signed checkpoint; keep it as the earlier anchor.
	hook, err := auditor.WaitFor(Context(t, 30*time.Second), func(h Hook) bool { return h.Event["type"] == "audit.checkpoint" })
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	early := filepath.Join(dir, "checkpoint.json")
	if err := os.WriteFile(early, hook.Body, 0o600); err != nil {
		t.Fatal(err)
	}
	nodeKey, _ := hook.Event["data"].(map[string]any)["key"].(string)
	n.mustCLI(t, "key", "create", "--mailbox", Sender, "--scope", "read")

	file := filepath.Join(dir, "journal.jsonl")
	n.mustCLI(t, "audit", "export", "-o", file)
	if out := n.mustCLI(t, "audit", "verify", file, "--key", nodeKey, "--against", early); !strings.Contains(out, "ok:") {
		t.Fatalf("verify:\n%s", out)
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n")
	checkJournalContent(t, string(raw))
	pythonVerify(t, file)

	// Every field of every record changed, every record removed, every adjacent pair swapped:
	// verify fails and names the record.
	recs := recordLines(t, lines)
	bad := filepath.Join(dir, "bad.jsonl")
	try := func(name string, mutated []string, seq uint64) {
		t.Helper()
		if err := os.WriteFile(bad, []byte(strings.Join(mutated, "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := n.cli(t, "audit", "verify", bad, "--key", nodeKey)
		if err == nil || !strings.Contains(out, fmt.Sprintf("record %d ", seq)) {
			t.Errorf("%s: verify did not name record %d: %v\n%s", name, seq, err, out)
		}
	}
	for _, r := range recs {
		var m map[string]any
		if err := json.Unmarshal([]byte(lines[r.line]), &m); err != nil {
			t.Fatal(err)
		}
		for field := range m {
			changed := map[string]any{}
			for k, v := range m {
				changed[k] = v
			}
			changed[field] = tamper(m[field])
			b, _ := json.Marshal(changed)
			mutated := append([]string(nil), lines...)
			mutated[r.line] = string(b)
			try(fmt.Sprintf("record %d field %s", r.seq, field), mutated, r.seq)
		}
		mutated := append(append([]string(nil), lines[:r.line]...), lines[r.line+1:]...)
		try(fmt.Sprintf("record %d removed", r.seq), mutated, r.seq)
	}
	t.Logf("%d records, each field changed, each removed, each adjacent pair swapped", len(recs))
	for i := 0; i+1 < len(recs); i++ {
		mutated := append([]string(nil), lines...)
		a, b := recs[i].line, recs[i+1].line
		mutated[a], mutated[b] = mutated[b], mutated[a]
		try(fmt.Sprintf("records %d and %d swapped", recs[i].seq, recs[i+1].seq), mutated, recs[i].seq)
	}
}

type recLine struct {
	line int
	seq  uint64
}

func recordLines(t *testing.T, lines []string) []recLine {
	t.Helper()
	var out []recLine
	for i, l := range lines {
		var r struct {
			Seq  uint64 `json:"seq"`
			Kind string `json:"kind"`
		}
		if json.Unmarshal([]byte(l), &r) == nil && r.Kind != "" {
			out = append(out, recLine{i, r.Seq})
		}
	}
	if len(out) < 10 {
		t.Fatalf("only %d records", len(out))
	}
	return out
}

// tamper returns a different value of the same JSON type.
func tamper(v any) any {
	switch x := v.(type) {
	case float64:
		return x + 1000
	case string:
		return x + "x"
	case []any:
		return append([]any{"00"}, x...)
	case map[string]any:
		c := map[string]any{"tampered": "1"}
		for k, v := range x {
			c[k] = v
		}
		return c
	}
	return "x"
}

// checkJournalContent: every kind of decision and change is there, with who did it, and no
// recipient address, subject or code.
func checkJournalContent(t *testing.T, journal string) {
	t.Helper()
	for _, want := range []string{
		`"kind":"domain.add","actor":"config"`, `"kind":"mailbox.add","actor":"config"`, `"kind":"key.create","actor":"config"`,
		`"kind":"domain.add","actor":"cli"`, `"kind":"mailbox.add","actor":"cli"`, `"kind":"key.create","actor":"cli"`,
		`"kind":"send","actor":"api:key_`, `"release":"pending"`, `"release":"immediate"`,
		`"kind":"approve","actor":"cli"`, `"reason":"looks fine"`, `"kind":"reject","actor":"cli"`, `"reason":"not today"`,
		`{"checkpoint":`,
	} {
		if !strings.Contains(journal, want) {
			t.Errorf("journal lacks %s", want)
		}
	}
	for _, leak := range []string{"customer.test", "needs a human", "987654", "123456", "mm_live_"} {
		if strings.Contains(journal, leak) {
			t.Errorf("journal holds %q", leak)
		}
	}
}

// pythonVerify runs docs/audit.md's Python verifier on a real export of the binary.
func pythonVerify(t *testing.T, file string) {
	t.Helper()
	py := interoptest.Tool(t, "python3")
	doc, err := os.ReadFile("../../../docs/audit.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```python\n(.*?)```").FindStringSubmatch(string(doc))
	if m == nil {
		t.Fatal("docs/audit.md has no python block")
	}
	script := filepath.Join(t.TempDir(), "verify.py")
	if err := os.WriteFile(script, []byte(m[1]), 0o600); err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	cmd := exec.Command(py, script)
	cmd.Stdin = in
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "ok: chain of") {
		t.Fatalf("the documented Python verifier on the export: %v\n%s", err, out)
	}
}

// TestAuditJournalSurvivesCrash: sends from parallel clients, a SIGKILL in the middle of
// them, a restart: the journal still verifies, holds a record for every acknowledged send,
// and goes on after the restart. A --mailbox export links through hash stubs.
func TestAuditJournalSurvivesCrash(t *testing.T) {
	t.Parallel()
	n := Start(t, Options{})
	acked := make(chan string, 64)
	done := make(chan struct{})
	for c := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 16 {
				code, body, err := n.try("POST", "/v1/send_email", APIKey,
					[]byte(fmt.Sprintf(`{"mailbox_id":%q,"to":"c%d-%d@customer.test","subject":"s","text":"t"}`, Sender, c, i)))
				if err != nil || code != 202 {
					return // the node was killed
				}
				acked <- regexp.MustCompile(`msg_[0-9A-Za-z]+`).FindString(string(body))
			}
		}()
	}
	for deadline := time.Now().Add(30 * time.Second); len(acked) < 20; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("only %d sends acknowledged in 30 s", len(acked))
		}
	}
	n.Kill()
	for range 4 {
		<-done
	}
	close(acked)
	n.Restart()
	if code, body := n.Do("POST", "/v1/send_email", APIKey, []byte(`{"mailbox_id":"`+Sender+`","to":"after@customer.test","subject":"s","text":"t"}`)); code != 202 {
		t.Fatalf("send after restart = %d %s", code, body)
	}
	file := filepath.Join(t.TempDir(), "journal.jsonl")
	n.mustCLI(t, "audit", "export", "-o", file)
	if out := n.mustCLI(t, "audit", "verify", file); !strings.Contains(out, "ok:") {
		t.Fatalf("verify after a crash:\n%s", out)
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	count := 0
	for id := range acked {
		count++
		if !strings.Contains(string(raw), `"object":"`+id+`"`) {
			t.Errorf("acknowledged send %s has no record after the crash", id)
		}
	}
	if count < 20 {
		t.Fatalf("only %d sends acknowledged", count)
	}
	stubs := filepath.Join(t.TempDir(), "mailbox.jsonl")
	n.mustCLI(t, "audit", "export", "--mailbox", Sender, "-o", stubs)
	if out := n.mustCLI(t, "audit", "verify", stubs); !regexp.MustCompile(`[1-9][0-9]* omitted`).MatchString(out) {
		t.Fatalf("verify of a --mailbox export:\n%s", out)
	}
}
