package model

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"multimail.dev/multimail/internal/interoptest"
)

var full = flag.Bool("full", false, "also check the model at two messages of two recipients (minutes)")

// check is one spin run of gating.pml: the preprocessor flags, whether it checks the liveness
// claim, and what it must find.
type check struct {
	name     string
	defines  []string
	liveness bool
	// want is "" for no error, else a fragment of the assertion spin must report violated.
	want string
}

// TestGatingModel checks the model's safety properties (assertions and end states) and its
// liveness claim under weak fairness with spin, at two sizes: one message of two recipients
// with two crashes, and two messages of one recipient with one crash (two messages of two
// recipients with two crashes is ~10^8 states: `go test -run TestGatingModel -full`, by hand).
func TestGatingModel(t *testing.T) {
	t.Parallel()
	checks := []check{
		{name: "safety 1x2 two crashes", defines: []string{"-DNM=1", "-DNR=2", "-DMAXCRASH=2"}},
		{name: "safety 2x1 one crash", defines: []string{"-DNM=2", "-DNR=1", "-DMAXCRASH=1"}},
		{name: "liveness 1x2 two crashes", defines: []string{"-DNM=1", "-DNR=2", "-DMAXCRASH=2"}, liveness: true},
	}
	if *full {
		checks = append(checks, check{name: "safety 2x2 two crashes", defines: []string{"-DNM=2", "-DNR=2", "-DMAXCRASH=2"}})
	}
	runChecks(t, checks)
}

// TestGatingModelCatchesBrokenVariants shows the properties have teeth: each deliberately
// broken variant of the model (see gating.pml's header) is caught.
func TestGatingModelCatchesBrokenVariants(t *testing.T) {
	t.Parallel()
	base := []string{"-DNM=1", "-DNR=2", "-DMAXCRASH=2"}
	runChecks(t, []check{
		{name: "enqueue before approval", defines: append(base, "-DBROKEN_ENQUEUE_BEFORE_APPROVAL"), want: "!(gated[m])"},
		{name: "decide check then act", defines: append(base, "-DBROKEN_DECIDE_CHECK_THEN_ACT"), want: "decisions[0]==1"},
		{name: "no fencing", defines: append(base, "-DBROKEN_NO_FENCING"), want: "terminal["},
		{name: "open drops leases", defines: append(base, "-DBROKEN_OPEN_DROPS_LEASES"), want: "terminal[i]==1"},
	})
}

func runChecks(t *testing.T, checks []check) {
	spin := interoptest.Tool(t, "spin")
	cc := interoptest.Tool(t, "cc")
	src, err := os.ReadFile("gating.pml")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			out := runSpin(t, spin, cc, src, c)
			errs := spinErrors(t, out)
			switch {
			case c.want == "" && errs != 0:
				t.Fatalf("spin found %d errors:\n%s", errs, out)
			case c.want != "" && errs == 0:
				t.Fatalf("spin did not catch the broken variant:\n%s", out)
			case c.want != "" && !strings.Contains(out, c.want):
				t.Fatalf("spin found an error, but not the expected %q:\n%s", c.want, out)
			}
			if m := regexp.MustCompile(`(\d+) states, stored`).FindStringSubmatch(out); m != nil {
				t.Logf("%s states stored", m[1])
			}
		})
	}
}

// runSpin generates the verifier (pan.c), compiles it and runs it in a temporary directory.
func runSpin(t *testing.T, spin, cc string, src []byte, c check) string {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "gating.pml"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	defines := slices.Clone(c.defines)
	if c.liveness {
		defines = append(defines, "-DLIVENESS")
	}
	run(t, dir, spin, append(append([]string{}, defines...), "-a", "gating.pml")...)
	ccArgs := []string{"-O2", "-o", "pan", "pan.c", "-DNFAIR=4", "-DVECTORSZ=4096"}
	panArgs := []string{"-m200000"}
	if c.liveness {
		panArgs = append(panArgs, "-a", "-f")
	} else {
		ccArgs = append(ccArgs, "-DSAFETY")
	}
	run(t, dir, cc, ccArgs...)
	cmd := exec.Command(filepath.Join(dir, "pan"), panArgs...)
	cmd.Dir = dir
	out, _ := cmd.CombinedOutput() // pan exits non-zero on errors; the report says which
	return string(out)
}

func run(t *testing.T, dir, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// spinErrors reads "errors: N" from pan's report; a report without it is a failed run.
func spinErrors(t *testing.T, out string) int {
	t.Helper()
	m := regexp.MustCompile(`errors: (\d+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("pan printed no result:\n%s", out)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}
