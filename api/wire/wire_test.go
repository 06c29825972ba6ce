package wire

import (
	"encoding/json"
	"slices"
	"testing"
	"time"
)

func TestStringList(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    StringList
		wantErr bool
	}{
		{`"a@example.com"`, StringList{"a@example.com"}, false},
		{`["a@example.com","b@example.com"]`, StringList{"a@example.com", "b@example.com"}, false},
		{`null`, nil, false},
		{`42`, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			var l StringList
			err := json.Unmarshal([]byte(tc.in), &l)
			if (err != nil) != tc.wantErr || !slices.Equal(l, tc.want) {
				t.Fatalf("got %v, %v", l, err)
			}
		})
	}
}

func TestWebhookEventSetAt(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 4, 19, 10, 0, 4, 0, time.UTC)
	e := WebhookEvent{Event: "delivered", MessageID: "msg_1", Version: WebhookVersion}
	e.SetAt(at)
	b, _ := json.Marshal(e)
	want := `{"event":"delivered","message_id":"msg_1","timestamp":"2026-04-19T10:00:04Z","version":"1","delivered_at":"2026-04-19T10:00:04Z"}`
	if string(b) != want {
		t.Fatalf("got %s", b)
	}
	var back WebhookEvent // a reader ignores fields it does not know
	if err := json.Unmarshal([]byte(`{"event":"delivered","future_field":{"x":1}}`), &back); err != nil || back.Event != "delivered" {
		t.Fatalf("%v %+v", err, back)
	}
}
