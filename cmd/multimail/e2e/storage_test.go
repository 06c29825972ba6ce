package e2e

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"

	"multimail.dev/multimail/internal/interoptest"
	"multimail.dev/multimail/mta/mtatest"
)

// smallDisk mounts a tmpfs of size bytes on a fresh directory and unmounts it when the test
// ends (after the node, whose Stop cleanup is registered later and so runs first). It needs
// root: without it the test is skipped, or fails under MULTIMAIL_INTEROP=1.
func smallDisk(t *testing.T, size int64) string {
	t.Helper()
	if os.Geteuid() != 0 {
		interoptest.Missing(t, "mounting a small filesystem needs root")
	}
	dir := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d,mode=0700", size), "tmpfs", dir).CombinedOutput()
	if err != nil {
		interoptest.Missing(t, fmt.Sprintf("mount tmpfs: %v %s", err, out))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", dir, err, out)
		}
	})
	return dir
}

// fillDisk writes zeros into path until the filesystem is full (ENOSPC), in bounded writes.
func fillDisk(t *testing.T, path string) int64 {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	var total int64
	for range 4096 { // 4 GiB at most: the disks here are a few MiB
		n, err := f.Write(buf)
		total += int64(n)
		if errors.Is(err, syscall.ENOSPC) {
			return total
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Fatal("the disk never filled")
	return 0
}

// health is the body of /healthz and /readyz.
type health struct {
	Status  string `json:"status"`
	Storage struct {
		State        string `json:"state"`
		FreeBytes    int64  `json:"free_bytes"`
		MinFreeBytes int64  `json:"min_free_bytes"`
		BallastBytes int64  `json:"ballast_bytes"`
	} `json:"storage"`
}

func getHealth(t *testing.T, n *Node, path string) (int, health) {
	t.Helper()
	code, body := n.Do("GET", path, "", nil)
	var h health
	if err := json.Unmarshal(body, &h); err != nil {
		t.Fatalf("%s: %v %s", path, err, body)
	}
	return code, h
}

const mib = 1 << 20

// TestFullDiskRefusesIntake fills the node's real (tmpfs) filesystem from outside, as another
// process would: intake stops with clear answers, the ballast is released, mail already queued
// is still delivered and read, and intake resumes by itself once space is freed.
func TestFullDiskRefusesIntake(t *testing.T) {
	t.Parallel()
	disk := smallDisk(t, 64*mib)
	cfg := "[storage]\nmin_free = \"16MiB\"\nballast = \"8MiB\"\n" +
		"[delivery]\nmin_backoff = \"5s\"\nmax_backoff = \"5s\"\n"
	n := Start(t, Options{DataDir: filepath.Join(disk, "data"), Config: cfg})
	ctx := Context(t, 120*time.Second)

	if _, h := getHealth(t, n, "/healthz"); h.Storage.BallastBytes != 8*mib || h.Storage.State != "ok" {
		t.Fatalf("at start: %+v", h)
	}
	// Mail queued before the disk fills: greylisted once, retried 5 s later.
	queued := send(t, n, `{"mailbox_id":"auth@example.com","to":"tempfail1-user@customer.test","subject":"queued before","text":"x"}`)
	if _, err := n.Hooks.WaitEvent(ctx, queued.MessageID, "deferred"); err != nil {
		t.Fatal(err)
	}

	filled := fillDisk(t, filepath.Join(disk, "filler"))
	fullAt := time.Now()
	var h health
	waitUntil(t, 30*time.Second, func() bool {
		code, got := getHealth(t, n, "/readyz")
		h = got
		return code == 503 && h.Storage.BallastBytes == 0
	})
	belowAt := time.Now()
	t.Logf("filler wrote %d MiB until ENOSPC; ballast released and readyz 503 %v later, free %d KiB",
		filled/mib, belowAt.Sub(fullAt).Round(time.Millisecond), h.Storage.FreeBytes>>10)
	if h.Status != "insufficient_storage" || h.Storage.FreeBytes >= 16*mib || h.Storage.FreeBytes < 7*mib {
		t.Fatalf("readyz below the floor: %+v (want the ballast's ~8 MiB free)", h)
	}
	if code, h := getHealth(t, n, "/healthz"); code != 200 || h.Status != "insufficient_storage" {
		t.Fatalf("healthz below the floor: %d %+v, want 200 saying insufficient_storage", code, h)
	}

	// The API refuses new mail with 503, Retry-After and a code.
	req, _ := json.Marshal(map[string]any{"mailbox_id": Sender, "to": "x@customer.test", "subject": "s", "text": "t"})
	resp, err := postRaw(n, "/v1/send_email", req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.code != 503 || resp.retryAfter == "" || !strings.Contains(resp.body, `"insufficient_storage"`) {
		t.Fatalf("send below the floor: %d Retry-After=%q %s", resp.code, resp.retryAfter, resp.body)
	}
	// IMAP APPEND answers NO [UNAVAILABLE].
	c := imapLogin(t, n)
	raw := "From: a@example.com\r\nSubject: draft\r\n\r\nhello\r\n"
	cmd := c.Append("INBOX", int64(len(raw)), nil)
	_, _ = cmd.Write([]byte(raw))
	_ = cmd.Close()
	var ie *imap.Error
	if _, err := cmd.Wait(); !errors.As(err, &ie) || ie.Type != imap.StatusResponseTypeNo || ie.Code != imap.ResponseCodeUnavailable {
		t.Fatalf("APPEND below the floor: %v, want NO [UNAVAILABLE]", err)
	}
	// SMTP answers 452 4.3.1 at MAIL FROM on port 25 and on submission alike.
	for _, port := range []int{n.Ports.SMTP, n.Ports.Submission} {
		sc, err := smtp.Dial(Addr(port))
		if err != nil {
			t.Fatal(err)
		}
		err = sc.Mail(Sender, nil)
		var se *smtp.SMTPError
		if !errors.As(err, &se) || se.Code != 452 || se.EnhancedCode != (smtp.EnhancedCode{4, 3, 1}) {
			t.Fatalf("MAIL FROM on port %d below the floor: %v, want 452 4.3.1", port, err)
		}
		_ = sc.Close()
	}
	// Delivery of what was queued goes on, and its events are written and read.
	ms, err := n.MX.WaitUntil(ctx, func(ms []mtatest.Message) bool { return len(ms) >= 1 })
	if err != nil {
		t.Fatal(err)
	}
	if ms[0].Received.Before(belowAt) {
		t.Fatalf("the queued message was delivered before the disk filled (%v < %v): the test proves nothing", ms[0].Received, belowAt)
	}
	if _, err := n.Hooks.WaitEvent(ctx, queued.MessageID, "delivered"); err != nil {
		t.Fatal(err)
	}
	if code, body := n.Do("GET", "/v1/messages/"+queued.MessageID, APIKey, nil); code != 200 || !strings.Contains(string(body), `"delivered"`) {
		t.Fatalf("reading below the floor: %d %s", code, body)
	}
	if code, body := n.Do("GET", "/metrics", "", nil); code != 200 || !strings.Contains(string(body), "multimail_storage_below_floor 1") {
		t.Fatalf("metrics below the floor lack multimail_storage_below_floor 1")
	}

	// Space comes back: intake resumes by itself.
	if err := os.Remove(filepath.Join(disk, "filler")); err != nil {
		t.Fatal(err)
	}
	freed := time.Now()
	waitUntil(t, 30*time.Second, func() bool { code, _ := getHealth(t, n, "/readyz"); return code == 200 })
	ready := time.Since(freed)
	var accepted time.Duration
	waitUntil(t, 30*time.Second, func() bool {
		r, err := postRaw(n, "/v1/send_email", req)
		accepted = time.Since(freed)
		return err == nil && r.code == 202
	})
	t.Logf("after freeing space: readyz 200 in %v, first send_email 202 in %v", ready.Round(time.Millisecond), accepted.Round(time.Millisecond))
	cmd = c.Append("INBOX", int64(len(raw)), nil)
	_, _ = cmd.Write([]byte(raw))
	_ = cmd.Close()
	if _, err := cmd.Wait(); err != nil {
		t.Fatalf("APPEND after space came back: %v", err)
	}
	// The ballast is back.
	waitUntil(t, 30*time.Second, func() bool { _, h := getHealth(t, n, "/healthz"); return h.Storage.BallastBytes == 8*mib })
	t.Logf("ballast recreated %v after freeing space", time.Since(freed).Round(time.Millisecond))
}

// TestDiskFullCommitFailureExits turns the floor and ballast off and fills the disk, so a
// Pebble commit fails: the node must exit non-zero with a clear line (not hang, not answer
// 200 on /healthz over a wedged store), and a restart after freeing space finds every message
// that got a 202.
func TestDiskFullCommitFailureExits(t *testing.T) {
	t.Parallel()
	disk := smallDisk(t, 64*mib)
	n := Start(t, Options{DataDir: filepath.Join(disk, "data"), Config: "[storage]\nmin_free = 0\nballast = 0\n"})
	// A few accepted messages before the disk fills.
	acked := map[string]bool{}
	for i := range 5 {
		acked[send(t, n, fmt.Sprintf(`{"mailbox_id":%q,"to":"before%d@customer.test","subject":"s","text":"x"}`, Sender, i)).MessageID] = true
	}
	fillDisk(t, filepath.Join(disk, "filler"))
	body := strings.Repeat("full disk ", 3000)
	start := time.Now()
	for i := 0; i < 500; i++ {
		req := fmt.Sprintf(`{"mailbox_id":%q,"to":"during%d@customer.test","subject":"s","text":%q}`, Sender, i, body)
		code, out, err := n.try("POST", "/v1/send_email", APIKey, []byte(req))
		if err != nil || code != 202 {
			break // the process is gone (or refused): nothing acknowledged
		}
		var r sendResp
		if err := json.Unmarshal(out, &r); err != nil {
			t.Fatal(err)
		}
		acked[r.MessageID] = true
	}
	status, ok := n.WaitExit(30 * time.Second)
	if !ok {
		t.Fatalf("the node did not exit within 30 s of its disk filling\n%s", n.Output())
	}
	t.Log(exitLine(n.Output()))
	t.Logf("exited with status %d %v after the disk filled; %d messages acknowledged", status, time.Since(start).Round(time.Millisecond), len(acked))
	if status == 0 {
		t.Fatalf("exit status 0 on a store failure\n%s", n.Output())
	}
	if !strings.Contains(n.Output(), "store failed: exiting") && !strings.Contains(n.Output(), "store panicked: exiting") {
		t.Fatalf("no clear log line for the store failure:\n%s", n.Output())
	}

	if err := os.Remove(filepath.Join(disk, "filler")); err != nil {
		t.Fatal(err)
	}
	n.Restart()
	for id := range acked {
		if code, body := n.Do("GET", "/v1/messages/"+id, APIKey, nil); code != 200 {
			t.Errorf("acknowledged %s lost after the restart: %d %s", id, code, body)
		}
	}
}

// rawResp is an HTTP answer with the header a test checks.
type rawResp struct {
	code       int
	retryAfter string
	body       string
}

func postRaw(n *Node, path string, body []byte) (rawResp, error) {
	req, err := http.NewRequest("POST", n.URL(path), bytes.NewReader(body))
	if err != nil {
		return rawResp{}, err
	}
	req.Header.Set("Authorization", "Bearer "+APIKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := httpClient.Do(req)
	if err != nil {
		return rawResp{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return rawResp{code: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), body: string(b)}, err
}

func imapLogin(t *testing.T, n *Node) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialStartTLS(Addr(n.Ports.IMAP), &imapclient.Options{TLSConfig: &tls.Config{InsecureSkipVerify: true}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(Sender, Password).Wait(); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestDataDirPrivate starts a node under umask 000 on a data directory made 0755 by hand with
// a 0644 file in it: the directory is repaired to 0700, every file the node has (Pebble's, the
// certificate, the pid file, the old file) is private, and the admin socket is 0600.
func TestDataDirPrivate(t *testing.T) {
	t.Parallel()
	dataDir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dataDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dataDir, 0o755); err != nil {
		t.Fatal(err)
	}
	old := filepath.Join(dataDir, "old-note")
	if err := os.WriteFile(old, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(old, 0o644); err != nil {
		t.Fatal(err)
	}
	n := Start(t, Options{DataDir: dataDir, Umask: "000"})
	send(t, n, `{"mailbox_id":"auth@example.com","to":"x@customer.test","subject":"s","text":"x"}`)
	n.Stop() // a flush: Pebble writes its tables and a new MANIFEST
	n.Restart()
	count := 0
	err := filepath.WalkDir(dataDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		count++
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s is %04o under umask 000: group/others can reach it", p, fi.Mode().Perm())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dataDir, "ctl.sock")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("ctl.sock: %v %v, want 0600", fi, err)
	}
	if fi, _ := os.Stat(dataDir); fi.Mode().Perm() != 0o700 {
		t.Fatalf("data dir %04o, want 0700", fi.Mode().Perm())
	}
	if count < 5 {
		t.Fatalf("only %d entries walked", count)
	}
}

// TestDataDirRefused: a data directory others may write to, or that another user owns, stops
// the start with a message naming the directory and the reason.
func TestDataDirRefused(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		setup func(dir string) error
		want  string
	}{
		{"world-writable", func(dir string) error { return os.Chmod(dir, 0o777) }, "mode 0777: group or others may write to it"},
		{"group-writable", func(dir string) error { return os.Chmod(dir, 0o770) }, "mode 0770"},
		{"another owner", func(dir string) error {
			if os.Geteuid() != 0 {
				return errSkip
			}
			return os.Chown(dir, 65534, 65534)
		}, "is owned by uid 65534"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			dataDir := filepath.Join(root, "data")
			if err := os.Mkdir(dataDir, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := tc.setup(dataDir); errors.Is(err, errSkip) {
				t.Skip("needs root")
			} else if err != nil {
				t.Fatal(err)
			}
			cfg := filepath.Join(root, "m.toml")
			src := fmt.Sprintf("data_dir = %q\n[listen]\nhttp = \"127.0.0.1:0\"\n", dataDir)
			if err := os.WriteFile(cfg, []byte(src), 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(Binary(t), "serve", "--config", cfg).CombinedOutput()
			if err == nil {
				t.Fatalf("serve started on a %s data dir:\n%s", tc.name, out)
			}
			if !strings.Contains(string(out), dataDir) || !strings.Contains(string(out), tc.want) {
				t.Fatalf("output does not name %s and %q:\n%s", dataDir, tc.want, out)
			}
		})
	}
}

var errSkip = errors.New("skip")

// TestSecondServeNamesTheHolder: a second serve on the same data dir says which process holds
// it, instead of Pebble's "resource temporarily unavailable".
func TestSecondServeNamesTheHolder(t *testing.T) {
	t.Parallel()
	n := Start(t, Options{})
	out, err := exec.Command(Binary(t), "serve", "--config", n.Config).CombinedOutput()
	if err == nil {
		t.Fatalf("a second serve started:\n%s", out)
	}
	want := "another multimail is running on " + n.DataDir() + " (pid " + strconv.Itoa(n.Pid()) + ")"
	if !strings.Contains(string(out), want) {
		t.Fatalf("output does not say %q:\n%s", want, out)
	}
}

// exitLine is the log line that says why the node exited.
func exitLine(out string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, ": exiting") {
			return l
		}
	}
	return "(no exit line)"
}
