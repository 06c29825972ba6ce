package submission

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestSendHostileInput is the API half of the hostile-input table: each bad request gets the
// exact error (a *FieldError naming the field, or a sentinel) and nothing is enqueued.
func TestSendHostileInput(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	long := strings.Repeat("a", 1000)
	cases := []struct {
		name   string
		edit   func(r *SendRequest)
		auth   Principal
		field  string // want *FieldError on this field
		target error  // or this sentinel
	}{
		{"CRLF in subject", func(r *SendRequest) { r.Subject = "hi\r\nBcc: victim@evil.example" }, Principal{}, "subject", nil},
		{"bare LF in subject", func(r *SendRequest) { r.Subject = "hi\nX-Injected: 1" }, Principal{}, "subject", nil},
		{"bare CR in subject", func(r *SendRequest) { r.Subject = "hi\rX: 1" }, Principal{}, "subject", nil},
		{"NUL in subject", func(r *SendRequest) { r.Subject = "a\x00b" }, Principal{}, "subject", nil},
		{"subject over 998", func(r *SendRequest) { r.Subject = long }, Principal{}, "subject", nil},
		{"CRLF in to", func(r *SendRequest) { r.To = AddressList{"bob@dest.example\r\nBcc: x@evil.example"} }, Principal{}, "to[0]", nil},
		{"LF in cc display name", func(r *SendRequest) { r.Cc = AddressList{"\"Bob\nX: y\" <bob@dest.example>"} }, Principal{}, "cc[0]", nil},
		{"CR in bcc", func(r *SendRequest) { r.Bcc = AddressList{"a@b.example", "c@d.example\r"} }, Principal{}, "bcc[1]", nil},
		{"CRLF in reply_to", func(r *SendRequest) { r.ReplyTo = "r@example.com\r\nX: 1" }, Principal{}, "reply_to", nil},
		{"CRLF in mailbox_id", func(r *SendRequest) { r.MailboxID = "auto@example.com\r\nX: 1" }, Principal{}, "mailbox_id", nil},
		{"CRLF in header value", func(r *SendRequest) { r.Headers = map[string]string{"X-Tag": "a\r\nBcc: x@evil.example"} }, Principal{}, "headers.X-Tag", nil},
		{"LF in header name", func(r *SendRequest) { r.Headers = map[string]string{"X-A\nBcc": "x"} }, Principal{}, "headers.X-A\nBcc", nil},
		{"colon in header name", func(r *SendRequest) { r.Headers = map[string]string{"X-A: b": "x"} }, Principal{}, "headers.X-A: b", nil},
		{"reserved header From", func(r *SendRequest) { r.Headers = map[string]string{"from": "ceo@example.com"} }, Principal{}, "headers.from", nil},
		{"reserved header Bcc", func(r *SendRequest) { r.Headers = map[string]string{"Bcc": "x@evil.example"} }, Principal{}, "headers.Bcc", nil},
		{"CRLF in attachment filename", func(r *SendRequest) {
			r.Attachments = []Attachment{{Filename: "a.txt\r\nContent-Type: text/html", Content: []byte("x")}}
		}, Principal{}, "attachments[0].filename", nil},
		{"CRLF in attachment content type", func(r *SendRequest) {
			r.Attachments = []Attachment{{Filename: "a.txt", ContentType: "text/plain\r\nX: 1", Content: []byte("x")}}
		}, Principal{}, "attachments[0].content_type", nil},
		{"bad media type", func(r *SendRequest) {
			r.Attachments = []Attachment{{Filename: "a.txt", ContentType: "not a type", Content: []byte("x")}}
		}, Principal{}, "attachments[0].content_type", nil},
		{"empty filename", func(r *SendRequest) { r.Attachments = []Attachment{{Content: []byte("x")}} }, Principal{}, "attachments[0].filename", nil},
		{"CRLF in tag", func(r *SendRequest) { r.Tags = []string{"ok", "a\r\nb"} }, Principal{}, "tags[1]", nil},
		{"space in tag", func(r *SendRequest) { r.Tags = []string{"two words"} }, Principal{}, "tags[0]", nil},
		{"system flag as tag", func(r *SendRequest) { r.Tags = []string{`\Seen`} }, Principal{}, "tags[0]", nil},
		{"CRLF in idempotency key", func(r *SendRequest) { r.IdempotencyKey = "k\r\n" }, Principal{}, "idempotency_key", nil},
		{"percent relay", func(r *SendRequest) { r.To = AddressList{"user%victim.example@dest.example"} }, Principal{}, "to[0]", nil},
		{"bang relay", func(r *SendRequest) { r.To = AddressList{"victim.example!user@dest.example"} }, Principal{}, "to[0]", nil},
		{"quoted local with @", func(r *SendRequest) { r.To = AddressList{`"user@victim.example"@dest.example`} }, Principal{}, "to[0]", nil},
		{"source route", func(r *SendRequest) { r.To = AddressList{"<@relay.example:user@dest.example>"} }, Principal{}, "to[0]", nil},
		{"address literal", func(r *SendRequest) { r.To = AddressList{"user@[192.0.2.1]"} }, Principal{}, "to[0]", nil},
		{"no recipient", func(r *SendRequest) { r.To = nil }, Principal{}, "to", nil},
		{"recipient flood", func(r *SendRequest) { r.To = make(AddressList, 101) }, Principal{}, "to", nil},
		{"bad priority", func(r *SendRequest) { r.Priority = "urgent" }, Principal{}, "priority", nil},
		{"CRLF in from_name", func(r *SendRequest) { r.FromName = "Ann\r\nBcc: x@evil.example" }, Principal{}, "from_name", nil},
		{"from_name too long", func(r *SendRequest) { r.FromName = strings.Repeat("n", 201) }, Principal{}, "from_name", nil},
		{"markdown with text", func(r *SendRequest) { r.Markdown = "# hi" }, Principal{}, "markdown", nil},
		{"no body at all", func(r *SendRequest) { r.Text = "" }, Principal{}, "text", nil},
		{"send_at past 30 days", func(r *SendRequest) { r.SendAt = time.Now().Add(31 * 24 * time.Hour) }, Principal{}, "send_at", nil},
		{"send_at after expires_at", func(r *SendRequest) {
			r.ExpiresAt, r.SendAt = time.Now().Add(time.Hour), time.Now().Add(2*time.Hour)
		}, Principal{}, "send_at", nil},
		{"expired already", func(r *SendRequest) { r.ExpiresAt = time.Now().Add(-time.Minute) }, Principal{}, "expires_at", nil},
		{"no body", func(r *SendRequest) { r.Text = "" }, Principal{}, "text", nil},
		{"no mailbox_id", func(r *SendRequest) { r.MailboxID = "" }, Principal{}, "mailbox_id", nil},
		{"key for another mailbox", func(r *SendRequest) {}, apiAs("mon@example.com"), "", ErrForbidden},
		{"key without send scope", func(r *SendRequest) {}, Principal{Mailbox: "auto@example.com", Scopes: []string{"read"}}, "", ErrForbidden},
		{"unknown mailbox", func(r *SendRequest) { r.MailboxID = "ghost@example.com" }, Principal{Mailbox: "*", Scopes: []string{"send"}}, "", ErrUnknownMailbox},
		{"read_only mailbox", func(r *SendRequest) { r.MailboxID = "ro@example.com" }, apiAs("ro@example.com"), "", ErrForbidden},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req := basicReq("auto@example.com")
			tc.edit(req)
			for i, a := range req.To {
				if a == "" {
					req.To[i] = "r@dest.example"
				}
			}
			auth := tc.auth
			if auth.Mailbox == "" {
				auth = apiAs("auto@example.com")
			}
			rc, err := env.sub.Send(context.Background(), req, auth)
			if err == nil {
				t.Fatalf("accepted: %+v", rc)
			}
			if tc.target != nil {
				if !errors.Is(err, tc.target) {
					t.Fatalf("err = %v, want %v", err, tc.target)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("err = %v, want a FieldError on %q", err, tc.field)
			}
		})
	}
}

