package e2e

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"multimail.dev/multimail/api/wire"
	"multimail.dev/multimail/model"
	"multimail.dev/multimail/mta/mtatest"
)

// TestModelRandomized holds the real binary to the oversight model (model/gating.pml): a
// seeded random sequence of the model's operations (sends from an autonomous and a gated
// mailbox whose rules auto-approve, reject or hold; approvals and rejections by a person;
// kill -9 and restart at random points, also while the MX is in the middle of a slow DATA),
// then the model's properties checked against what the API, the webhooks and the recipient
// MX saw. Replay a run with MULTIMAIL_MODEL_SEED=<seed> (printed at the start).
func TestModelRandomized(t *testing.T) {
	t.Parallel()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("MULTIMAIL_MODEL_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("MULTIMAIL_MODEL_SEED: %v", err)
		}
		seed = v
	}
	t.Logf("seed %d (replay with MULTIMAIL_MODEL_SEED=%d)", seed, seed)
	r := &modelRun{t: t, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), msgs: map[string]*modelMsg{}}
	r.n = Start(t, Options{Config: modelConfig, MX: mtatest.MXOptions{SlowDelay: modelSlowDelay}})
	r.operator = apiKeyLine.FindStringSubmatch(r.n.mustCLI(t, "key", "create", "--mailbox", modelGated, "--scope", "approve"))[1]

	const steps, maxKills = 40, 3
	for i := 0; i < steps; i++ {
		switch p := r.rng.IntN(100); {
		case p < 60:
			r.send()
		case p < 85:
			r.decide()
		case p < 93 && r.kills < maxKills:
			r.crash()
		default:
			time.Sleep(time.Duration(r.rng.IntN(300)) * time.Millisecond)
		}
	}
	r.settle(90 * time.Second)
	r.check()
}

const (
	modelSlowDelay = 700 * time.Millisecond // the test MX's delay for slow-* recipients
	modelGated     = "gated@example.com"
	modelGatedKey  = "mm_live_e2e_model_gated_key_00001"
	// Rules of the gated mailbox: "auto" is auto-approved, "block" rejected, the rest held.
	// max_lifetime bounds the tempfail-forever recipients, so every run settles.
	modelConfig = `[api]
rate_limit = -1

[delivery]
min_backoff = "300ms"
max_backoff = "600ms"
max_lifetime = "6s"

[[mailbox]]
address = "gated@example.com"
oversight = "gated_send"
api_keys = ["mm_live_e2e_model_gated_key_00001"]

[[approval_rule]]
mailbox = "gated@example.com"
tags = ["auto"]
action = "auto_approve"

[[approval_rule]]
mailbox = "gated@example.com"
tags = ["block"]
action = "reject"
`
)

// modelRcpts are the recipient behaviours of the test MX (mta/mtatest), one each per send.
var modelRcpts = []string{"ok", "tempfail1", "reject", "datafail", "slow", "tempfail"}

type modelMsg struct {
	id, mailbox string
	gated       bool
	rcpts       []string
}

type modelRun struct {
	t        *testing.T
	n        *Node
	rng      *rand.Rand
	operator string
	msgs     map[string]*modelMsg // acknowledged (202) sends
	order    []string
	seq      int
	kills    int
	killedAt []time.Time
}

// send is the model's accept: a 202 is the acknowledgement; anything else (the node is
// restarting) acknowledged nothing.
func (r *modelRun) send() {
	gated := r.rng.IntN(2) == 0
	mb, key := Sender, APIKey
	if gated {
		mb, key = modelGated, modelGatedKey
	}
	var rcpts []string
	for range 1 + r.rng.IntN(2) {
		r.seq++
		rcpts = append(rcpts, fmt.Sprintf("%s-m%d@customer.test", modelRcpts[r.rng.IntN(len(modelRcpts))], r.seq))
	}
	tags := [][]string{nil, {"auto"}, {"block"}}[r.rng.IntN(3)]
	body, _ := json.Marshal(map[string]any{"mailbox_id": mb, "to": rcpts, "subject": "model", "text": "x", "tags": tags})
	code, out, err := r.n.try("POST", "/v1/send_email", key, body)
	if err != nil || code != 202 {
		return
	}
	var res struct {
		MessageID string `json:"message_id"`
	}
	if err := json.Unmarshal(out, &res); err != nil || res.MessageID == "" {
		r.t.Fatalf("202 without a message id: %s", out)
	}
	r.msgs[res.MessageID] = &modelMsg{id: res.MessageID, mailbox: mb, gated: gated, rcpts: rcpts}
	r.order = append(r.order, res.MessageID)
}

// decide is a person approving or rejecting one pending approval.
func (r *modelRun) decide() bool {
	code, out, err := r.n.try("GET", "/v1/approvals?state=pending", r.operator, nil)
	if err != nil || code != 200 {
		return false
	}
	var list wire.ApprovalList
	if err := json.Unmarshal(out, &list); err != nil {
		r.t.Fatalf("approvals: %v %s", err, out)
	}
	if len(list.Approvals) == 0 {
		return false
	}
	a := list.Approvals[r.rng.IntN(len(list.Approvals))]
	verb := "approve"
	if r.rng.IntN(3) == 0 {
		verb = "reject"
	}
	_, _, _ = r.n.try("POST", "/v1/approvals/"+a.ApprovalID+"/"+verb, r.operator, []byte(`{"reason":"model"}`))
	return true
}

