package api

import (
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"multimail.dev/multimail/api/wire"
	"multimail.dev/multimail/mailbox"
	"multimail.dev/multimail/submission"
)

func TestSendEmailSeedOTP(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	r := e.do("POST", "/v1/send_email", "send", otpBody())
	if r.status != http.StatusAccepted {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	var out struct {
		MessageID string `json:"message_id"`
		Status    string `json:"status"`
		QueuedAt  string `json:"queued_at"`
	}
	r.json(t, &out)
	if !strings.HasPrefix(out.MessageID, "msg_") || out.Status != "queued" {
		t.Errorf("got %+v", out)
	}
	if _, err := time.Parse(time.RFC3339, out.QueuedAt); err != nil {
		t.Errorf("queued_at %q: %v", out.QueuedAt, err)
	}
}

func TestSendEmailErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{maxBody: 64 << 10})
	with := func(k string, v any) map[string]any {
		b := otpBody()
		b[k] = v
		return b
	}
	without := func(k string) map[string]any {
		b := otpBody()
		delete(b, k)
		return b
	}
	tests := []struct {
		name   string
		key    string
		body   any
		status int
		code   string
		field  string
	}{
		{"no key", "", otpBody(), 401, CodeUnauthorized, ""},
		{"bad key", "mm_live_nope", otpBody(), 401, CodeUnauthorized, ""},
		{"bad json", "send", `{"mailbox_id":`, 400, CodeInvalidRequest, "body"},
		{"wrong type", "send", with("to", 42), 400, CodeInvalidRequest, "to"},
		{"unknown field", "send", with("form", "x"), 400, CodeInvalidRequest, "form"},
		{"missing mailbox_id", "send", without("mailbox_id"), 400, CodeInvalidRequest, "mailbox_id"},
		{"missing to", "send", without("to"), 400, CodeInvalidRequest, "to"},
		{"bad recipient", "send", with("to", []string{"ok@example.com", "not an address"}), 400, CodeInvalidRequest, "to[1]"},
		{"CRLF in subject", "send", with("subject", "hi\r\nBcc: victim@example.com"), 400, CodeInvalidRequest, "subject"},
		{"LF in reply_to", "send", with("reply_to", "a@example.com\nBcc: v@example.com"), 400, CodeInvalidRequest, "reply_to"},
		{"CR in header value", "send", with("headers", map[string]string{"X-Campaign": "a\rb"}), 400, CodeInvalidRequest, "headers.X-Campaign"},
		{"CRLF in to", "send", with("to", "user@example.com\r\nBcc: victim@example.com"), 400, CodeInvalidRequest, "to[0]"},
		{"CRLF in cc", "send", with("cc", []string{"a@example.com\nX: y"}), 400, CodeInvalidRequest, "cc[0]"},
		{"CRLF in header name", "send", with("headers", map[string]string{"X-A\r\nBcc": "v"}), 400, CodeInvalidRequest, ""},
		{"CRLF in attachment filename", "send", with("attachments", []map[string]string{{"filename": "a\r\n.pdf", "content": "aGk="}}), 400, CodeInvalidRequest, "attachments[0].filename"},
		{"CRLF in tag", "send", with("tags", []string{"auth\r\n"}), 400, CodeInvalidRequest, "tags[0]"},
		{"bad base64", "send", with("attachments", []map[string]string{{"filename": "a.pdf", "content": "!!"}}), 400, CodeInvalidRequest, ""},
		{"bad priority", "send", with("priority", "urgent"), 400, CodeInvalidRequest, "priority"},
		{"bad expires_at", "send", with("expires_at", "tomorrow"), 400, CodeInvalidRequest, "expires_at"},
		{"other mailbox", "other", otpBody(), 403, CodeForbidden, ""},
		{"Sender naming another mailbox", "send", with("headers", map[string]string{"Sender": "other@example.com"}), 403, CodeForbidden, ""},
		{"two Sender headers", "send", with("headers", map[string]string{"Sender": "auth@yourproduct.com", "sender": "auth@yourproduct.com"}), 403, CodeForbidden, ""},
		{"no send scope", "readonly", otpBody(), 403, CodeForbidden, ""},
		{"read_only mailbox", "ro", with("mailbox_id", "ro@example.com"), 403, CodeForbidden, ""},
		{"unknown mailbox", "allsend", with("mailbox_id", "nobody@yourproduct.com"), 422, CodeUnprocessable, "mailbox_id"},
		{"too large", "send", with("text", strings.Repeat("x", 70<<10)), 413, CodePayloadTooLarge, ""},
		{"too large chunked", "send", io.MultiReader(strings.NewReader(`{"text":"`), strings.NewReader(strings.Repeat("x", 70<<10))), 413, CodePayloadTooLarge, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := e.do("POST", "/v1/send_email", tc.key, tc.body)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			code, field, _ := r.apiError(t)
			if code != tc.code || (tc.field != "" && field != tc.field) {
				t.Errorf("error %s/%s, want %s/%s: %s", code, field, tc.code, tc.field, r.body)
			}
		})
	}
}

