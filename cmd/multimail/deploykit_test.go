package main

import (
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"multimail.dev/multimail/internal/interoptest"
)

// dockerInstr is one Dockerfile instruction with its continuation lines joined.
type dockerInstr struct{ op, args string }

// parseDockerfile reads the instructions of a Dockerfile (comments dropped, "\" continuations
// joined), enough to check what the image is; the docker engine is not needed.
func parseDockerfile(t *testing.T, path string) []dockerInstr {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []dockerInstr
	var cur string
	for _, line := range strings.Split(string(src), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if s, ok := strings.CutSuffix(line, "\\"); ok {
			cur += s + " "
			continue
		}
		cur += line
		op, args, _ := strings.Cut(cur, " ")
		out = append(out, dockerInstr{strings.ToUpper(op), strings.TrimSpace(args)})
		cur = ""
	}
	return out
}

// TestDockerfile: two stages; the build stage makes a static binary with CGO_ENABLED=0 (its go
// build command is run here under MULTIMAIL_INTEROP=1 and the result checked: no interpreter,
// no shared libraries); the image runs it as a non-root user with /data as a volume and a HEALTHCHECK on /readyz.
func TestDockerfile(t *testing.T) {
	t.Parallel()
	ins := parseDockerfile(t, "../../Dockerfile")
	var froms, build []string
	var final []dockerInstr
	stage := -1
	for _, in := range ins {
		if in.op == "FROM" {
			froms = append(froms, in.args)
			stage++
			continue
		}
		if stage == 0 && in.op == "RUN" {
			build = append(build, in.args)
		}
		if stage == 1 {
			final = append(final, in)
		}
	}
	if len(froms) != 2 || !strings.HasSuffix(froms[0], " AS build") {
		t.Fatalf("want two stages, the first named build: %v", froms)
	}
	want := map[string]func(string) bool{
		"USER":        func(a string) bool { u, _, _ := strings.Cut(a, ":"); return u != "" && u != "root" && u != "0" },
		"VOLUME":      func(a string) bool { return strings.Contains(a, `"/data"`) },
		"HEALTHCHECK": func(a string) bool { return strings.Contains(a, "/readyz") },
		"COPY":        func(a string) bool { return strings.HasPrefix(a, "--from=build ") },
		"ENTRYPOINT":  func(a string) bool { return strings.Contains(a, "multimail") },
	}
	for op, ok := range want {
		found := false
		for _, in := range final {
			found = found || (in.op == op && ok(in.args))
		}
		if !found {
			t.Errorf("the image stage has no fitting %s", op)
		}
	}
	var goBuild string
	for _, r := range build {
		if strings.Contains(r, "go build") {
			goBuild = r
		}
	}
	if !strings.Contains(goBuild, "CGO_ENABLED=0") {
		t.Fatalf("the build stage's go build is not CGO_ENABLED=0: %q", goBuild)
	}
	if testing.Short() || !interoptest.Required() {
		// The static, trimmed build shares nothing with the test build's cache: a cold
		// run recompiles every dependency (minutes on two cores). CI runs it.
		t.Skip("not running the build stage's go build (MULTIMAIL_INTEROP=1 runs it)")
	}
	// Run the build stage's command in the repository (the build stage's /src), writing
	// where the test can look.
	out := filepath.Join(t.TempDir(), "multimail")
	cmdline := regexp.MustCompile(`-o \S+`).ReplaceAllString(goBuild, "-o "+out)
	cmd := exec.Command("sh", "-c", cmdline)
	cmd.Dir = "../.."
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", cmdline, err, b)
	}
	f, err := elf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary has an ELF interpreter: not static")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("the binary needs shared libraries %v", libs)
	}
	if v, err := exec.Command(out, "--help").CombinedOutput(); !bytes.Contains(v, []byte("serve")) {
		t.Errorf("built binary does not run: %v\n%s", err, v)
	}
}

// TestCompose: the compose file parses, builds the node from the Dockerfile with a data volume
// at /data and the config mounted read-only, publishes the mail ports, and has the webhook
// receiver example whose Dockerfile exists.
func TestCompose(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile("../../deploy/compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Services map[string]struct {
			Build struct {
				Context    string `yaml:"context"`
				Dockerfile string `yaml:"dockerfile"`
			} `yaml:"build"`
			Ports       []string          `yaml:"ports"`
			Volumes     []string          `yaml:"volumes"`
			Environment map[string]string `yaml:"environment"`
			CapDrop     []string          `yaml:"cap_drop"`
		} `yaml:"services"`
		Volumes map[string]any `yaml:"volumes"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(src))
	dec.KnownFields(false)
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	node, ok := c.Services["multimail"]
	if !ok {
		t.Fatal("no multimail service")
	}
	for name, s := range c.Services {
		df := filepath.Join("../../deploy", s.Build.Context, s.Build.Dockerfile)
		if _, err := os.Stat(df); err != nil {
			t.Errorf("service %s: build file: %v", name, err)
		}
		if len(s.CapDrop) == 0 || s.CapDrop[0] != "ALL" {
			t.Errorf("service %s does not drop capabilities", name)
		}
	}
	for _, p := range []string{"25:25", "587:587", "465:465", "993:993", "443:443"} {
		if !strings.Contains(strings.Join(node.Ports, " "), p) {
			t.Errorf("port %s not published: %v", p, node.Ports)
		}
	}
	vols := strings.Join(node.Volumes, " ")
	if !strings.Contains(vols, "data:/data") || !strings.Contains(vols, ":/etc/multimail/multimail.toml:ro") {
		t.Errorf("volumes = %v", node.Volumes)
	}
	if _, ok := c.Volumes["data"]; !ok {
		t.Error("no named volume data")
	}
	if _, ok := c.Services["webhook-receiver"]; !ok {
		t.Error("no webhook-receiver example")
	}
	for _, in := range parseDockerfile(t, "../../deploy/webhook-receiver.Dockerfile") {
		if in.op == "CMD" && !strings.Contains(in.args, "agent_webhook.py") {
			t.Errorf("receiver runs %s", in.args)
		}
	}
}

// TestSystemdUnit: deploy/multimail.service has the hardening the deployment guide promises,
// and systemd-analyze verify finds nothing to say about it (ExecStart pointed at a binary that
// exists here).
func TestSystemdUnit(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile("../../deploy/multimail.service")
	if err != nil {
		t.Fatal(err)
	}
	unit := string(src)
	for _, line := range []string{"User=multimail", "AmbientCapabilities=CAP_NET_BIND_SERVICE",
		"CapabilityBoundingSet=CAP_NET_BIND_SERVICE", "NoNewPrivileges=yes", "ProtectSystem=strict",
		"ReadWritePaths=/var/lib/multimail", "ProtectHome=yes", "PrivateTmp=yes",
		"RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX", "SystemCallFilter=@system-service",
		"ExecReload=/bin/kill -HUP $MAINPID", "StateDirectoryMode=0700"} {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(line) + `$`).MatchString(unit) {
			t.Errorf("unit lacks %q", line)
		}
	}
	if runtime.GOOS != "linux" {
		t.Skip("systemd-analyze: linux only")
	}
	sa := interoptest.Tool(t, "systemd-analyze")
	tmp := filepath.Join(t.TempDir(), "multimail.service")
	if err := os.WriteFile(tmp, []byte(strings.ReplaceAll(unit, "/usr/local/bin/multimail", "/bin/true")), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(sa, "verify", tmp).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}
