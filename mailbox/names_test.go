package mailbox

import (
	"errors"
	"strings"
	"testing"
)

func TestParseAllowEntry(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"Ops@Partner.Example": "ops@partner.example", " @Example.NET ": "@example.net", "@localhost": "@localhost",
		"": "", "@": "", "a@": "", "@@x.example": "", "a b@x.example": "", "@x..example": "", "x\r\n@y.example": "",
	} {
		got, err := ParseAllowEntry(in)
		if want == "" {
			if !errors.Is(err, ErrInvalidAddress) {
				t.Errorf("ParseAllowEntry(%q) = %q, %v; want ErrInvalidAddress", in, got, err)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("ParseAllowEntry(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	e := AllowEntry{Entry: "@example.net"}
	if !e.Matches("Bob@EXAMPLE.net") || e.Matches("bob@sub.example.net") || e.Matches("bob@xexample.net") {
		t.Fatal("domain entry matches wrongly")
	}
}

func FuzzParseAllowEntry(f *testing.F) {
	for _, s := range []string{"a@b.example", "@b.example", "@", "a@@b", "\x00@x", "@localhost"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseAllowEntry(s)
		if err != nil {
			return
		}
		if got != strings.ToLower(got) || strings.ContainsAny(got, " \r\n\x00") || strings.Count(got, "@") != 1 {
			t.Fatalf("ParseAllowEntry(%q) = %q", s, got)
		}
		again, err := ParseAllowEntry(got)
		if err != nil || again != got {
			t.Fatalf("not idempotent: %q -> %q -> %q, %v", s, got, again, err)
		}
	})
}
