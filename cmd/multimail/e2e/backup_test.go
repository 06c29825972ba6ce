package e2e

import (
	"crypto/tls"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"multimail.dev/multimail/mta/mtatest"
)

// uidValidity selects INBOX of Sender over IMAPS and returns its UIDVALIDITY.
func uidValidity(t *testing.T, n *Node) uint32 {
	t.Helper()
	c, err := imapclient.DialTLS(Addr(n.Ports.IMAPS), &imapclient.Options{TLSConfig: &tls.Config{InsecureSkipVerify: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(Sender, Password).Wait(); err != nil {
		t.Fatal(err)
	}
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	return sel.UIDValidity
}

// TestBackupRestoreUnderLoad backs a node up over its ctl socket while API sends keep
// arriving, restores the backup into a fresh data directory, starts a node on it, and finds
// every message acknowledged before the backup started and the email stored before it; the
// restored node has new UIDVALIDITYs, holds what was in flight for review instead of sending
// it, and its audit journal records the backup and the restore. A restore over the live data
// directory, or into a non-empty one, is refused.
func TestBackupRestoreUnderLoad(t *testing.T) {
	t.Parallel()
	n := Start(t, Options{MX: mtatest.MXOptions{Delay: 30 * time.Millisecond}})
	deliverInbound(t, n, "stored before the backup")
	before := uidValidity(t, n)

	type acked struct {
		id string
		at time.Time
	}
	var (
		mu    sync.Mutex
		acks  []acked
		stop  = make(chan struct{})
		wg    sync.WaitGroup
		fails int
	)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				select {
				case <-stop:
					return
				default:
				}
				body := []byte(`{"mailbox_id":"` + Sender + `","to":"load@customer.test","subject":"load","text":"x"}`)
				code, out, err := n.try("POST", "/v1/send_email", APIKey, body)
				if err != nil || code != 202 {
					mu.Lock()
					fails++
					mu.Unlock()
					continue
				}
				var r struct {
					MessageID string `json:"message_id"`
				}
				if json.Unmarshal(out, &r) == nil {
					mu.Lock()
					acks = append(acks, acked{r.MessageID, time.Now()})
					mu.Unlock()
				}
			}
		}()
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		k := len(acks)
		mu.Unlock()
		if k >= 40 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d sends acknowledged", k)
		}
	}
	dir := filepath.Join(t.TempDir(), "backup")
	started := time.Now()
	out := n.mustCLI(t, "backup", dir)
	mu.Lock()
	during := len(acks)
	mu.Unlock()
	close(stop)
	wg.Wait()
	if !strings.Contains(out, "warning:") || !strings.Contains(out, "private keys") {
		t.Errorf("backup output lacks the warning:\n%s", out)
	}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		want := os.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode().Perm(), want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"db", "tls/key.pem", "store-format", "MULTIMAIL-BACKUP.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("backup lacks %s: %v", f, err)
		}
	}
	t.Logf("%d sends acknowledged before the backup ended, %d refused", during, fails)

	if out, err := n.cli(t, "restore", dir, "--data-dir", n.DataDir()); err == nil || !strings.Contains(out, "another multimail is running") {
		t.Errorf("restore over the live node: %v\n%s", err, out)
	}
	full := t.TempDir()
	if err := os.WriteFile(filepath.Join(full, "x"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := n.cli(t, "restore", dir, "--data-dir", full); err == nil || !strings.Contains(out, "not empty") {
		t.Errorf("restore into a non-empty dir: %v\n%s", err, out)
	}
	fresh := filepath.Join(t.TempDir(), "restored")
	if out := n.mustCLI(t, "restore", dir, "--data-dir", fresh); !strings.Contains(out, "UIDVALIDITY") {
		t.Errorf("restore output:\n%s", out)
	}

	r := Start(t, Options{DataDir: fresh})
	mu.Lock()
	defer mu.Unlock()
	found, held := 0, 0
	for _, a := range acks {
		if !a.at.Before(started) {
			continue
		}
		code, body := r.Do("GET", "/v1/messages/"+a.id, APIKey, nil)
		if code != 200 {
			t.Errorf("message %s, acknowledged before the backup, is not in the restore: %d %s", a.id, code, body)
			continue
		}
		found++
		var m struct{ Status string }
		_ = json.Unmarshal(body, &m)
		switch m.Status {
		case "delivered":
		case "pending_approval":
			held++
		default:
			t.Errorf("restored message %s is %s: in flight must be held, not resent", a.id, m.Status)
		}
	}
	if found == 0 {
		t.Fatal("no message acknowledged before the backup")
	}
	code, body := r.Do("GET", "/v1/mailboxes/"+Sender+"/emails?folder=INBOX", APIKey, nil)
	if code != 200 || !strings.Contains(string(body), "stored before the backup") {
		t.Errorf("the stored email is not in the restore: %d %s", code, body)
	}
	if after := uidValidity(t, r); after <= before {
		t.Errorf("UIDVALIDITY %d after the restore, %d before: not renewed", after, before)
	}
	aps := r.mustCLI(t, "approvals", "list")
	if held > 0 && !strings.Contains(aps, "load") {
		t.Errorf("%d held messages, approvals list:\n%s", held, aps)
	}
	if c := r.MX.Count(); c != 0 {
		t.Errorf("the restored node sent %d messages nobody approved", c)
	}
	if ids := regexp.MustCompile(`apr_[0-9A-Za-z]+`).FindAllString(aps, -1); len(ids) > 0 {
		r.mustCLI(t, "approvals", "approve", ids[0], "--reason", "not sent by the old node")
		if _, err := r.MX.WaitFor(Context(t, 30*time.Second), 1); err != nil {
			t.Errorf("an approved held message was not sent: %v", err)
		}
	}
	// The backup is recorded on the node it was taken from (after the checkpoint, so not in
	// it); the restore on the restored node.
	if !strings.Contains(n.mustCLI(t, "audit", "export"), `"kind":"backup"`) {
		t.Errorf("the backed-up node's audit journal lacks the backup")
	}
	if a := r.mustCLI(t, "audit", "export"); !strings.Contains(a, `"kind":"restore"`) || !strings.Contains(a, `"messages_held"`) {
		t.Errorf("the restored node's audit journal lacks the restore")
	}

	if _, err := os.Stat(filepath.Join(fresh, "RESTORED.json")); err == nil {
		t.Errorf("the restore marker is still there after the start")
	}
	t.Logf("%d messages acknowledged before the backup found, %d held for review", found, held)
}

// TestStoreFormatUpgradeAndRefusal: a data directory written before the format file existed
// is upgraded at start with its data intact; one of a newer format is refused with a clear
// message and left as it was.
func TestStoreFormatUpgradeAndRefusal(t *testing.T) {
	t.Parallel()
	n := Start(t, Options{})
	id := sendAPI(t, n, "someone@customer.test", "before the upgrade")
	n.Stop()
	ff := filepath.Join(n.DataDir(), "store-format")
	if err := os.Remove(ff); err != nil {
		t.Fatal(err)
	}
	n.Restart()
	if b, err := os.ReadFile(ff); err != nil || strings.TrimSpace(string(b)) != "1" {
		t.Errorf("store-format after the upgrade: %q %v", b, err)
	}
	if code, _ := n.Do("GET", "/v1/messages/"+id, APIKey, nil); code != 200 {
		t.Errorf("message after the upgrade: %d", code)
	}
	if !strings.Contains(n.Output(), "data directory upgraded") {
		t.Errorf("the upgrade was not logged")
	}
	n.Stop()
	if err := os.WriteFile(ff, []byte("7\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := execServe(t, n)
	if err == nil || !strings.Contains(out, "store format 7, written by a newer multimail") {
		t.Errorf("a newer store format: %v\n%s", err, out)
	}
}

// execServe runs `serve` on n's config and expects it to exit at once (a refused start).
func execServe(t *testing.T, n *Node) (string, error) {
	t.Helper()
	cmd := exec.Command(Binary(t), "serve", "--config", n.Config)
	cmd.Dir = n.Dir
	done := make(chan struct{})
	var out []byte
	var err error
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
		return string(out), err
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("serve did not refuse the data directory:\n%s", out)
		return "", nil
	}
}
