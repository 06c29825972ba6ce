package submission

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestRawComplete(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	cases := []struct {
		name, in string
		has      []string
		lacks    []string
	}{
		{"adds Date and Message-ID", "From: a@example.com\r\nSubject: x\r\n\r\nbody\r\n",
			[]string{"Date: Wed, 25 Nov 2026 10:00:00 +0000\r\n", "Message-Id: <id@host>\r\n", "\r\n\r\nbody\r\n"}, nil},
		{"keeps the client's", "Date: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-ID: <mine@client>\r\nFrom: a@example.com\r\n\r\nbody\r\n",
			[]string{"Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n", "Message-ID: <mine@client>\r\n"}, []string{"<id@host>", "2026"}},
		{"drops Bcc", "From: a@example.com\r\nBcc: secret@x.example\r\n\r\nbody\r\n", nil, []string{"secret@"}},
		{"header only", "From: a@example.com\r\n\r\n", []string{"From: a@example.com\r\n"}, nil},
		{"keeps odd folding byte for byte", "From: a@example.com\r\nX-Odd:   spaced\r\n\tfolded\r\n\r\nb\r\n", []string{"X-Odd:   spaced\r\n\tfolded\r\n"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m, err := parseRaw([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			m.complete(now, "id@host")
			b, err := m.bytes()
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range tc.has {
				if !strings.Contains(string(b), s) {
					t.Errorf("lacks %q:\n%s", s, b)
				}
			}
			for _, s := range tc.lacks {
				if strings.Contains(string(b), s) {
					t.Errorf("has %q:\n%s", s, b)
				}
			}
		})
	}
}

func TestRawCheckFrom(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, header string
		ok           bool
	}{
		{"same", "From: a@example.com", true},
		{"display name and case", "From: \"A\" <A@Example.com>", true},
		{"encoded name", "From: =?utf-8?q?Agent_=C3=A9?= <a@example.com>", true},
		{"other", "From: b@example.com", false},
		{"missing", "Subject: x", false},
		{"two fields", "From: a@example.com\r\nFrom: a@example.com", false},
		{"two addresses", "From: a@example.com, b@example.com", false},
		{"group", "From: g: a@example.com;", false},
		{"garbage", "From: <<<", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m, err := parseRaw([]byte(tc.header + "\r\n\r\nbody\r\n"))
			if err != nil {
				t.Fatal(err)
			}
			err = m.checkFrom("a@example.com")
			if (err == nil) != tc.ok || err != nil && !errors.Is(err, ErrSenderNotAllowed) {
				t.Fatalf("checkFrom = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}
