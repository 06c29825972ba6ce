// Package interoptest finds the real interop clients the tests drive (swaks, python3, curl,
// mbsync, …). Without MULTIMAIL_INTEROP=1 a missing client skips the test; with it (as .ci/run
// sets), the test fails, so CI can never pass by skipping what it was meant to run.
package interoptest

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Required reports whether MULTIMAIL_INTEROP=1 turns a missing client into a failure.
func Required() bool { return os.Getenv("MULTIMAIL_INTEROP") == "1" }

// Tool returns the path of an interop client, or skips (fails under MULTIMAIL_INTEROP=1).
func Tool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	Missing(t, name+" not installed")
	return ""
}

// Missing skips the test with why, or fails it under MULTIMAIL_INTEROP=1.
func Missing(t testing.TB, why string) {
	t.Helper()
	if Required() {
		t.Fatalf("%s (MULTIMAIL_INTEROP=1 requires it)", why)
	}
	t.Skipf("%s (set MULTIMAIL_INTEROP=1 to require it)", why)
}

// Swaks returns the path of swaks after checking that it can do what the tests ask of it:
// `swaks --support` lists TLS and AUTH only when the Perl modules behind them are installed
// (libnet-ssleay-perl and libio-socket-ssl-perl for TLS), which a bare `apt-get install
// --no-install-recommends swaks` leaves out.
func Swaks(t testing.TB) string {
	t.Helper()
	p := Tool(t, "swaks")
	out, _ := exec.Command(p, "--support").CombinedOutput()
	for _, want := range []string{"=== TLS supported", "=== Basic AUTH supported"} {
		if !strings.Contains(string(out), want) {
			Missing(t, "swaks lacks a capability the tests need ("+want+"; install libnet-ssleay-perl and libio-socket-ssl-perl)")
		}
	}
	return p
}
