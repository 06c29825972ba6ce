package pgstore

import (
	"slices"
	"testing"
	"time"

	"multimail.dev/multimail/mailbox"
)

// FuzzSummaryRoundTrip: whatever bytes a header held, the stored summary gives them back.
func FuzzSummaryRoundTrip(f *testing.F) {
	f.Add("a <b@c>", "subj\x00\xff", "id@x", "spf=pass", int64(0))
	f.Add("", "", "", "", int64(-1))
	f.Fuzz(func(t *testing.T, from, subject, msgID, auth string, unix int64) {
		e := mailbox.Email{ID: "em_x", From: []string{from, subject}, Subject: subject, MessageID: msgID,
			AuthResults: auth, Date: time.Unix(unix%(1<<40), 0).UTC()}
		data, err := encodeSummary(e)
		if err != nil {
			t.Fatal(err)
		}
		var got mailbox.Email
		if err := decodeSummary(&got, data); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got.From, e.From) || got.Subject != e.Subject || got.MessageID != e.MessageID ||
			got.AuthResults != e.AuthResults || !got.Date.Equal(e.Date) || got.To != nil {
			t.Fatalf("round trip %+v -> %+v", e, got)
		}
	})
}
