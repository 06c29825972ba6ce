package submission

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"multimail.dev/multimail/queue"
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
		{"Sender is the mailbox", "From: a@example.com\r\nSender: A <a@example.com>", true},
		{"Sender names another mailbox", "From: a@example.com\r\nSender: b@example.com", false},
		{"two Sender fields", "From: a@example.com\r\nSender: a@example.com\r\nSender: a@example.com", false},
		{"Sender group", "From: a@example.com\r\nSender: g: a@example.com;", false},
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

func TestRawControls(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, in string
		lane     queue.Lane
		tags     []string
		wantErr  string
	}{
		{"none", "From: a@example.com\r\n\r\nb\r\n", queue.LaneNormal, nil, ""},
		{"high with tags", "From: a@example.com\r\nX-Multimail-Priority: High\r\nX-Multimail-Tags: auth, otp\r\n\r\nb\r\n",
			queue.LaneHigh, []string{"auth", "otp"}, ""},
		{"two tag fields", "X-Multimail-Tags: a\r\nX-Multimail-Tags: b,c\r\nX-Multimail-Priority: low\r\n\r\nb\r\n",
			queue.LaneLow, []string{"a", "b", "c"}, ""},
		{"bad priority", "X-Multimail-Priority: urgent\r\n\r\nb\r\n", 0, nil, "priority"},
		{"bad tag", "X-Multimail-Tags: a b\r\n\r\nb\r\n", 0, nil, "tags[0]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m, err := parseRaw([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			lane, tags, err := m.controls()
			if tc.wantErr != "" {
				var fe *FieldError
				if !errors.As(err, &fe) || fe.Field != tc.wantErr {
					t.Fatalf("err = %v, want a FieldError on %s", err, tc.wantErr)
				}
				return
			}
			if err != nil || lane != tc.lane || !slices.Equal(tags, tc.tags) {
				t.Fatalf("controls = %v %v %v", lane, tags, err)
			}
			b, _ := m.bytes()
			if strings.Contains(strings.ToLower(string(b)), "x-multimail-") {
				t.Errorf("control fields left in the message:\n%s", b)
			}
		})
	}
}
