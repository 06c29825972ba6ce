package main

import (
	"go/build"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

const modulePath = "multimail.dev/multimail"

// allowed is docs/architecture.md's table of which project packages may import which. A sub-package
// (api/webhook, mta/dsn, …) belongs to its top-level folder and may also import its siblings.
var allowed = map[string][]string{
	"audit":      {},
	"queue":      {"audit", "pgdb"},              // pgdb: queue/pgqueue only
	"mailbox":    {"throttle", "budget", "pgdb"}, // pgdb: mailbox/pgstore only
	"smtpserver": {},
	"connlimit":  {},
	"diskfloor":  {},
	"throttle":   {},
	"dnsclient":  {},
	"budget":     {},
	"model":      {},
	"mta":        {"queue", "dnsclient"},
	"submission": {"queue", "mailbox", "smtpserver", "throttle", "identity", "api/wire"},
	"identity":   {},
	"inbound":    {"mailbox", "queue", "smtpserver", "dnsclient", "identity"},
	"pgdb":       {}, // PostgreSQL: pool, migrations, retrying transactions
	"api/wire":   {}, // a leaf: the wire types the server (submission), the CLI and MCP share
	"api":        {"submission", "queue", "mailbox", "diskfloor", "throttle", "budget", "audit", "identity"},
}

// TestImportsFollowDesign fails on any import edge between project packages that docs/architecture.md's
// table does not have, and on any import of cmd/.
func TestImportsFollowDesign(t *testing.T) {
	t.Parallel()
	root := "../.."
	for top, may := range allowed {
		dirs := packageDirs(t, filepath.Join(root, top))
		for _, dir := range dirs {
			for _, imp := range projectImports(t, dir) {
				rel := strings.TrimPrefix(imp.path, modulePath+"/")
				dest := strings.SplitN(rel, "/", 2)[0]
				if rel == "api/wire" || strings.HasPrefix(rel, "api/wire/") {
					dest = "api/wire" // the one leaf below another package's folder
				}
				if dest == top || strings.HasPrefix(dest, top+"/") || contains(may, dest) || imp.test && isTestKit(rel) {
					continue
				}
				pkg, _ := filepath.Rel(root, dir)
				t.Errorf("%s imports %s: not allowed by docs/architecture.md (%s may import %v)", pkg, rel, top, may)
			}
		}
	}
}

func packageDirs(t *testing.T, top string) []string {
	var dirs []string
	filepath.WalkDir(top, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) {
			return filepath.SkipDir
		}
		if d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	sort.Strings(dirs)
	return dirs
}

// isTestKit reports whether a package is a test kit (mta/mtatest, mailbox/storetest): real
// peers and conformance suites that any package's tests may use, as net/http/httptest is.
func isTestKit(rel string) bool {
	return strings.HasSuffix(rel, "test") && strings.Contains(rel, "/")
}

type importEdge struct {
	path string
	test bool // imported only by _test.go files
}

// projectImports lists a directory's imports of project packages, tests included (a test of
// a leaf that imports a listener would bend the arrows too).
func projectImports(t *testing.T, dir string) []importEdge {
	pkg, err := build.ImportDir(dir, build.ImportComment)
	if err != nil {
		if _, ok := err.(*build.NoGoError); ok {
			return nil
		}
		t.Fatalf("%s: %v", dir, err)
	}
	var out []importEdge
	for i, list := range [][]string{pkg.Imports, pkg.TestImports, pkg.XTestImports} {
		for _, imp := range list {
			if strings.HasPrefix(imp, modulePath+"/") {
				out = append(out, importEdge{path: imp, test: i > 0})
			}
		}
	}
	return out
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
