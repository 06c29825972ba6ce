package api

import (
	"net/http"
	"testing"
	"time"

	"multimail.dev/multimail/api/wire"
)

// TestCancelMessage: a scheduled send is cancelled (200 naming the recipients, the trail
// has queued, scheduled, cancelled); a second cancel is 409 nothing_to_cancel; the message of
// another mailbox is 404.
func TestCancelMessage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	body := otpBody()
	body["to"] = []string{"a@dest.example", "b@dest.example"}
	body["send_at"] = time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	id := e.send(body)
	r := e.do("POST", "/v1/messages/"+id+"/cancel", "send", nil)
	if r.status != http.StatusOK {
		t.Fatalf("cancel: %d %s", r.status, r.body)
	}
	var out wire.CancelResponse
	r.json(t, &out)
	if out.MessageID != id || len(out.Cancelled) != 2 || len(out.InFlight) != 0 || out.Status != "cancelled" {
		t.Fatalf("cancel: %+v", out)
	}
	r = e.do("GET", "/v1/messages/"+id, "send", nil)
	var m wire.Message
	r.json(t, &m)
	var evs []string
	for _, ev := range m.Events {
		evs = append(evs, ev.Event)
	}
	if len(evs) != 4 || evs[0] != "queued" || evs[1] != "scheduled" || evs[2] != "cancelled" || m.SendAt == nil {
		t.Fatalf("trail %v, send_at %v", evs, m.SendAt)
	}
	r = e.do("POST", "/v1/messages/"+id+"/cancel", "send", nil)
	if code, _, _ := r.apiError(t); r.status != http.StatusConflict || code != CodeNothingToCancel {
		t.Fatalf("second cancel: %d %s", r.status, r.body)
	}
	other := otpBody()
	other["mailbox_id"] = otherM
	r = e.do("POST", "/v1/send_email", "other", other)
	var sent wire.SendResponse
	r.json(t, &sent)
	if r = e.do("POST", "/v1/messages/"+sent.MessageID+"/cancel", "send", nil); r.status != http.StatusNotFound {
		t.Fatalf("another mailbox's message: %d %s", r.status, r.body)
	}
}
