// Package unboundtest gives tests a DNSSEC-validating resolver: Debian's unbound, validating
// a zone signed by ldns-signzone and served by this package's authoritative server.
//
// Start writes the zone (an SOA, an NS and the caller's records), makes a KSK and a ZSK with
// ldns-keygen, signs the zone with ldns-signzone (NSEC), and serves the signed records with
// their RRSIGs and NSEC denial proofs from 127.0.0.1 (UDP and TCP, one port). The owners
// named in Options.Expired get signatures from a second signing whose validity ended in 2020,
// so a validator finds their answers bogus. unbound then runs as the current user (no chroot,
// no privilege drop, its config, pid file and log in a temp dir), with the KSK's DS as its
// trust anchor, a stub zone to the authoritative server, do-not-query-localhost off and no
// other upstream: it answers names of the zone with the AD bit, a bogus answer with SERVFAIL.
// Both are stopped when the test ends (unbound is killed, and also gets SIGKILL if the test
// binary dies first).
//
// Without unbound, ldns-keygen or ldns-signzone (Debian packages unbound and ldnsutils) a
// test skips, and fails under MULTIMAIL_INTEROP=1 (internal/interoptest).
package unboundtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"multimail.dev/multimail/internal/interoptest"
)

// Options describe the signed zone.
type Options struct {
	// Origin is the zone's name, e.g. "test."; every record must be in it.
	Origin string
	// Records are zone-file lines ("good.test. 60 IN MX 10 mx.good.test."); the SOA and the
	// NS (ns.<origin>, 127.0.0.1) are added.
	Records []string
	// Expired are owner names whose RRSIGs are replaced by expired ones: bogus answers.
	Expired []string
}

// Resolver is a running validating unbound and the authoritative server behind it.
type Resolver struct {
	// Addr is unbound's "127.0.0.1:port" (UDP and TCP).
	Addr string
	// Auth is the authoritative server, for tests that ask it directly.
	Auth *Authority
	dir  string
}

// Start signs and serves the zone and starts unbound in front of it; both stop when t ends.
func Start(t testing.TB, o Options) *Resolver {
	t.Helper()
	bins := map[string]string{}
	for _, name := range []string{"unbound", "ldns-keygen", "ldns-signzone"} {
		p, err := exec.LookPath(name)
		if err != nil {
			p = "/usr/sbin/" + name // unbound is in sbin, which a user's PATH may lack
			if _, serr := os.Stat(p); serr != nil {
				interoptest.Missing(t, name+" not installed (Debian packages unbound, ldnsutils)")
				return nil
			}
		}
		bins[name] = p
	}
	dir := t.TempDir()
	signed, expired, ds, err := sign(bins, dir, o)
	if err != nil {
		t.Fatalf("unboundtest: sign zone: %v", err)
	}
	auth, err := serve(o.Origin, signed, expired, o.Expired)
	if err != nil {
		t.Fatalf("unboundtest: serve zone: %v", err)
	}
	t.Cleanup(func() { _ = auth.Close() })
	if err := os.WriteFile(filepath.Join(dir, "anchor.ds"), ds, 0o600); err != nil {
		t.Fatal(err)
	}
	r := &Resolver{Auth: auth, dir: dir}
	for attempt := 0; attempt < 5; attempt++ { // a free port taken in between: try another
		if err = r.startUnbound(t, bins["unbound"], o.Origin); err == nil {
			return r
		}
	}
	log, _ := os.ReadFile(filepath.Join(dir, "unbound.log"))
	t.Fatalf("unboundtest: unbound did not start: %v\n%s", err, log)
	return nil
}

