package mta

import (
	"strings"
	"testing"
)

func TestParseSTSPolicy(t *testing.T) {
	ok := []struct {
		in   string
		mode STSMode
		age  int64
		mx   string
	}{
		{"version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmax_age: 604800\r\n",
			STSEnforce, 604800, "mail.example.com,*.example.net"},
		{"version: STSv1\nmode: testing\nmx: MX.Example.COM.\nmax_age: 86400", STSTesting, 86400, "mx.example.com"},
		{"version: STSv1\nmode: none\nmax_age: 1\n", STSNone, 1, ""},
		{"version: STSv1\nmode: enforce\nmode: none\nmx: a.b\nmax_age: 9999999999\nextension: x\n",
			STSEnforce, STSMaxAge, "a.b"},
		{"max_age: 5\nmx: a.b\nmode: enforce\nversion: STSv1\n", STSEnforce, 5, "a.b"},
	}
	for _, c := range ok {
		p, err := ParseSTSPolicy([]byte(c.in))
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		if p.Mode != c.mode || p.MaxAge != c.age || strings.Join(p.MX, ",") != c.mx {
			t.Errorf("%q: got %+v", c.in, p)
		}
	}
	bad := map[string]string{
		"": "version",
		"version: STSv2\nmode: none\nmax_age: 1\n":                "version",
		"version: STSv1\nmax_age: 1\n":                            "mode missing",
		"version: STSv1\nmode: strict\nmax_age: 1":                "mode",
		"version: STSv1\nmode: none\n":                            "max_age missing",
		"version: STSv1\nmode: none\nmax_age: -1":                 "max_age",
		"version: STSv1\nmode: none\nmax_age: 1x":                 "max_age",
		"version: STSv1\nmode: enforce\nmax_age: 1":               "without any mx",
		"version: STSv1\nmode: enforce\nmx: *\nmax_age: 1":        "mx",
		"version: STSv1\nmode: enforce\nmx: a.*.b\nmax_age: 1":    "mx",
		"version: STSv1\nmode: enforce\nmx: bad host\nmax_age: 1": "mx",
		"version: STSv1\nno colon here\n":                         "no ':'",
		"version: STSv1\nmode: enforce\nmx: -a.b\nmax_age: 1":     "mx",
		"<html>\n<body>version: STSv1</body>\n</html>\n":          "",
	}
	for in, want := range bad {
		_, err := ParseSTSPolicy([]byte(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want one naming %q", in, err, want)
		}
	}
}

func TestMatchesMX(t *testing.T) {
	p := &STSPolicy{MX: []string{"mail.example.com", "*.example.net"}}
	for host, want := range map[string]bool{
		"mail.example.com": true, "MAIL.example.com.": true, "x.mail.example.com": false,
		"mx1.example.net": true, "example.net": false, "a.b.example.net": false, ".example.net": false,
		"other.com": false,
	} {
		if got := p.MatchesMX(host); got != want {
			t.Errorf("MatchesMX(%q) = %v, want %v", host, got, want)
		}
	}
}

func TestParseSTSRecord(t *testing.T) {
	for _, c := range []struct {
		txts []string
		id   string
		ok   bool
	}{
		{[]string{"v=STSv1; id=20160831085700Z;"}, "20160831085700Z", true},
		{[]string{"v=STSv1;id=abc"}, "abc", true},
		{[]string{"v=spf1 -all", "v=STSv1; id=x1"}, "x1", true},
		{[]string{"v=STSv1; id=a", "v=STSv1; id=b"}, "", false},
		{[]string{"v=STSv1;"}, "", false},
		{[]string{"v=STSv1; id=bad-id"}, "", false},
		{[]string{"v=STSv1; id=" + strings.Repeat("a", 33)}, "", false},
		{[]string{"v=STSv10; id=a"}, "", false},
		{nil, "", false},
	} {
		id, ok := ParseSTSRecord(c.txts)
		if id != c.id || ok != c.ok {
			t.Errorf("%q: got %q %v", c.txts, id, ok)
		}
	}
}

func TestParseTLSRPTRecord(t *testing.T) {
	ruas, ok := ParseTLSRPTRecord([]string{"v=TLSRPTv1; rua=mailto:tls@example.com,https://r.example.com/x, ftp://no"})
	if !ok || strings.Join(ruas, " ") != "mailto:tls@example.com https://r.example.com/x" {
		t.Fatalf("%q %v", ruas, ok)
	}
	if _, ok := ParseTLSRPTRecord([]string{"v=TLSRPTv1; rua=ftp://x"}); ok {
		t.Fatal("no usable rua accepted")
	}
	if _, ok := ParseTLSRPTRecord([]string{"v=TLSRPTv1;rua=mailto:a@b", "v=TLSRPTv1;rua=mailto:c@d"}); ok {
		t.Fatal("two records accepted")
	}
}

func FuzzParseSTSPolicy(f *testing.F) {
	f.Add([]byte("version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmax_age: 604800\r\n"))
	f.Add([]byte("version: STSv1\nmode: none\nmax_age: 1\n"))
	f.Add([]byte("version: STSv1\nmode: testing\nmx: *.\nmax_age: 0\n"))
	f.Add([]byte(":\n::\nmx:\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParseSTSPolicy(b)
		if err != nil {
			return
		}
		if p.MaxAge < 0 || p.MaxAge > STSMaxAge {
			t.Fatalf("max_age %d", p.MaxAge)
		}
		if p.Mode != STSNone && len(p.MX) == 0 {
			t.Fatal("a policy without mx accepted")
		}
		// The canonical rendering parses back to the same policy.
		q, err := ParseSTSPolicy([]byte(p.String()))
		if err != nil || q.String() != p.String() {
			t.Fatalf("round trip: %v %q vs %q", err, q, p)
		}
		for _, mx := range p.MX {
			p.MatchesMX(mx)
		}
	})
}

func FuzzParseSTSRecord(f *testing.F) {
	f.Add("v=STSv1; id=20160831085700Z;", "v=spf1 -all")
	f.Add("v=STSv1;id=", "")
	f.Fuzz(func(t *testing.T, a, b string) {
		id, ok := ParseSTSRecord([]string{a, b})
		if ok && (id == "" || len(id) > 32) {
			t.Fatalf("id %q", id)
		}
		ParseTLSRPTRecord([]string{a, b})
	})
}