func TestSendEmailIdempotency(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	first := e.do("POST", "/v1/send_email", "send", otpBody(), "Idempotency-Key", "otp-1")
	if first.status != 202 {
		t.Fatalf("first: %d %s", first.status, first.body)
	}
	t.Run("same key and body replays", func(t *testing.T) {
		body := otpBody()
		body["idempotency_key"] = "otp-1" // the field and the header are the same key
		again := e.do("POST", "/v1/send_email", "send", body)
		if again.status != 202 || string(again.body) != string(first.body) {
			t.Fatalf("replay: %d %s, want %s", again.status, again.body, first.body)
		}
		if again.header.Get("Idempotent-Replayed") != "true" {
			t.Error("no Idempotent-Replayed header")
		}
	})
	t.Run("same key other body conflicts", func(t *testing.T) {
		body := otpBody()
		body["text"] = "another code"
		r := e.do("POST", "/v1/send_email", "send", body, "Idempotency-Key", "otp-1")
		if code, field, _ := r.apiError(t); r.status != 409 || code != CodeIdempotencyConflict || field != "idempotency_key" {
			t.Fatalf("got %d %s", r.status, r.body)
		}
	})
	t.Run("another mailbox's key replaying is refused before the lookup", func(t *testing.T) {
		r := e.do("POST", "/v1/send_email", "other", otpBody(), "Idempotency-Key", "otp-1")
		if r.status != 403 || strings.Contains(string(r.body), "msg_") || r.header.Get("Idempotent-Replayed") != "" {
			t.Fatalf("key of other@ replaying: %d %s", r.status, r.body)
		}
	})
	t.Run("a second key of the same mailbox replays (keys are per mailbox)", func(t *testing.T) {
		e.addKey("rotated", mailbox.APIKey{Mailboxes: []string{"auth@yourproduct.com"}, Scopes: []string{"send"}})
		again := e.do("POST", "/v1/send_email", "rotated", otpBody(), "Idempotency-Key", "otp-1")
		if again.status != 202 || string(again.body) != string(first.body) || again.header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("rotated key: %d %s, want %s", again.status, again.body, first.body)
		}
	})
	t.Run("the same key in another mailbox is another key", func(t *testing.T) {
		body := otpBody()
		body["mailbox_id"] = "other@example.com"
		r := e.do("POST", "/v1/send_email", "other", body, "Idempotency-Key", "otp-1")
		if r.status != 202 || string(r.body) == string(first.body) || r.header.Get("Idempotent-Replayed") != "" {
			t.Fatalf("other@ with the same key: %d %s", r.status, r.body)
		}
	})
	t.Run("header and field disagree", func(t *testing.T) {
		body := otpBody()
		body["idempotency_key"] = "otp-2"
		r := e.do("POST", "/v1/send_email", "send", body, "Idempotency-Key", "otp-3")
		if _, field, _ := r.apiError(t); r.status != 400 || field != "idempotency_key" {
			t.Fatalf("got %d %s", r.status, r.body)
		}
	})
}

func TestSendEmailGated(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	body := otpBody()
	body["mailbox_id"] = "gated@example.com"
	r := e.do("POST", "/v1/send_email", "gated", body)
	var out struct{ Status string }
	r.json(t, &out)
	if r.status != 202 || out.Status != "pending_approval" {
		t.Fatalf("got %d %s", r.status, r.body)
	}
}

// TestOneSendRequest keeps one definition of the send request: the server decodes into the
// wire type the CLI and MCP send.
func TestOneSendRequest(t *testing.T) {
	t.Parallel()
	if a, b := reflect.TypeOf(wire.SendRequest{}), reflect.TypeOf(submission.SendRequest{}); a != b {
		t.Fatalf("wire %v and submission %v differ", a, b)
	}
}
