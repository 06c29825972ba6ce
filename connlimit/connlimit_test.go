package connlimit

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

const refusal = "421 4.7.0 mx.test Too many connections, try again later\r\n"

// server accepts through a capped listener and keeps every admitted connection open, sending
// each a greeting, until the test ends; admitted delivers them.
func server(t *testing.T, lim *Limiter, tlsConfig *tls.Config) (addr string, admitted chan net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	capped := lim.Listener(ln, tlsConfig)
	t.Cleanup(func() { _ = capped.Close() })
	admitted = make(chan net.Conn, 100)
	go func() {
		for {
			c, err := capped.Accept()
			if err != nil {
				return
			}
			if tlsConfig != nil {
				c = tls.Server(c, tlsConfig)
			}
			_, _ = io.WriteString(c, "220 hello\r\n")
			t.Cleanup(func() { _ = c.Close() })
			admitted <- c
		}
	}()
	return ln.Addr().String(), admitted
}

// dialFrom connects from the local address src (a 127/8 address) and returns the first line.
func dialFrom(t *testing.T, addr, src string, tlsConfig *tls.Config) (net.Conn, string) {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if tlsConfig != nil {
		c = tls.Client(c, tlsConfig)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("read from %s: %v (got %q)", src, err, line)
	}
	return c, line
}

func TestTotalCap(t *testing.T) {
	t.Parallel()
	m, _ := newTestMetrics(t)
	lim := New(Options{Kind: "smtp", Max: 3, PerIP: 10, Refusal: []byte(refusal), Metrics: m})
	addr, admitted := server(t, lim, nil)
	for i := 0; i < 3; i++ {
		if _, line := dialFrom(t, addr, "127.0.0.1", nil); line != "220 hello\r\n" {
			t.Fatalf("connection %d got %q", i+1, line)
		}
	}
	c, line := dialFrom(t, addr, "127.0.0.2", nil) // another address: the total cap still holds
	if line != refusal {
		t.Fatalf("4th connection got %q, want the refusal", line)
	}
	if _, err := bufio.NewReader(c).ReadString('\n'); err == nil {
		t.Fatal("refused connection still open")
	}
	if got := value(m.refused.WithLabelValues("smtp", "total")); got != 1 {
		t.Errorf("refused{total} = %v", got)
	}
	if got := value(m.open.WithLabelValues("smtp")); got != 3 {
		t.Errorf("open = %v, want 3", got)
	}
	_ = (<-admitted).Close() // a place frees up
	waitOpen(t, lim, 2)
	if _, line := dialFrom(t, addr, "127.0.0.2", nil); line != "220 hello\r\n" {
		t.Fatalf("after a close got %q", line)
	}
}

func TestPerIPCap(t *testing.T) {
	t.Parallel()
	lim := New(Options{Kind: "imap", Max: 10, PerIP: 2, Refusal: []byte("* BYE Too many connections\r\n")})
	addr, _ := server(t, lim, nil)
	for i := 0; i < 2; i++ {
		if _, line := dialFrom(t, addr, "127.0.0.3", nil); line != "220 hello\r\n" {
			t.Fatalf("connection %d got %q", i+1, line)
		}
	}
	if _, line := dialFrom(t, addr, "127.0.0.3", nil); line != "* BYE Too many connections\r\n" {
		t.Fatalf("3rd connection from one address got %q", line)
	}
	if _, line := dialFrom(t, addr, "127.0.0.4", nil); line != "220 hello\r\n" {
		t.Fatalf("another address got %q", line)
	}
}

// TestRefusalInsideTLS: on an implicit-TLS port the refusal comes inside TLS.
func TestRefusalInsideTLS(t *testing.T) {
	t.Parallel()
	srvTLS, cliTLS := testTLS(t)
	lim := New(Options{Kind: "smtp", Max: 1, Refusal: []byte(refusal)})
	addr, _ := server(t, lim, srvTLS)
	if _, line := dialFrom(t, addr, "127.0.0.1", cliTLS); line != "220 hello\r\n" {
		t.Fatalf("first got %q", line)
	}
	if _, line := dialFrom(t, addr, "127.0.0.1", cliTLS); line != refusal {
		t.Fatalf("second got %q, want the refusal", line)
	}
}

func TestClientKey(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"192.0.2.1:25":             "192.0.2.1",
		"[::ffff:192.0.2.1]:25":    "192.0.2.1",
		"[2001:db8:1:2:3::4]:993":  "2001:db8:1:2::",
		"[2001:db8:1:2:ffff::]:80": "2001:db8:1:2::",
	} {
		ap := netip.MustParseAddrPort(in)
		if got := clientKey(net.TCPAddrFromAddrPort(ap)); got.String() != want {
			t.Errorf("clientKey(%s) = %s, want %s", in, got, want)
		}
	}
	if clientKey(&net.UnixAddr{Name: "/x", Net: "unix"}).IsValid() {
		t.Error("a unix address has a client key")
	}
}

func waitOpen(t *testing.T, lim *Limiter, want int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if lim.Open() == want {
			return
		}
	}
	t.Fatalf("open = %d, want %d", lim.Open(), want)
}

func newTestMetrics(t *testing.T) (*Metrics, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	return m, reg
}

func testTLS(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mx.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}},
		&tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
}

// value reads a gauge's or counter's value.
func value(c prometheus.Metric) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	if m.Gauge != nil {
		return m.Gauge.GetValue()
	}
	return m.Counter.GetValue()
}