// TestDecodeSendRequest covers wrong JSON types and unknown fields: a FieldError naming the field.
func TestDecodeSendRequest(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, body, field string
	}{
		{"to as number", `{"mailbox_id":"a@b.c","to":5}`, "to"},
		{"to list of numbers", `{"mailbox_id":"a@b.c","to":[1,2]}`, "to"},
		{"subject as object", `{"mailbox_id":"a@b.c","subject":{"x":1}}`, "subject"},
		{"tags as string", `{"mailbox_id":"a@b.c","tags":"a"}`, "tags"},
		{"headers as list", `{"mailbox_id":"a@b.c","headers":["X: y"]}`, "headers"},
		{"header value as number", `{"mailbox_id":"a@b.c","headers":{"X-A":1}}`, "headers"},
		{"attachment content not base64", `{"mailbox_id":"a@b.c","attachments":[{"filename":"a","content":"!!!"}]}`, "attachments.content"},
		{"expires_at not RFC 3339", `{"mailbox_id":"a@b.c","expires_at":"tomorrow"}`, "expires_at"},
		{"unknown field", `{"mailbox_id":"a@b.c","form":"x"}`, "form"},
		{"not JSON", `{"mailbox_id":`, "body"},
		{"two objects", `{"mailbox_id":"a@b.c"} {}`, "body"},
		{"array body", `[1]`, "body"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := DecodeSendRequest(strings.NewReader(tc.body))
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("err = %v, want a FieldError on %q", err, tc.field)
			}
		})
	}
	req, err := DecodeSendRequest(strings.NewReader(`{"mailbox_id":"a@b.c","to":"x@y.z","cc":["p@q.r"],"attachments":[{"filename":"f","content":"aGk="}]}`))
	if err != nil || len(req.To) != 1 || req.To[0] != "x@y.z" || string(req.Attachments[0].Content) != "hi" {
		t.Fatalf("decode = %+v, %v", req, err)
	}
}
