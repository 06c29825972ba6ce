package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"multimail.dev/multimail/mta/mtatest"
)

// TestMemoryLargeSends is the memory benchmark of the API's largest requests against the real
// binary: MULTIMAIL_MEMBENCH=16 sends that many maximum-size requests (one attachment whose
// message is just under the 25 MiB message limit) at once, then reports the server's peak RSS (VmHWM)
// and its RSS ten seconds later. It measures, it asserts only that every send is answered
// 202 or 503 (the memory budget's "try again"):
//
//	MULTIMAIL_MEMBENCH=16 go test -run TestMemoryLargeSends -v ./cmd/multimail/e2e
func TestMemoryLargeSends(t *testing.T) {
	conc, _ := strconv.Atoi(os.Getenv("MULTIMAIL_MEMBENCH"))
	if conc <= 0 {
		t.Skip("MULTIMAIL_MEMBENCH=N runs the memory benchmark with N concurrent sends")
	}
	n := Start(t, Options{MX: mtatest.MXOptions{DiscardData: true}, Config: os.Getenv("MULTIMAIL_MEMBENCH_CONFIG")})
	raw := make([]byte, (25<<20-64<<10)*100/137) // base64 in 76-character lines is 1.37 times as big
	_, _ = rand.Read(raw)
	body := []byte(fmt.Sprintf(`{"mailbox_id":%q,"to":"user@customer.test","subject":"big","text":"x",`+
		`"attachments":[{"filename":"big.bin","content":%q}]}`, Sender, base64.StdEncoding.EncodeToString(raw)))
	raw = nil
	pid := n.cmd.Process.Pid
	t.Logf("body %d bytes; before: %s", len(body), memStatus(t, pid))
	var wg sync.WaitGroup
	codes := make([]int, conc)
	start := time.Now()
	for i := range conc {
		wg.Go(func() {
			code, out, err := post(n.URL("/v1/send_email"), body)
			if err != nil || (code != 202 && code != 503) {
				t.Errorf("send %d: %d %v %s", i, code, err, bytes.TrimSpace(out))
			}
			codes[i] = code
		})
	}
	wg.Wait()
	t.Logf("%d sends in %v: answers %v; after: %s", conc, time.Since(start).Round(time.Millisecond), codes, memStatus(t, pid))
	time.Sleep(10 * time.Second)
	t.Logf("ten seconds later: %s", memStatus(t, pid))
}

// memStatus returns the VmHWM (peak) and VmRSS lines of /proc/pid/status.
func memStatus(t *testing.T, pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM") || strings.HasPrefix(l, "VmRSS") {
			out = append(out, strings.Join(strings.Fields(l), " "))
		}
	}
	return strings.Join(out, ", ")
}

// post sends one request with a client that waits as long as the server needs.
func post(url string, body []byte) (int, []byte, error) {
	req, err := http.NewRequest("POST", url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+APIKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 5 * time.Minute}).Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	return resp.StatusCode, out, err
}
