package submission

import (
	"bytes"
	"context"
	"io"
	"mime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"multimail.dev/multimail/mailbox"
	"multimail.dev/multimail/queue"
)

// overseenMailboxes are added to the test store for the oversight-message tests.
var overseenMailboxes = []mailbox.Mailbox{
	{Address: "watched@example.com", Oversight: mailbox.Monitored, OversightAddress: "boss@corp.example"},
	{Address: "held@example.com", Oversight: mailbox.GatedSend, OversightAddress: "boss@corp.example"},
	{Address: "heldall@ed.example", Oversight: mailbox.GatedAll, OversightAddress: "boss@corp.example"},
	{Address: "free@example.com", Oversight: mailbox.Autonomous, OversightAddress: "boss@corp.example"},
	// overseen by a local mailbox that is itself monitored and overseen: still one message
	{Address: "chain@example.com", Oversight: mailbox.Monitored, OversightAddress: "watched@example.com"},
}

// newOverseenEnv is newEnv with overseenMailboxes.
func newOverseenEnv(t *testing.T, rules ...Rule) *testEnv {
	t.Helper()
	env := newEnv(t, rules...)
	for _, m := range overseenMailboxes {
		m.PasswordHash = passwordHash()
		if err := env.store.AddMailbox(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	return env
}

// rawFrom is an SMTP submission from mbox with an encoded Subject hiding a CRLF.
func rawFrom(mbox string) []byte {
	return []byte("From: " + mbox + "\r\nTo: bob@dest.example\r\n" +
		"Subject: =?utf-8?q?quarterly_report=0D=0ABcc:_evil@x.example?=\r\n\r\nnumbers\r\n")
}

func TestOversightMessages(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		mbox   string
		raw    bool       // through SubmitRaw (SMTP) rather than Send (API)
		rules  []Rule     // approval rules of the Submitter
		kind   noticeKind // "" = no oversight message
		status string     // the user's receipt
		to     string     // the oversight message's recipient
		lane   queue.Lane // the oversight message's lane
		domain string     // signing domain
	}{
		{"monitored copy", "watched@example.com", false, nil, noticeCopy, queue.StatusQueued, "boss@corp.example", queue.LaneNormal, "example.com"},
		{"monitored copy over SMTP", "watched@example.com", true, nil, noticeCopy, queue.StatusQueued, "boss@corp.example", queue.LaneNormal, "example.com"},
		{"gated_send approval request", "held@example.com", false, nil, noticeApproval, queue.StatusPendingApproval, "boss@corp.example", queue.LaneHigh, "example.com"},
		{"gated_all request, ed25519 domain", "heldall@ed.example", true, nil, noticeApproval, queue.StatusPendingApproval, "boss@corp.example", queue.LaneHigh, "ed.example"},
		{"overseer is a monitored mailbox: no recursion", "chain@example.com", false, nil, noticeCopy, queue.StatusQueued, "watched@example.com", queue.LaneNormal, "example.com"},
		{"monitored without an address", "mon@example.com", false, nil, "", queue.StatusQueued, "", 0, ""},
		{"gated without an address", "gated@example.com", false, nil, "", queue.StatusPendingApproval, "", 0, ""},
		{"autonomous with an address", "free@example.com", false, nil, "", queue.StatusQueued, "", 0, ""},
		{"auto-approved by a rule", "held@example.com", false, []Rule{{Action: ActionAutoApprove}}, "", queue.StatusQueued, "", 0, ""},
		{"rejected by a rule", "held@example.com", false, []Rule{{Action: ActionReject}}, "", queue.StatusRejected, "", 0, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := newOverseenEnv(t, tc.rules...)
			ctx := context.Background()
			var rc queue.Receipt
			var err error
			if tc.raw {
				rc, err = env.sub.SubmitRaw(ctx, tc.mbox, []string{"bob@dest.example", "carol@dest.example"}, rawFrom(tc.mbox), apiAs(tc.mbox))
			} else {
				req := basicReq(tc.mbox)
				req.Bcc = AddressList{"carol@dest.example"}
				rc, err = env.sub.Send(ctx, req, apiAs(tc.mbox))
			}
			if err != nil || rc.Status != tc.status {
				t.Fatalf("send: %+v %v, want status %s", rc, err, tc.status)
			}
			others := otherMessages(t, env, rc.ID)
			if tc.kind == "" {
				if len(others) != 0 {
					t.Fatalf("unexpected oversight messages: %+v", others)
				}
				return
			}
			if len(others) != 1 {
				t.Fatalf("%d oversight messages, want 1: %+v", len(others), others)
			}
			n := others[0]
			checkNoticeStatus(t, env, n, tc.to, tc.lane, tc.domain)
			body, err := env.q.Body(ctx, n.ID)
			if err != nil {
				t.Fatal(err)
			}
			checkNoticeBody(t, env, body, rc.ID, tc.kind, tc.to, tc.domain)
			if got := counterValue(t, env.sub.metrics.oversightSent.WithLabelValues(string(tc.kind))); got != 1 {
				t.Errorf("oversight messages metric = %v, want 1", got)
			}
		})
	}
}

