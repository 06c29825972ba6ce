package api

import (
	"net/http"
	"strings"
	"testing"

	"multimail.dev/multimail/api/wire"
)

// TestSendBatch: one result per item in order (202 or the item's own error naming
// messages[i].field), each idempotent on its own key; a mailbox the key does not hold
// refuses the whole batch; over 500 items is a 400.
func TestSendBatch(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	good := func(key string) map[string]any {
		b := otpBody()
		b["idempotency_key"] = key
		return b
	}
	bad := otpBody()
	bad["subject"] = "x\r\nBcc: victim@evil.example"
	body := map[string]any{"messages": []any{good("k1"), bad, good("k2"), map[string]any{"mailbox_id": ownA, "to": 5}}}
	r := e.do("POST", "/v1/send_batch", "send", body)
	if r.status != http.StatusOK {
		t.Fatalf("%d %s", r.status, r.body)
	}
	var out wire.BatchResponse
	r.json(t, &out)
	if len(out.Results) != 4 {
		t.Fatalf("results %+v", out.Results)
	}
	for i, want := range []struct {
		status int
		field  string
	}{{202, ""}, {400, "messages[1].subject"}, {202, ""}, {400, "messages[3].to"}} {
		res := out.Results[i]
		if res.Index != i || res.HTTPStatus != want.status {
			t.Errorf("item %d: %+v", i, res)
		}
		if want.status == 202 && (!strings.HasPrefix(res.MessageID, "msg_") || res.Status != "queued" || res.Error != nil) {
			t.Errorf("item %d: %+v", i, res)
		}
		if want.field != "" && (res.Error == nil || res.Error.Field != want.field || !strings.HasPrefix(res.Error.Message, want.field+": ")) {
			t.Errorf("item %d: error %+v, want field %s", i, res.Error, want.field)
		}
	}
	// the same batch again: the keyed items replay their first result, the rest fail again
	r = e.do("POST", "/v1/send_batch", "send", body)
	var again wire.BatchResponse
	r.json(t, &again)
	for _, i := range []int{0, 2} {
		if again.Results[i].MessageID != out.Results[i].MessageID || !again.Results[i].IdempotentReplayed {
			t.Errorf("item %d not replayed: %+v", i, again.Results[i])
		}
	}
	other := otpBody()
	other["mailbox_id"] = otherM
	r = e.do("POST", "/v1/send_batch", "send", map[string]any{"messages": []any{good("k3"), other}})
	if code, field, _ := r.apiError(t); r.status != 403 || code != CodeForbidden || field != "messages[1].mailbox_id" {
		t.Fatalf("another mailbox: %d %s", r.status, r.body)
	}
	many := make([]any, wire.MaxBatch+1)
	for i := range many {
		many[i] = otpBody()
	}
	r = e.do("POST", "/v1/send_batch", "send", map[string]any{"messages": many})
	if _, field, _ := r.apiError(t); r.status != 400 || field != "messages" {
		t.Fatalf("501 items: %d %s", r.status, r.body)
	}
	for _, b := range []string{`{"messages":[]}`, `{"messages":{}}`, `[]`, `{"messages":[1]}`} {
		r = e.do("POST", "/v1/send_batch", "send", b)
		if b == `{"messages":[1]}` {
			var o wire.BatchResponse
			r.json(t, &o)
			if r.status != 200 || o.Results[0].HTTPStatus != 400 {
				t.Errorf("%s: %d %s", b, r.status, r.body)
			}
			continue
		}
		if r.status != 400 {
			t.Errorf("%s: %d %s", b, r.status, r.body)
		}
	}
}
