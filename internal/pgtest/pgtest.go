// Package pgtest gives tests a throwaway PostgreSQL database.
//
// A test package that needs one calls Main from its TestMain; each DSN(t) then returns the
// DSN of a fresh, empty schema (search_path set to it) dropped at the test's cleanup. The
// cluster behind it is either
//
//   - MULTIMAIL_TEST_PG, a DSN (URL form: postgres://…) of a database the tests may create
//     schemas in, when set; or
//   - a cluster of its own, started at the first DSN call: initdb into a temp dir, then the
//     postgres server as a child of the test binary, listening on 127.0.0.1 on a free port
//     with its unix socket in the temp dir, fsync and synchronous_commit on. It is stopped
//     and the temp dir removed when the tests end; the child also gets SIGQUIT if the test
//     binary dies (Linux parent-death signal), so a killed test run leaves no server behind.
//
// initdb and postgres refuse to run as root: as root they run as the user "nobody" with the
// temp dir given to it. The binaries are looked for in MULTIMAIL_PG_BIN, then
// /usr/lib/postgresql/15/bin, then any /usr/lib/postgresql/*/bin (newest first). Without
// them a test skips, and fails under MULTIMAIL_INTEROP=1 (internal/interoptest).
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"multimail.dev/multimail/internal/interoptest"
)

// EnvDSN names the environment variable of an existing database to test against.
const EnvDSN = "MULTIMAIL_TEST_PG"

var (
	mainCalled bool
	once       sync.Once
	base       string // DSN of the cluster's database, "" if unavailable
	baseErr    error  // why it is unavailable
	skipOnly   bool   // the binaries are missing: skip rather than fail
	cluster    *server
	schemaSeq  atomic.Int64
)

// Main runs the tests of a package that uses DSN and stops the cluster (if one was started)
// afterwards: func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }.
func Main(m *testing.M) int {
	mainCalled = true
	code := m.Run()
	if cluster != nil {
		cluster.stop()
	}
	return code
}

// DSN returns the DSN of a fresh, empty schema of a PostgreSQL database, dropped when t ends.
// Without PostgreSQL it skips t (fails it under MULTIMAIL_INTEROP=1).
func DSN(t testing.TB) string {
	t.Helper()
	if !mainCalled {
		t.Fatal("pgtest: call pgtest.Main from the package's TestMain")
	}
	once.Do(start)
	if base == "" {
		if skipOnly {
			interoptest.Missing(t, "PostgreSQL: "+baseErr.Error())
		}
		t.Fatalf("pgtest: %v", baseErr)
	}
	schema := fmt.Sprintf("mmtest_%d_%d", os.Getpid(), schemaSeq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("pgtest: connect: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("pgtest: drop schema: %v", err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("pgtest: drop schema: %v", err)
		}
	})
	return WithSearchPath(base, schema)
}

// WithSearchPath returns dsn (a URL) with its search_path set to schema.
func WithSearchPath(dsn, schema string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" {
		return dsn + " search_path=" + schema // keyword/value form
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func start() {
	if dsn := os.Getenv(EnvDSN); dsn != "" {
		base = dsn
		return
	}
	bin, err := binDir()
	if err != nil {
		baseErr, skipOnly = err, true
		return
	}
	var last error
	for range 3 { // a free port can be taken between choosing and binding it
		s, err := startServer(bin)
		if err == nil {
			cluster, base = s, s.dsn
			return
		}
		last = err
	}
	baseErr = last
}

// binDir finds the directory of initdb and postgres.
func binDir() (string, error) {
	cands := []string{os.Getenv("MULTIMAIL_PG_BIN"), "/usr/lib/postgresql/15/bin"}
	more, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(more, func(i, j int) bool { return version(more[i]) > version(more[j]) })
	for _, d := range append(cands, more...) {
		if d == "" {
			continue
		}
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			if _, err := os.Stat(filepath.Join(d, "postgres")); err == nil {
				return d, nil
			}
		}
	}
	return "", errors.New("initdb/postgres not found in /usr/lib/postgresql/*/bin (apt-get install postgresql-15, or set " + EnvDSN + ")")
}

func version(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// server is a cluster started by this package.
type server struct {
	dir    string
	cmd    *exec.Cmd
	dsn    string
	exited chan struct{} // closed when the server process has exited
}

// startServer runs initdb and postgres in a new temp dir.
func startServer(bin string) (*server, error) {
	dir, err := os.MkdirTemp("", "multimail-pg-")
	if err != nil {
		return nil, err
	}
	cred, err := unprivileged(dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "-A", "trust",
		"-E", "UTF8", "--locale=C", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	initdb.Dir = dir
	if out, err := initdb.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %v: %s", err, out)
	}
	port, err := freePort()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "postgres.log"))
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-k", dir, "-h", "127.0.0.1",
		"-p", strconv.Itoa(port), "-c", "fsync=on", "-c", "synchronous_commit=on",
		"-c", "max_connections=400", "-c", "listen_addresses=127.0.0.1")
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT, Setpgid: true}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("postgres: %w", err)
	}
	s := &server{dir: dir, cmd: cmd, exited: make(chan struct{}),
		dsn: fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)}
	go func() { cmd.Wait(); close(s.exited) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, err := pgx.Connect(ctx, s.dsn)
		if err == nil {
			conn.Close(ctx)
			cancel()
			return s, nil
		}
		cancel()
		select {
		case <-s.exited:
			log, _ := os.ReadFile(filepath.Join(dir, "postgres.log"))
			os.RemoveAll(dir)
			return nil, fmt.Errorf("postgres exited: %s", log)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("postgres did not accept connections within 60 s: %v", err)
		}
	}
}

// stop shuts the server down (fast shutdown, then immediate) and removes its directory.
func (s *server) stop() {
	done := s.exited
	s.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		s.cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			s.cmd.Process.Kill()
		}
	}
	os.RemoveAll(s.dir)
}

// unprivileged returns the credential to run initdb and postgres with: nil unless running as
// root, then the user nobody, to whom dir is given.
func unprivileged(dir string) (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("nobody")
	if err != nil {
		return nil, fmt.Errorf("running as root and no user nobody to run postgres as: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		return nil, err
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// freePort returns a TCP port free on 127.0.0.1 a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