// sign writes the zone, makes the keys and returns the signed zone, the same zone signed
// with expired signatures, and the KSK's DS record.
func sign(bins map[string]string, dir string, o Options) (signed, expired, ds []byte, err error) {
	origin := dns.Fqdn(o.Origin)
	var zone bytes.Buffer
	fmt.Fprintf(&zone, "$ORIGIN %s\n$TTL 60\n", origin)
	fmt.Fprintf(&zone, "@ IN SOA ns.%s hostmaster.%s 1 3600 600 86400 60\n", origin, origin)
	fmt.Fprintf(&zone, "@ IN NS ns.%s\nns.%s IN A 127.0.0.1\n", origin, origin)
	for _, l := range o.Records {
		zone.WriteString(l + "\n")
	}
	zf := filepath.Join(dir, "zone")
	if err := os.WriteFile(zf, zone.Bytes(), 0o600); err != nil {
		return nil, nil, nil, err
	}
	run := func(name string, args ...string) (string, error) { // stdout: ldns-keygen's key name
		cmd := exec.Command(bins[name], args...)
		cmd.Dir = dir
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, stderr.Bytes())
		}
		return strings.TrimSpace(string(out)), nil
	}
	ksk, err := run("ldns-keygen", "-a", "ECDSAP256SHA256", "-k", origin)
	if err != nil {
		return nil, nil, nil, err
	}
	zsk, err := run("ldns-keygen", "-a", "ECDSAP256SHA256", origin)
	if err != nil {
		return nil, nil, nil, err
	}
	if _, err := run("ldns-signzone", "-o", origin, "-f", "zone.signed", zf, ksk, zsk); err != nil {
		return nil, nil, nil, err
	}
	if _, err := run("ldns-signzone", "-o", origin, "-f", "zone.expired", "-i", "20200101", "-e", "20200201",
		zf, ksk, zsk); err != nil {
		return nil, nil, nil, err
	}
	signed, err = os.ReadFile(filepath.Join(dir, "zone.signed"))
	if err != nil {
		return nil, nil, nil, err
	}
	expired, err = os.ReadFile(filepath.Join(dir, "zone.expired"))
	if err != nil {
		return nil, nil, nil, err
	}
	ds, err = os.ReadFile(filepath.Join(dir, ksk+".ds"))
	return signed, expired, ds, err
}

// startUnbound runs unbound on a free port and waits until it answers the zone's SOA with
// the AD bit (the trust anchor works).
func (r *Resolver) startUnbound(t testing.TB, bin, origin string) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	authHost, authPort, _ := net.SplitHostPort(r.Auth.Addr())
	f := func(name string) string { return strconv.Quote(filepath.Join(r.dir, name)) }
	conf := fmt.Sprintf(`server:
	username: ""
	chroot: ""
	directory: %s
	pidfile: %s
	logfile: %s
	use-syslog: no
	verbosity: 1
	val-log-level: 2
	interface: 127.0.0.1
	port: %d
	do-ip6: no
	do-not-query-localhost: no
	qname-minimisation: no
	module-config: "validator iterator"
	trust-anchor-file: %s
	trust-anchor-signaling: no
	root-key-sentinel: no
	num-threads: 1
	local-zone: %q nodefault
remote-control:
	control-enable: no
stub-zone:
	name: %q
	stub-addr: %s@%s
stub-zone:
	name: "."
	stub-addr: %s@%s
`, strconv.Quote(r.dir), f("unbound.pid"), f("unbound.log"), port, f("anchor.ds"),
		dns.Fqdn(origin), dns.Fqdn(origin), authHost, authPort, authHost, authPort)
	confFile := filepath.Join(r.dir, "unbound.conf")
	if err := os.WriteFile(confFile, []byte(conf), 0o600); err != nil {
		return err
	}
	cmd := exec.Command(bin, "-d", "-c", confFile)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("unbound exited: %v", err)
		default:
		}
		if ad, err := querySOA(addr, origin); err == nil {
			if !ad {
				stop(cmd, exited)
				return errors.New("unbound answers the zone without the AD bit: the trust anchor does not validate")
			}
			r.Addr = addr
			t.Cleanup(func() { stop(cmd, exited) })
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop(cmd, exited)
	return errors.New("unbound did not answer within 15s")
}

// stop ends unbound: SIGTERM (it flushes its log), SIGKILL after 5s.
func stop(cmd *exec.Cmd, exited <-chan error) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
}

func querySOA(addr, origin string) (bool, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(origin), dns.TypeSOA)
	m.SetEdns0(4096, true)
	c := &dns.Client{Timeout: time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	resp, _, err := c.ExchangeContext(ctx, m, addr)
	if err != nil {
		return false, err
	}
	if resp.Rcode != dns.RcodeSuccess {
		return false, fmt.Errorf("SOA %s: %s", origin, dns.RcodeToString[resp.Rcode])
	}
	return resp.AuthenticatedData, nil
}

// freePort returns a port free on 127.0.0.1 for both UDP and TCP (at the time of asking).
func freePort() (int, error) {
	for range 20 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		ln, err := net.Listen("tcp", pc.LocalAddr().String())
		_ = pc.Close()
		if err == nil {
			_ = ln.Close()
			return port, nil
		}
	}
	return 0, errors.New("no free port")
}
