package api

import (
	"strings"
	"testing"

	"multimail.dev/multimail/submission"
)

// FuzzDecodeSendRequest feeds arbitrary JSON to the send_email decoder: it must decode or
// return a *FieldError, never panic.
func FuzzDecodeSendRequest(f *testing.F) {
	f.Add(`{"mailbox_id":"a@b.c","to":"x@y.z","text":"hi","attachments":[{"filename":"a","content":"aGk="}]}`)
	f.Add(`{"to":["a","b"],"expires_at":"nope"}`)
	f.Add(`{"attachments":[{"content":"!!"}]}`)
	f.Add(`{} {}`)
	f.Fuzz(func(t *testing.T, body string) {
		_, err := submission.DecodeSendRequest(strings.NewReader(body))
		if err != nil && toError(err).Status != 400 {
			t.Fatalf("decode error %v is %d, want 400", err, toError(err).Status)
		}
	})
}
