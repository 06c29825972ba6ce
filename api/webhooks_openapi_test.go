package api

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/jsonschema-go/jsonschema"

	"multimail.dev/multimail/api/webhook"
	"multimail.dev/multimail/api/wire"
	"multimail.dev/multimail/queue"
)

// TestOpenAPIWebhooks: the OpenAPI document's webhooks section has one entry per event the
// server posts, its WebhookEvent schema names every field of wire.WebhookEvent, and the
// payload webhook.Payload makes for each event (as the queue, inbound and the trust ladder
// record it) validates against that event's schema.
func TestOpenAPIWebhooks(t *testing.T) {
	t.Parallel()
	var doc struct {
		Webhooks   map[string]map[string]json.RawMessage `json:"webhooks"`
		Components struct {
			Schemas map[string]json.RawMessage `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	var base struct {
		Properties map[string]json.RawMessage `json:"properties"`
	}
	if err := json.Unmarshal(doc.Components.Schemas["WebhookEvent"], &base); err != nil {
		t.Fatal(err)
	}
	rt := reflect.TypeOf(wire.WebhookEvent{})
	for i := range rt.NumField() {
		name, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
		if _, ok := base.Properties[name]; !ok {
			t.Errorf("wire.WebhookEvent field %q is not in the WebhookEvent schema", name)
		}
		if ev, ok := strings.CutSuffix(name, "_at"); ok && name != "send_at" {
			if _, ok := doc.Webhooks[ev]; !ok {
				t.Errorf("event %q (field %s) has no entry in webhooks", ev, name)
			}
		}
	}

	now := time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC)
	rcpt := queue.Event{Recipient: "user@example.com", Tags: []string{"auth"}}
	with := func(e queue.Event, f func(*queue.Event)) queue.Event { f(&e); return e }
	ladder := queue.Event{MsgID: "ovr_01KAAAAAAAAAAAAAAAAAAAAAAA", MailboxID: ownA, By: "api:key_x", Reason: "r", Detail: "gated_send -> autonomous"}
	samples := map[string][]queue.Event{
		"queued":           {{Tags: []string{"auth"}}},
		"pending_approval": {{}},
		"approved":         {{By: "rule:1", Rule: "tags otp"}, {By: "api:key_op", Reason: "fine"}},
		"rejected":         {{By: "cli", Reason: "no"}},
		"monitored":        {{}},
		"scheduled":        {{SendAt: now.Add(time.Hour)}},
		"delivered": {with(rcpt, func(e *queue.Event) { e.MXHost, e.SMTPCode, e.Attempt, e.TLS = "mx.example.com", 250, 1, true }),
			with(rcpt, func(e *queue.Event) { e.MXHost, e.Attempt, e.Test = queue.TestSink, 1, true })},
		"deferred": {with(rcpt, func(e *queue.Event) { e.SMTPCode, e.EnhancedCode, e.Detail, e.Attempt = 451, "4.3.0", "try later", 2 })},
		"bounced": {with(rcpt, func(e *queue.Event) {
			e.SMTPCode, e.EnhancedCode, e.Detail, e.Attempt = 550, "5.1.1", "no such user", 1
		}),
			with(rcpt, func(e *queue.Event) { e.EnhancedCode, e.Detail = "5.1.2", "DSN from dns; mx" })},
		"failed":    {with(rcpt, func(e *queue.Event) { e.Detail = "maximum queue lifetime reached" })},
		"expired":   {with(rcpt, func(e *queue.Event) { e.Detail = "expired before delivery" })},
		"cancelled": {rcpt},
		"complained": {with(rcpt, func(e *queue.Event) {
			e.Reason, e.Detail = queue.SuppressComplaint, "ARF abuse report from Yahoo!-Mail-Feedback/2.0"
		})},
		"unsubscribed": {with(rcpt, func(e *queue.Event) { e.Reason, e.Detail = queue.SuppressUnsubscribe, "one-click from 203.0.113.9" })},
		"received": {{MsgID: "em_01KAAAAAAAAAAAAAAAAAAAAAAA", MailboxID: ownA, EmailID: "em_01KAAAAAAAAAAAAAAAAAAAAAAA",
			Received: &queue.ReceivedInfo{From: []string{"a@b.example"}, To: []string{ownA}, Subject: "hi", Snippet: "hello",
				ThreadID: "th_1", AuthResults: "mx; spf=pass", Auth: map[string]string{"spf": "pass"}}}},
		"oversight_requested": {ladder}, "oversight_approved": {ladder}, "oversight_rejected": {ladder}, "oversight_changed": {ladder},
	}
	for name := range doc.Webhooks {
		if _, ok := samples[name]; !ok {
			t.Errorf("webhook %q has no sample here: add one", name)
		}
	}
	for name, evs := range samples {
		var item struct {
			Post struct {
				RequestBody struct {
					Content map[string]struct {
						Schema json.RawMessage `json:"schema"`
					} `json:"content"`
				} `json:"requestBody"`
			} `json:"post"`
		}
		raw, ok := doc.Webhooks[name]["post"]
		if !ok {
			t.Errorf("no webhook entry for %q", name)
			continue
		}
		if err := json.Unmarshal([]byte(`{"post":`+string(raw)+`}`), &item); err != nil {
			t.Fatal(err)
		}
		text := inlineWebhookEvent(t, item.Post.RequestBody.Content["application/json"].Schema, doc.Components.Schemas["WebhookEvent"])
		var sc jsonschema.Schema
		if err := json.Unmarshal([]byte(text), &sc); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		rs, err := sc.Resolve(nil)
		if err != nil {
			t.Fatalf("%s: resolve: %v", name, err)
		}
		for i, ev := range evs {
			ev.Type, ev.Time, ev.Seq = queue.EventType(name), now, uint64(i+1)
			if ev.MsgID == "" {
				ev.MsgID = "msg_01KAAAAAAAAAAAAAAAAAAAAAAA"
			}
			b, err := webhook.Body(ev)
			if err != nil {
				t.Fatal(err)
			}
			var inst any
			if err := json.Unmarshal(b, &inst); err != nil {
				t.Fatal(err)
			}
			if err := rs.Validate(inst); err != nil {
				t.Errorf("%s payload %s does not validate: %v", name, b, err)
			}
		}
	}
	// and the schema is not vacuous: a delivered payload without its recipient fails
	var bad any
	_ = json.Unmarshal([]byte(`{"event":"delivered","message_id":"m","timestamp":"2026-12-06T03:00:00Z","version":"1","delivered_at":"2026-12-06T03:00:00Z","attempt":1,"tls":true}`), &bad)
	var item map[string]any
	_ = json.Unmarshal(doc.Webhooks["delivered"]["post"], &item)
	b, _ := json.Marshal(item["requestBody"].(map[string]any)["content"].(map[string]any)["application/json"].(map[string]any)["schema"])
	var sc jsonschema.Schema
	_ = json.Unmarshal([]byte(inlineWebhookEvent(t, b, doc.Components.Schemas["WebhookEvent"])), &sc)
	rs, err := sc.Resolve(nil)
	if err != nil {
		t.Fatal(err)
	}
	if rs.Validate(bad) == nil {
		t.Error("a delivered payload without recipient validates")
	}
}

// inlineWebhookEvent replaces the $ref to components/schemas/WebhookEvent in schema by that
// schema, so the webhook's schema resolves on its own.
func inlineWebhookEvent(t *testing.T, schema, base json.RawMessage) string {
	t.Helper()
	var c bytes.Buffer
	if err := json.Compact(&c, schema); err != nil {
		t.Fatal(err)
	}
	ref := `{"$ref":"#/components/schemas/WebhookEvent"}`
	if !strings.Contains(c.String(), ref) {
		t.Fatalf("no $ref to WebhookEvent in %s", c.String())
	}
	return strings.ReplaceAll(c.String(), ref, string(base))
}
