package mta

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"multimail.dev/multimail/mta/mtatest"
)

// testResolvers returns both Resolver implementations pointed at the loopback DNS server.
func testResolvers(t testing.TB, d *mtatest.DNS) map[string]Resolver {
	return map[string]Resolver{
		"dnsclient": testResolver(t, d.Addr()),
		"net": &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var dl net.Dialer
			return dl.DialContext(ctx, network, d.Addr())
		}},
	}
}

func testZone() map[string]mtatest.Records {
	return map[string]mtatest.Records{
		"multi.test": {MX: []net.MX{{Host: "b.multi.test", Pref: 20}, {Host: "a.multi.test", Pref: 10},
			{Host: "c.multi.test", Pref: 30}}},
		"a.multi.test":   {A: []string{"127.0.0.1"}},
		"null.test":      {MX: mtatest.NullMX()},
		"mixednull.test": {MX: []net.MX{{Host: ".", Pref: 0}, {Host: "mx.mixednull.test", Pref: 10}}},
		"implicit.test":  {A: []string{"127.0.0.1"}},
		"nothing.test":   {TXT: []string{"v=spf1 -all"}},
		"servfail.test":  {ServFail: true},
		"override.test":  {MX: []net.MX{{Host: "mx.override.test", Pref: 10}}},
	}
}

func TestRoute(t *testing.T) {
	t.Parallel()
	dns := mtatest.NewDNS(t, testZone())
	transports := []Transport{
		{Domain: "override.test", NextHop: "127.0.0.1:2525", TLS: TLSRequired},
		{Domain: "Smart.Test", NextHop: "relay.test"},
	}
	cases := []struct {
		name     string
		domain   string
		star     bool // add a "*" transport
		want     []hop
		perm     bool  // want a permanent error
		sentinel error // want errors.Is
		temp     bool  // want a temporary error
	}{
		{name: "mx by preference", domain: "multi.test", want: []hop{
			{"a.multi.test", 2525, TLSOpportunistic}, {"b.multi.test", 2525, TLSOpportunistic},
			{"c.multi.test", 2525, TLSOpportunistic}}},
		{name: "transport wins over mx", domain: "override.test", want: []hop{{"127.0.0.1", 2525, TLSRequired}}},
		{name: "transport case-insensitive, port 25, default tls", domain: "smart.test.",
			want: []hop{{"relay.test", 25, TLSOpportunistic}}},
		{name: "star transport", domain: "multi.test", star: true, want: []hop{{"127.0.0.9", 26, TLSNone}}},
		{name: "exact beats star", domain: "override.test", star: true, want: []hop{{"127.0.0.1", 2525, TLSRequired}}},
		{name: "implicit mx", domain: "implicit.test", want: []hop{{"implicit.test", 2525, TLSOpportunistic}}},
		{name: "null mx", domain: "null.test", perm: true, sentinel: ErrNullMX},
		{name: "null mx beside a real one is ignored", domain: "mixednull.test",
			want: []hop{{"mx.mixednull.test", 2525, TLSOpportunistic}}},
		{name: "nxdomain", domain: "nope.test", perm: true, sentinel: ErrNoSuchDomain},
		{name: "no mx and no address", domain: "nothing.test", perm: true, sentinel: ErrNoSuchDomain},
		{name: "servfail is temporary", domain: "servfail.test", temp: true},
	}
	for rname, res := range testResolvers(t, dns) {
		for _, tc := range cases {
			t.Run(rname+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				ts := transports
				if tc.star {
					ts = append(ts[:2:2], Transport{Domain: "*", NextHop: "127.0.0.9:26", TLS: TLSNone})
				}
				rt, err := newRouter(Options{Transports: ts, MXPort: 2525, TLSPolicy: TLSOpportunistic}, res)
				if err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				hops, err := rt.route(ctx, tc.domain)
				checkRoute(t, hops, err, tc.want, tc.perm, tc.temp, tc.sentinel)
			})
		}
	}
}

func checkRoute(t *testing.T, hops []hop, err error, want []hop, perm, temp bool, sentinel error) {
	t.Helper()
	if perm || temp {
		var e *Error
		if !errors.As(err, &e) || e.Perm != perm || e.Temporary() != temp {
			t.Fatalf("route = %v, %v; want perm=%v temp=%v", hops, err, perm, temp)
		}
		if sentinel != nil && !errors.Is(err, sentinel) {
			t.Fatalf("route error %v, want %v", err, sentinel)
		}
		return
	}
	if err != nil {
		t.Fatalf("route: %v", err)
	}
	if len(hops) != len(want) {
		t.Fatalf("hops %+v, want %+v", hops, want)
	}
	for i := range want {
		if hops[i] != want[i] {
			t.Fatalf("hops %+v, want %+v", hops, want)
		}
	}
}

func TestSplitHostPort(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   string
		host string
		port int
		bad  bool
	}{
		{"mx.example.com:2525", "mx.example.com", 2525, false},
		{"mx.example.com", "mx.example.com", 25, false},
		{"[::1]:26", "::1", 26, false},
		{"127.0.0.1:0", "", 0, true},
		{"host:port", "", 0, true},
		{"", "", 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			host, port, err := splitHostPort(tc.in)
			if (err != nil) != tc.bad || host != tc.host || port != tc.port {
				t.Fatalf("splitHostPort(%q) = %q, %d, %v", tc.in, host, port, err)
			}
		})
	}
}

func TestValidateAndParsePolicy(t *testing.T) {
	t.Parallel()
	if err := Validate([]Transport{{Domain: "*", NextHop: "127.0.0.1:25", TLS: "required"}}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]Transport{
		{{Domain: "", NextHop: "h:25"}},
		{{Domain: "a", NextHop: ""}},
		{{Domain: "a", NextHop: "h:25", TLS: "sometimes"}},
	} {
		if err := Validate(bad); err == nil {
			t.Errorf("Validate(%+v) = nil", bad)
		}
	}
	if p, err := ParseTLSPolicy(""); err != nil || p != TLSOpportunistic {
		t.Fatalf("ParseTLSPolicy(\"\") = %q, %v", p, err)
	}
}

func FuzzSplitHostPort(f *testing.F) {
	for _, s := range []string{"mx.example.com:25", "[::1]:2525", "host", "", ":25", "a:b:c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		host, port, err := splitHostPort(s)
		if err == nil && (host == "" || port <= 0 || port > 65535) {
			t.Fatalf("splitHostPort(%q) = %q, %d without error", s, host, port)
		}
	})
}
