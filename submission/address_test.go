package submission

import (
	"strings"
	"testing"
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
