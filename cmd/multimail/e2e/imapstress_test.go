package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"multimail.dev/multimail/internal/dovecottest"
)

// TestIMAPStressVsDovecot runs `mmload imap` (8 clients, a random mix of LOGIN, SELECT, FETCH,
// STORE, SEARCH, APPEND, EXPUNGE and LOGOUT) against multimail (over IMAPS; it refuses LOGIN
// without TLS) and Dovecot (plain, ssl = no) in one run and logs both rates. It fails on any
// error on multimail's side; the rates are reported, not asserted (no wall-clock thresholds
// in tests). MULTIMAIL_IMAP_STRESS=10s sets the duration of each half (default 3s).
func TestIMAPStressVsDovecot(t *testing.T) {
	if testing.Short() {
		t.Skip("stress run")
	}
	dv := dovecottest.Start(t)
	n := Start(t, Options{})
	bin := filepath.Join(t.TempDir(), "mmload")
	if out, err := exec.Command("go", "build", "-o", bin, "multimail.dev/multimail/cmd/mmload").CombinedOutput(); err != nil {
		t.Fatalf("go build mmload: %v\n%s", err, out)
	}
	d := os.Getenv("MULTIMAIL_IMAP_STRESS")
	if d == "" {
		d = "3s"
	}
	run := func(label string, args ...string) (float64, int) {
		args = append([]string{"imap", "-c", "8", "-d", d, "--label", label}, args...)
		out, err := exec.Command(bin, args...).CombinedOutput()
		t.Logf("%s", out)
		if err != nil {
			t.Fatalf("mmload %s: %v", label, err)
		}
		m := regexp.MustCompile(`(\d+) errors in [0-9.]+s: (\d+) ops/s`).FindSubmatch(out)
		if m == nil {
			t.Fatalf("no result in %s", out)
		}
		errs, _ := strconv.Atoi(string(m[1]))
		rate, _ := strconv.ParseFloat(string(m[2]), 64)
		return rate, errs
	}
	dvRate, dvErrs := run("dovecot", "--addr", dv.Addr, "--tls", "none", "--user", Sender, "--pass", dovecottest.Password)
	mmRate, mmErrs := run("multimail", "--addr", Addr(n.Ports.IMAPS), "--tls", "implicit", "--user", Sender, "--pass", Password)
	t.Logf("IMAP stress: multimail %.0f ops/s (%d errors), Dovecot %.0f ops/s (%d errors): %.2f×", mmRate, mmErrs, dvRate, dvErrs, mmRate/max(dvRate, 1))
	if mmErrs > 0 {
		t.Errorf("multimail: %d errors under the IMAP stress mix", mmErrs)
	}
}