// otherMessages lists the queue's messages but id.
func otherMessages(t *testing.T, env *testEnv, id string) []queue.Status {
	t.Helper()
	all, err := env.q.List(context.Background(), queue.ListFilter{})
	if err != nil {
		t.Fatal(err)
	}
	return slices.DeleteFunc(all, func(s queue.Status) bool { return s.ID == id })
}

// checkNoticeStatus checks the queue record of an oversight message: its envelope, its lane, no
// approval record and no oversight event of its own.
func checkNoticeStatus(t *testing.T, env *testEnv, n queue.Status, to string, lane queue.Lane, domain string) {
	t.Helper()
	if n.From != env.q.BounceAddress(n.ID, domain) || n.Mailbox != "" {
		t.Errorf("envelope from %q, mailbox %q; want %s and none", n.From, n.Mailbox, env.q.BounceAddress(n.ID, domain))
	}
	if len(n.Recipients) != 1 || n.Recipients[0].Address != to {
		t.Errorf("recipients = %+v, want %s", n.Recipients, to)
	}
	if n.Lane != lane || n.Approval != nil || n.State != queue.StatusQueued {
		t.Errorf("lane %v approval %+v state %s; want lane %v, no approval, queued", n.Lane, n.Approval, n.State, lane)
	}
	assertEvents(t, env, n.ID, "", false)
}

// checkNoticeBody checks the headers, the signature, the text and the attached message.
func checkNoticeBody(t *testing.T, env *testEnv, body []byte, origID string, kind noticeKind, to, domain string) {
	t.Helper()
	d, err := env.store.Domain(context.Background(), domain)
	if err != nil {
		t.Fatal(err)
	}
	goVerify(t, body, d.DKIMSelector+"._domainkey."+domain, dkimRecord(t, d.DKIMKeyPEM))
	e, err := message.Read(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	subj, _ := e.Header.Text("Subject")
	prefix := map[noticeKind]string{noticeCopy: "Monitored send: ", noticeApproval: "Approval needed: "}[kind]
	for field, want := range map[string]string{
		"From": "multimail-oversight@" + domain, "To": to, "Auto-Submitted": "auto-generated",
		"Message-Id": "@mx.example.com>", "X-Multimail-Oversight": string(kind),
	} {
		if !strings.Contains(e.Header.Get(field), want) {
			t.Errorf("%s: %q lacks %q", field, e.Header.Get(field), want)
		}
	}
	if !strings.HasPrefix(subj, prefix) || strings.ContainsAny(subj, "\r\n") || e.Header.Has("Bcc") {
		t.Errorf("Subject %q (want prefix %q, one line), Bcc %q", subj, prefix, e.Header.Get("Bcc"))
	}
	text, attached := noticeParts(t, e)
	wants := []string{origID, "bob@dest.example", "carol@dest.example"}
	if kind == noticeApproval {
		st, err := env.q.Status(context.Background(), origID)
		if err != nil || st.Approval == nil {
			t.Fatalf("held message: %+v %v", st, err)
		}
		id := st.Approval.ID
		wants = append(wants, "Approval:   "+id, "multimail approvals approve "+id,
			"POST /v1/approvals/"+id+"/approve with an operator key (approve scope)")
	}
	for _, w := range wants {
		if !strings.Contains(text, w) {
			t.Errorf("text lacks %q:\n%s", w, text)
		}
	}
	if !strings.Contains(string(attached), "Message-Id: <"+origID+"@mx.example.com>") {
		t.Errorf("attached message is not the user's:\n%s", attached)
	}
}

// noticeParts returns the text of an oversight message and its message/rfc822 part.
func noticeParts(t *testing.T, e *message.Entity) (string, []byte) {
	t.Helper()
	mr := e.MultipartReader()
	if mr == nil {
		t.Fatal("not multipart")
	}
	var text string
	var attached []byte
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(p.Body)
		if err != nil {
			t.Fatal(err)
		}
		switch mt, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type")); mt {
		case "text/plain":
			text = string(b)
		case "message/rfc822":
			attached = b
		}
	}
	return text, attached
}

