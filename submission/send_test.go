package submission

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message/mail"

	"multimail.dev/multimail/mailbox"
	"multimail.dev/multimail/queue"
)

// basicReq is a valid API send from mbox.
func basicReq(mbox string) *SendRequest {
	return &SendRequest{MailboxID: mbox, To: AddressList{"bob@dest.example"}, Subject: "hello", Text: "hi\nthere"}
}

func TestSendOversight(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	ctx := context.Background()
	cases := []struct {
		name       string
		mbox       string
		wantStatus string
		wantErr    error
		approval   queue.ApprovalState // "" = no record
		monitored  bool
	}{
		{"autonomous goes out", "auto@example.com", queue.StatusQueued, nil, "", false},
		{"monitored goes out and is recorded", "mon@example.com", queue.StatusQueued, nil, "", true},
		{"gated_send is held", "gated@example.com", queue.StatusPendingApproval, nil, queue.ApprovalPending, false},
		{"gated_all is held", "all@example.com", queue.StatusPendingApproval, nil, queue.ApprovalPending, false},
		{"read_only is forbidden", "ro@example.com", "", ErrForbidden, "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rc, err := env.sub.Send(ctx, basicReq(tc.mbox), apiAs(tc.mbox))
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if rc.Status != tc.wantStatus || !strings.HasPrefix(rc.ID, "msg_") {
				t.Fatalf("receipt = %+v, want status %s", rc, tc.wantStatus)
			}
			assertEvents(t, env, rc.ID, tc.approval, tc.monitored)
		})
	}
}

// assertEvents checks the trail of a message for its oversight events.
func assertEvents(t *testing.T, env *testEnv, id string, approval queue.ApprovalState, monitored bool) {
	t.Helper()
	evs, err := env.q.Events(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	types := map[queue.EventType]bool{}
	for _, e := range evs {
		types[e.Type] = true
	}
	if monitored != types[queue.EventMonitored] {
		t.Errorf("monitored event = %v, want %v (%v)", types[queue.EventMonitored], monitored, evs)
	}
	if approval == queue.ApprovalPending && !types[queue.EventPendingApproval] {
		t.Errorf("no pending_approval event: %v", evs)
	}
}

func TestSendRules(t *testing.T) {
	t.Parallel()
	rules := []Rule{
		{Mailbox: "gated@example.com", Tags: []string{"auth"}, Recipients: []string{"*@partner.example"}, Action: ActionAutoApprove},
		{Mailbox: "gated@example.com", Recipients: []string{"*@blocked.example"}, Action: ActionReject},
		{Mailbox: "*", Tags: []string{"review"}, Action: ActionRequireApproval},
	}
	env := newEnv(t, rules...)
	ctx := context.Background()
	cases := []struct {
		name   string
		to     []string
		tags   []string
		status string
		by     string
		state  queue.ApprovalState
	}{
		{"rule 1 auto-approves", []string{"a@partner.example", "b@PARTNER.example"}, []string{"Auth"}, queue.StatusQueued, "rule:1", queue.ApprovalApproved},
		{"rule 1 needs every recipient", []string{"a@partner.example", "c@other.example"}, []string{"auth"}, queue.StatusPendingApproval, "", queue.ApprovalPending},
		{"rule 1 needs the tag", []string{"a@partner.example"}, nil, queue.StatusPendingApproval, "", queue.ApprovalPending},
		{"rule 2 rejects", []string{"x@blocked.example"}, nil, queue.StatusRejected, "rule:2", queue.ApprovalRejected},
		{"rule 3 requires approval", []string{"a@partner.example"}, []string{"review"}, queue.StatusPendingApproval, "", queue.ApprovalPending},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req := basicReq("gated@example.com")
			req.To, req.Tags = tc.to, tc.tags
			rc, err := env.sub.Send(ctx, req, apiAs("gated@example.com"))
			if err != nil {
				t.Fatal(err)
			}
			if rc.Status != tc.status {
				t.Fatalf("status = %s, want %s", rc.Status, tc.status)
			}
			st, err := env.q.Status(ctx, rc.ID)
			if err != nil {
				t.Fatal(err)
			}
			if st.Approval == nil || st.Approval.State != tc.state || st.Approval.By != tc.by {
				t.Fatalf("approval = %+v, want state %s by %q", st.Approval, tc.state, tc.by)
			}
		})
	}
}

