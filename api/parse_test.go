package api

import (
	"strings"
	"testing"

	"multimail.dev/multimail/mailbox"
)

func TestParseEmailMalformed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, raw, text string
	}{
		{"no header end", "Subject: x", ""},
		{"plain", "Subject: x\r\n\r\nhello\r\n", "hello\r\n"},
		{"unknown charset", "Subject: x\r\nContent-Type: text/plain; charset=x-nope\r\n\r\nhello", "hello"},
		{"broken multipart", "Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nhi\r\n", "hi"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := parseEmail(mailbox.Email{ID: "em_1"}, []byte(tc.raw))
			if !strings.HasPrefix(got.Text, tc.text) || got.Headers == nil || got.Attachments == nil {
				t.Fatalf("%+v", got)
			}
		})
	}
}

func FuzzParseEmail(f *testing.F) {
	f.Add(strings.ReplaceAll(testRaw, "\n", "\r\n"))
	f.Add("Subject: x\r\n\r\nbody")
	f.Fuzz(func(t *testing.T, raw string) {
		_ = parseEmail(mailbox.Email{ID: "em_1"}, []byte(raw)) // must not panic
	})
}