// TestOversightFailureKeepsSend: an oversight message the queue refuses is counted and logged,
// and the user's send, already committed, is untouched.
func TestOversightFailureKeepsSend(t *testing.T) {
	t.Parallel()
	env := newOverseenEnv(t)
	ctx := context.Background()
	snd, err := env.sub.sender(ctx, "watched@example.com")
	if err != nil {
		t.Fatal(err)
	}
	snd.mbox.OversightAddress = "not an address" // the queue refuses it
	env2 := &envelope{sender: snd, rcpts: []string{"bob@dest.example"}, subject: "s", now: env.sub.clock.Now()}
	rc := queue.Receipt{ID: queue.NewMessageID(env2.now), Status: queue.StatusQueued}
	env.sub.notifyOversight(ctx, env2, decision{monitored: true}, rc, []byte("Subject: s\r\n\r\nx\r\n"))
	if got := counterValue(t, env.sub.metrics.oversightErrors.WithLabelValues(string(noticeCopy))); got != 1 {
		t.Errorf("oversight errors = %v, want 1", got)
	}
	if all, err := env.q.List(ctx, queue.ListFilter{}); err != nil || len(all) != 0 {
		t.Errorf("queue = %+v %v, want empty", all, err)
	}
}

// counterValue reads one counter.
func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// fakeLinks mints recognisable links, or none for one mailbox.
type fakeLinks struct{ off string }

func (f fakeLinks) DecisionLinks(id, mbox string, _ time.Time) (string, string, bool) {
	if mbox == f.off {
		return "", "", false
	}
	return "https://console.test/d/approve-" + id, "https://console.test/d/reject-" + id, true
}

// TestApprovalRequestLinks: with Options.Links the approval request carries the one-click
// links in the explanation part (not in the attached held message); a mailbox the minter
// refuses gets the CLI and API instructions only.
func TestApprovalRequestLinks(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, off string
		want      bool
	}{{"links", "", true}, {"refused for this mailbox", "held@example.com", false}} {
		t.Run(tc.name, func(t *testing.T) {
			env := newOverseenEnv(t)
			env.sub.opts.Links = fakeLinks{off: tc.off}
			ctx := context.Background()
			rc, err := env.sub.Send(ctx, basicReq("held@example.com"), apiAs("held@example.com"))
			if err != nil {
				t.Fatal(err)
			}
			others := otherMessages(t, env, rc.ID)
			if len(others) != 1 {
				t.Fatalf("%d oversight messages", len(others))
			}
			body, err := env.q.Body(ctx, others[0].ID)
			if err != nil {
				t.Fatal(err)
			}
			text := strings.ReplaceAll(string(body), "=\r\n", "")
			st, _ := env.q.Status(ctx, rc.ID)
			has := strings.Contains(text, "Approve: https://console.test/d/approve-"+st.Approval.ID) &&
				strings.Contains(text, "Reject:  https://console.test/d/reject-"+st.Approval.ID)
			if has != tc.want || !strings.Contains(text, "multimail approvals approve") {
				t.Fatalf("links present = %v, want %v:\n%s", has, tc.want, text)
			}
			if i, j := strings.Index(text, "Approve: https"), strings.Index(text, "message/rfc822"); tc.want && i > j {
				t.Fatal("the links are not in the explanation part")
			}
		})
	}
}