func TestApprovalFlow(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	ctx := context.Background()
	held := func() string {
		rc, err := env.sub.Send(ctx, basicReq("gated@example.com"), apiAs("gated@example.com"))
		if err != nil || rc.Status != queue.StatusPendingApproval {
			t.Fatalf("send: %+v %v", rc, err)
		}
		st, err := env.q.Status(ctx, rc.ID)
		if err != nil {
			t.Fatal(err)
		}
		return st.Approval.ID
	}
	approveID, rejectID := held(), held()

	list, err := env.sub.Approvals(ctx, queue.ApprovalPending, apiAs("gated@example.com"))
	if err != nil || len(list) != 2 {
		t.Fatalf("approvals = %v, %v; want 2", list, err)
	}
	if err := env.sub.Approve(ctx, approveID, "ok", apiAs("gated@example.com")); !errors.Is(err, ErrForbidden) {
		t.Fatalf("an agent approving its own send: %v, want ErrForbidden", err)
	}
	// Separation of duties at use time: a legacy key holding send and admin (no longer
	// creatable) never decides; an approve key of another mailbox neither.
	for name, p := range map[string]Principal{
		"legacy send+admin":   {Mailbox: "gated@example.com", KeyID: "key_legacy", Scopes: []string{"send", "read", "admin"}, Source: "api"},
		"legacy * send+admin": {Mailbox: "*", KeyID: "key_legacy", Scopes: []string{"send", "admin"}, Source: "api"},
		"approve elsewhere":   {Mailbox: "auto@example.com", KeyID: "key_op", Scopes: []string{"approve"}, Source: "api"},
		"read only":           {Mailbox: "gated@example.com", KeyID: "key_r", Scopes: []string{"read", "tag"}, Source: "api"},
	} {
		if err := env.sub.Approve(ctx, approveID, "", p); !errors.Is(err, ErrForbidden) {
			t.Fatalf("%s approving: %v, want ErrForbidden", name, err)
		}
	}
	operator := Principal{Mailbox: "gated@example.com", KeyID: "key_op", Scopes: []string{"approve"}, Source: "api"}
	if err := operator.MayDecide("gated@example.com"); err != nil {
		t.Fatalf("an approve key of the mailbox: %v", err)
	}
	if err := env.sub.Approve(ctx, approveID, "looks fine", admin); err != nil {
		t.Fatal(err)
	}
	if err := env.sub.Reject(ctx, rejectID, "no", admin); err != nil {
		t.Fatal(err)
	}
	if err := env.sub.Approve(ctx, rejectID, "", admin); !errors.Is(err, queue.ErrNotPending) {
		t.Fatalf("approving a rejected message: %v, want ErrNotPending", err)
	}
	assertDecision(t, env, approveID, queue.EventApproved, "cli")
	assertDecision(t, env, rejectID, queue.EventRejected, "cli")
	sent := sentFolder(t, env, "gated@example.com")
	if len(sent) != 1 {
		t.Fatalf("Sent has %d messages, want 1 (the approved one)", len(sent))
	}
}

// assertDecision checks that the approval's message has an event typ by who.
func assertDecision(t *testing.T, env *testEnv, approvalID string, typ queue.EventType, by string) {
	t.Helper()
	rec, err := env.q.Approval(context.Background(), approvalID)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := env.q.Events(context.Background(), rec.MsgID)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if e.Type == typ && e.By == by {
			return
		}
	}
	t.Fatalf("no %s event by %s in %+v", typ, by, evs)
}

