package dnsclient

import (
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseResolvConf(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		conf     string
		servers  []string
		timeout  time.Duration
		attempts int
	}{
		{"two servers and options", "# comment\nsearch example.com\nnameserver 192.0.2.53\nnameserver 2001:db8::53\noptions timeout:1 attempts:3 ndots:2\n",
			[]string{"192.0.2.53:53", "[2001:db8::53]:53"}, time.Second, 3},
		{"a name is not a server", "nameserver dns.example\nnameserver 127.0.0.53\n", []string{"127.0.0.53:53"}, 5 * time.Second, 2},
		{"no server", "search example.com\n", []string{"127.0.0.1:53", "[::1]:53"}, 5 * time.Second, 2},
		{"zone kept", "nameserver fe80::1%eth0\n", []string{"[fe80::1%eth0]:53"}, 5 * time.Second, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := parseResolvConf(strings.NewReader(tc.conf))
			if !slices.Equal(s.servers, tc.servers) || s.timeout != tc.timeout || s.attempts != tc.attempts {
				t.Fatalf("got %+v, want %v %v %d", s, tc.servers, tc.timeout, tc.attempts)
			}
		})
	}
}

func TestSystemServers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "resolv.conf")
	if err := os.WriteFile(path, []byte("nameserver 192.0.2.1\noptions timeout:2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := New(Config{ResolvConf: path})
	if err != nil || !slices.Equal(c.Servers(), []string{"192.0.2.1:53"}) || c.timeout != 2*time.Second {
		t.Fatalf("New = %v, %v", c.Servers(), err)
	}
	c, err = New(Config{ResolvConf: filepath.Join(dir, "missing")})
	if err != nil || !slices.Equal(c.Servers(), []string{"127.0.0.1:53", "[::1]:53"}) {
		t.Fatalf("without resolv.conf: %v, %v", c.Servers(), err)
	}
}

func TestServerAddr(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"192.0.2.1": "192.0.2.1:53", "192.0.2.1:5353": "192.0.2.1:5353",
		"[::1]:53": "[::1]:53", "::1": "[::1]:53", "[::1]": "[::1]:53"} {
		if got, err := serverAddr(in); err != nil || got != want {
			t.Errorf("serverAddr(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "dns.example:53", "192.0.2.1:0", "192.0.2.1:x"} {
		if got, err := serverAddr(bad); err == nil {
			t.Errorf("serverAddr(%q) = %q, want an error", bad, got)
		}
	}
}

func FuzzParseResolvConf(f *testing.F) {
	for _, s := range []string{"nameserver 192.0.2.53\noptions timeout:1 attempts:3\n", "nameserver fe80::1%eth0\n",
		"nameserver\n", "options timeout:-5 attempts:99999999999\n", "domain x\nsearch a b c\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, conf string) {
		s := parseResolvConf(strings.NewReader(conf))
		if len(s.servers) == 0 || s.timeout < 0 {
			t.Fatalf("parseResolvConf(%q) = %+v", conf, s)
		}
		for _, srv := range s.servers {
			host, _, err := net.SplitHostPort(srv)
			if err != nil || net.ParseIP(strings.SplitN(host, "%", 2)[0]) == nil {
				t.Fatalf("parseResolvConf(%q): server %q is not ip:port", conf, srv)
			}
		}
	})
}