// crash is kill -9, at once or while a slow DATA is in flight, then a restart.
func (r *modelRun) crash() {
	if r.rng.IntN(2) == 0 {
		time.Sleep(time.Duration(200+r.rng.IntN(500)) * time.Millisecond)
	}
	r.kills++
	r.killedAt = append(r.killedAt, time.Now())
	r.n.Kill()
	r.n.Restart()
}

// settle waits until every acknowledged message is settled, deciding what is still held.
func (r *modelRun) settle(d time.Duration) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		for r.decide() {
		}
		open := 0
		for _, id := range r.order {
			if !settled(r.status(id)) {
				open++
			}
		}
		if open == 0 {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	r.t.Fatalf("acknowledged messages did not settle within %v", d)
}

func (r *modelRun) status(id string) wire.Message {
	key := APIKey
	if r.msgs[id].gated {
		key = modelGatedKey
	}
	code, out := r.n.Do("GET", "/v1/messages/"+id, key, nil)
	if code != 200 {
		r.t.Fatalf("acknowledged message %s: GET = %d %s (lost?)", id, code, out)
	}
	var m wire.Message
	if err := json.Unmarshal(out, &m); err != nil {
		r.t.Fatal(err)
	}
	return m
}

// terminal recipient states of the model.
var terminal = map[string]bool{"delivered": true, "bounced": true, "failed": true, "expired": true, "rejected": true}

func settled(m wire.Message) bool {
	for _, rc := range m.Recipients {
		if !terminal[rc.Status] {
			return false
		}
	}
	return len(m.Recipients) > 0
}

// check asserts the model's properties on what was observed.
func (r *modelRun) check() {
	mx := map[string]int{}          // message id + recipient -> copies the MX accepted
	first := map[string]time.Time{} // … and when the first and the last arrived
	last := map[string]time.Time{}
	for _, m := range r.n.MX.Messages() {
		for _, to := range m.To {
			k := bounceID(m.From) + " " + to
			if mx[k] == 0 {
				first[k] = m.Received
			}
			mx[k]++
			last[k] = m.Received
		}
	}
	dups := 0
	for _, id := range r.order {
		m := r.status(id)
		var steps []model.Step
		approved, decisions := false, 0
		for _, e := range m.Events {
			steps = append(steps, model.Step{Event: e.Event, Recipient: e.Recipient})
			switch e.Event {
			case "approved":
				approved, decisions = true, decisions+1
			case "rejected":
				decisions++
			}
		}
		if err := model.CheckTrail(steps); err != nil {
			r.t.Errorf("%s: trail breaks the model: %v (%v)", id, err, steps)
		}
		if decisions > 1 {
			r.t.Errorf("%s: decided %d times", id, decisions)
		}
		if len(m.Recipients) != len(r.msgs[id].rcpts) {
			r.t.Errorf("%s: %d recipients recorded, %d acknowledged", id, len(m.Recipients), len(r.msgs[id].rcpts))
		}
		for _, rc := range m.Recipients {
			got := mx[id+" "+rc.Address]
			switch {
			case r.msgs[id].gated && !approved && got > 0:
				r.t.Errorf("%s: gated, never approved, yet the MX got %s", id, rc.Address)
			case rc.Status == "rejected" && got > 0:
				r.t.Errorf("%s: rejected, yet the MX got %s", id, rc.Address)
			case rc.Status == "delivered" && got == 0:
				r.t.Errorf("%s: %s recorded delivered, but the MX never accepted it", id, rc.Address)
			case got > 1:
				// A duplicate comes only from a crash between the MX's 250 and our commit:
				// a kill must fall between the first copy and the last. The test MX records
				// a copy when it is about to answer 250, after its slow delay, so the copy of
				// a node killed during that delay is recorded just after the kill.
				k := id + " " + rc.Address
				if !r.killedBetween(first[k].Add(-modelSlowDelay-time.Second), last[k]) {
					r.t.Errorf("%s: the MX got %s %d times with no crash between %v and %v", id, rc.Address, got, first[k], last[k])
				}
				dups += got - 1
			}
			if n := terminalEvents(m.Events, rc.Address); n != 1 {
				r.t.Errorf("%s: %s has %d terminal events, want exactly 1", id, rc.Address, n)
			}
		}
	}
	held := 0
	for _, id := range r.order {
		if r.msgs[id].gated {
			held++
		}
	}
	r.t.Logf("%d acknowledged sends (%d gated), %d kills, %d MX deliveries, %d duplicates",
		len(r.order), held, r.kills, r.n.MX.Count(), dups)
}

// killedBetween reports whether a kill -9 fell between a and b.
func (r *modelRun) killedBetween(a, b time.Time) bool {
	for _, k := range r.killedAt {
		if k.After(a) && k.Before(b) {
			return true
		}
	}
	return false
}

// terminalEvents counts the terminal outcomes recorded for one recipient; a late DSN's
// "bounced" after "delivered" is the one allowed extra event, and does not count.
func terminalEvents(evs []wire.TrailEvent, rcpt string) int {
	n, delivered := 0, false
	for _, e := range evs {
		if e.Recipient != rcpt && e.Event != "rejected" {
			continue
		}
		switch {
		case e.Event == "rejected":
			n++
		case e.Event == "delivered":
			delivered = true
			n++
		case e.Event == "bounced" && delivered:
		case terminal[e.Event]:
			n++
		}
	}
	return n
}