// sentFolder lists a mailbox's Sent folder.
func sentFolder(t *testing.T, env *testEnv, mbox string) []mailbox.Email {
	t.Helper()
	l, err := env.store.List(context.Background(), mbox, "Sent")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestSendBuildsMIME(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	ctx := context.Background()
	req := &SendRequest{
		MailboxID: "auto@example.com", To: AddressList{"Bob Example <bob@dest.example>"},
		Cc: AddressList{"carol@dest.example"}, Bcc: AddressList{"secret@dest.example"},
		ReplyTo: "replies@example.com", Subject: "Grüße", Text: "plain body", HTML: "<p>html body</p>",
		Headers:     map[string]string{"X-Campaign": "launch", "In-Reply-To": "<a@b>"},
		Attachments: []Attachment{{Filename: "r.pdf", ContentType: "application/pdf", Content: []byte("%PDF-1.4")}},
		Priority:    "high", Tags: []string{"launch"},
	}
	rc, err := env.sub.Send(ctx, req, apiAs("auto@example.com"))
	if err != nil {
		t.Fatal(err)
	}
	body, err := env.q.Body(ctx, rc.ID)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(body, []byte("secret@dest.example")) {
		t.Fatal("Bcc leaked into the message")
	}
	mr, err := mail.CreateReader(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if subj, _ := mr.Header.Subject(); subj != "Grüße" {
		t.Errorf("subject = %q", subj)
	}
	if mt, _, _ := mr.Header.ContentType(); mt != "multipart/mixed" {
		t.Errorf("top content type = %s", mt)
	}
	if mr.Header.Get("X-Campaign") != "launch" || mr.Header.Get("Message-Id") == "" || mr.Header.Get("Date") == "" {
		t.Errorf("header: %v", mr.Header.Map())
	}
	got := partTypes(t, mr)
	want := "text/plain,text/html,attachment:r.pdf"
	if got != want {
		t.Errorf("parts = %s, want %s", got, want)
	}
	st, err := env.q.Status(ctx, rc.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st.Lane != queue.LaneHigh || len(st.Recipients) != 3 || st.From != env.q.BounceAddress(rc.ID, "example.com") {
		t.Errorf("status = lane %v, %d rcpts, from %s", st.Lane, len(st.Recipients), st.From)
	}
	if len(sentFolder(t, env, "auto@example.com")) != 1 {
		t.Error("no copy in Sent")
	}
}

// partTypes lists the leaf parts of a message.
func partTypes(t *testing.T, mr *mail.Reader) string {
	t.Helper()
	var out []string
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		switch h := p.Header.(type) {
		case *mail.InlineHeader:
			mt, _, _ := h.ContentType()
			out = append(out, mt)
		case *mail.AttachmentHeader:
			fn, _ := h.Filename()
			out = append(out, "attachment:"+fn)
		}
	}
	return strings.Join(out, ",")
}

func TestSendIdempotency(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	ctx := context.Background()
	req := basicReq("auto@example.com")
	req.IdempotencyKey = "order-42"
	first, err := env.sub.Send(ctx, req, apiAs("auto@example.com"))
	if err != nil {
		t.Fatal(err)
	}
	again, err := env.sub.Send(ctx, basicReqWithKey("order-42"), apiAs("auto@example.com"))
	if err != nil || again.ID != first.ID || !again.Duplicate {
		t.Fatalf("same request again = %+v, %v; want duplicate of %s", again, err, first.ID)
	}
	other := basicReqWithKey("order-42")
	other.Subject = "different"
	if _, err := env.sub.Send(ctx, other, apiAs("auto@example.com")); !errors.Is(err, queue.ErrIdempotencyConflict) {
		t.Fatalf("different body, same key: %v, want ErrIdempotencyConflict", err)
	}
	if n := len(sentFolder(t, env, "auto@example.com")); n != 1 {
		t.Fatalf("Sent has %d copies, want 1", n)
	}
}

// basicReqWithKey is basicReq from auto@example.com with an idempotency key.
func basicReqWithKey(key string) *SendRequest {
	r := basicReq("auto@example.com")
	r.IdempotencyKey = key
	return r
}

func TestSendExpiresAndClock(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	req := basicReq("auto@example.com")
	req.ExpiresAt = time.Now().Add(time.Hour).Truncate(time.Second)
	rc, err := env.sub.Send(context.Background(), req, apiAs("auto@example.com"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := env.q.Status(context.Background(), rc.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !st.ExpiresAt.Equal(req.ExpiresAt) {
		t.Fatalf("expires_at = %v, want %v", st.ExpiresAt, req.ExpiresAt)
	}
}

// TestSendFromNameAndMarkdown: from_name is the From display name, RFC 2047-encoded when not
// ASCII; a markdown body becomes text (the markdown) and html (its rendering, raw HTML
// dropped, javascript: links removed).
func TestSendFromNameAndMarkdown(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	ctx := context.Background()
	req := &SendRequest{
		MailboxID: "auto@example.com", To: AddressList{"bob@dest.example"}, FromName: "Zoë, \"Login\" Bot",
		Subject:  "md",
		Markdown: "# Your code\n\n**123456** <script>alert(1)</script>\n\n[x](javascript:alert(1))\n\n<div onclick=\"x\">raw</div>\n",
	}
	rc, err := env.sub.Send(ctx, req, apiAs("auto@example.com"))
	if err != nil {
		t.Fatal(err)
	}
	body, err := env.q.Body(ctx, rc.ID)
	if err != nil {
		t.Fatal(err)
	}
	mr, err := mail.CreateReader(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	from, err := mr.Header.AddressList("From")
	if err != nil || len(from) != 1 || from[0].Name != "Zoë, \"Login\" Bot" || from[0].Address != "auto@example.com" {
		t.Fatalf("From = %v (%v); raw %q", from, err, mr.Header.Get("From"))
	}
	if raw := mr.Header.Get("From"); strings.ContainsFunc(raw, func(r rune) bool { return r > 0x7e }) {
		t.Errorf("From not encoded: %q", raw)
	}
	var text, html string
	for {
		p, err := mr.NextPart()
		if err != nil {
			break
		}
		b, _ := io.ReadAll(p.Body)
		switch ct := p.Header.Get("Content-Type"); {
		case strings.HasPrefix(ct, "text/plain"):
			text = string(b)
		case strings.HasPrefix(ct, "text/html"):
			html = string(b)
		}
	}
	if !strings.Contains(text, "**123456**") {
		t.Errorf("text part = %q, want the markdown", text)
	}
	if !strings.Contains(html, "<h1>Your code</h1>") || !strings.Contains(html, "<strong>123456</strong>") {
		t.Errorf("html part = %q", html)
	}
	for _, bad := range []string{"<script", "javascript:", "onclick", "<div"} {
		if strings.Contains(html, bad) {
			t.Errorf("html part holds %q: %q", bad, html)
		}
	}
}
