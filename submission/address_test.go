package submission

import (
	"strings"
	"testing"
	"time"
)

func TestCheckAddress(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in, want string // want "" = refused
	}{
		{"bob@Dest.Example", "bob@dest.example"},
		{"Bob.Smith+tag@dest.example", "Bob.Smith+tag@dest.example"},
		{"agent@localhost", "agent@localhost"},
		{"josé@dest.example", "josé@dest.example"},
		{"o'brien@dest.example", "o'brien@dest.example"},
		{"user%victim@dest.example", ""},
		{"victim!user@dest.example", ""},
		{"\"quoted\"@dest.example", ""},
		{"a b@dest.example", ""},
		{"user@[192.0.2.1]", ""},
		{"user@dest..example", ""},
		{"user@-dest.example", ""},
		{"user@dest_example.com", ""},
		{".user@dest.example", ""},
		{"us..er@dest.example", ""},
		{"user.@dest.example", ""},
		{"@dest.example", ""},
		{"user@", ""},
		{"user", ""},
		{"", ""},
		{"a@b@c.example", ""},
		{strings.Repeat("a", 65) + "@dest.example", ""},
		{"user@" + strings.Repeat("a", 64) + ".example", ""},
		{"user@dest.example.", ""},
		{"us\x00er@dest.example", ""},
		{"us\xffer@dest.example", ""},
	}
	for _, tc := range cases {
		got, msg := checkAddress(tc.in)
		if got != tc.want || (tc.want == "") != (msg != "") {
			t.Errorf("checkAddress(%q) = %q, %q; want %q", tc.in, got, msg, tc.want)
		}
	}
}

func TestBounceAddress(t *testing.T) {
	t.Parallel()
	id := newMessageID(time.Unix(1700000000, 0))
	if !strings.HasPrefix(id, "msg_") || len(id) != 30 {
		t.Fatalf("id = %q", id)
	}
	addr := BounceAddress(id, "Example.COM")
	if addr != "bounce+"+id+"@example.com" {
		t.Fatalf("BounceAddress = %q", addr)
	}
	for _, in := range []string{addr, strings.ToLower(addr), strings.ToUpper(addr)} {
		if got, ok := ParseBounceAddress(in); !ok || got != id {
			t.Errorf("ParseBounceAddress(%q) = %q, %v; want %q", in, got, ok, id)
		}
	}
	for _, bad := range []string{
		"", "bounce+@example.com", "bounce+msg_@example.com", "bounce+msg_123@example.com",
		"bounce+apr_" + id[4:] + "@example.com", "bob@example.com", "bounce+" + id,
		"bounce+msg_" + strings.Repeat("Z", 26) + "@example.com", // overflows 128 bits
		"bounce+msg_" + strings.Repeat("I", 26) + "@example.com", // not Crockford
	} {
		if got, ok := ParseBounceAddress(bad); ok {
			t.Errorf("ParseBounceAddress(%q) = %q, ok", bad, got)
		}
	}
}

func TestMessageIDsSortByTime(t *testing.T) {
	t.Parallel()
	a := newMessageID(time.UnixMilli(1700000000000))
	b := newMessageID(time.UnixMilli(1700000000001))
	if a >= b {
		t.Fatalf("%s >= %s", a, b)
	}
}

func FuzzParseBounceAddress(f *testing.F) {
	f.Add(BounceAddress(newMessageID(time.Unix(1, 0)), "example.com"))
	f.Add("bounce+msg_@x")
	f.Add("a@b")
	f.Fuzz(func(t *testing.T, s string) {
		id, ok := ParseBounceAddress(s)
		if !ok {
			return
		}
		if again, ok2 := ParseBounceAddress(BounceAddress(id, "example.com")); !ok2 || again != id {
			t.Fatalf("round trip of %q: %q %v", id, again, ok2)
		}
	})
}

func FuzzCheckAddress(f *testing.F) {
	for _, s := range []string{"a@b.c", "user%x@y", "\"q\"@x", "a@[1.2.3.4]", "é@x.y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, msg := checkAddress(s)
		if msg != "" {
			return
		}
		if strings.ContainsAny(got, "\r\n%!\"[] \t") || strings.Count(got, "@") != 1 {
			t.Fatalf("accepted %q as %q", s, got)
		}
	})
}

func TestBareLineEnding(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]bool{
		"":              false,
		"a\r\nb\r\n":    false,
		"a\nb":          true,
		"a\rb":          true,
		"a\r":           true,
		"\n":            true,
		"a\r\r\n":       true,
		"a\r\n\n":       true,
		"x\r\n.\r\n":    false,
		"x\r\n.\ny\r\n": true,
		strings.Repeat("line\r\n", 1000) + "end\n": true,
	} {
		if got := bareLineEnding([]byte(in)); got != want {
			t.Errorf("bareLineEnding(%q) = %v, want %v", in, got, want)
		}
	}
}

func FuzzBareLineEnding(f *testing.F) {
	f.Add([]byte("a\r\nb\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		want := false
		for i, c := range b {
			if c == '\n' && (i == 0 || b[i-1] != '\r') || c == '\r' && (i+1 == len(b) || b[i+1] != '\n') {
				want = true
			}
		}
		if got := bareLineEnding(b); got != want {
			t.Fatalf("bareLineEnding(%q) = %v, want %v", b, got, want)
		}
	})
}
