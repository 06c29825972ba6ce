package inbound

import (
	"context"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"multimail.dev/multimail/mailbox"
	"multimail.dev/multimail/queue"
)

func TestDeliverIntoInbox(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	em, raw := e.mustStore(t, "sender@pass.example", "Agent@Example.com", plainMessage("sender@pass.example", "hello", "Hi."))
	if em.Mailbox != "agent@example.com" || em.Folder != mailbox.InboxName || em.Pending {
		t.Fatalf("stored as %+v, want agent@example.com INBOX not pending", em)
	}
	ar := headerValues(raw, "Authentication-Results")
	if len(ar) != 1 {
		t.Fatalf("%d Authentication-Results fields, want 1: %q", len(ar), ar)
	}
	for _, want := range []string{testHost + ";", "spf=pass", "smtp.mailfrom=sender@pass.example",
		"dkim=none", "dmarc=pass", "header.from=pass.example"} {
		if !strings.Contains(ar[0], want) {
			t.Errorf("Authentication-Results %q lacks %q", ar[0], want)
		}
	}
	if !strings.HasPrefix(string(raw), "Authentication-Results: "+testHost+";\r\n\tspf=pass") {
		t.Errorf("message does not start with our Authentication-Results:\n%.300s", raw)
	}
	rcv := headerValues(raw, "Received")
	if len(rcv) != 1 || !strings.Contains(rcv[0], "from client.test ([127.0.0.1])") ||
		!strings.Contains(rcv[0], "by "+testHost) || !strings.Contains(rcv[0], "for <agent@example.com>") {
		t.Errorf("Received = %q", rcv)
	}
	if em.AuthResults == "" {
		t.Errorf("the store's summary has no AuthResults")
	}
	assertEvent(t, e.queue, em.ID, queue.Event{Type: queue.EventReceived, MsgID: em.ID,
		MailboxID: "agent@example.com", EmailID: em.ID})
}

// assertEvent checks that msgID's journal holds an event matching want's set fields.
func assertEvent(t *testing.T, q *queue.Queue, msgID string, want queue.Event) {
	t.Helper()
	evs, err := q.Events(context.Background(), msgID)
	if err != nil {
		t.Fatalf("Events(%s): %v", msgID, err)
	}
	for _, ev := range evs {
		if ev.Type == want.Type && ev.MsgID == want.MsgID && ev.MailboxID == want.MailboxID &&
			ev.EmailID == want.EmailID && ev.Recipient == want.Recipient &&
			ev.SMTPCode == want.SMTPCode && ev.EnhancedCode == want.EnhancedCode {
			return
		}
	}
	t.Fatalf("no event like %+v among %+v", want, evs)
}

func TestForgedAuthResultsRemoved(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	msg := "Authentication-Results: " + strings.ToUpper(testHost) + "; spf=pass smtp.mailfrom=x@y\r\n" +
		"Authentication-Results: (forged) " + testHost + " 1;\r\n dkim=pass header.d=bank.example\r\n" +
		"Authentication-Results: other.example; spf=fail\r\n" +
		plainMessage("sender@spffail.example", "forged", "Trust me.")
	_, raw := e.mustStore(t, "sender@spffail.example", "agent@example.com", msg)
	ar := headerValues(raw, "Authentication-Results")
	if len(ar) != 2 {
		t.Fatalf("Authentication-Results = %q, want ours and other.example's", ar)
	}
	if !strings.HasPrefix(ar[0], testHost+";") || !strings.Contains(ar[0], "spf=fail") {
		t.Errorf("ours = %q", ar[0])
	}
	if ar[1] != "other.example; spf=fail" {
		t.Errorf("foreign field = %q, want it kept", ar[1])
	}
}

// A Multimail-Identity claiming one of our domains is removed on port 25 (however it is
// spelled); one naming another domain is kept.
func TestForgedIdentityRemoved(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	msg := "Multimail-Identity: v=1; mailbox=ceo@example.com; mode=gated_send; release=approved\r\n" +
		"multimail-identity: v=1;\r\n MAILBOX = agent@EXAMPLE.COM.; release=approved\r\n" +
		"Multimail-Identity: v=1; mailbox=bot@other.example; mode=autonomous; release=autonomous\r\n" +
		plainMessage("sender@spffail.example", "forged identity", "Approved by the board.")
	_, raw := e.mustStore(t, "sender@spffail.example", "agent@example.com", msg)
	got := headerValues(raw, "Multimail-Identity")
	if len(got) != 1 || !strings.Contains(got[0], "bot@other.example") {
		t.Fatalf("Multimail-Identity = %q, want only other.example's", got)
	}
}

func TestSPF(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	for _, tc := range []struct{ name, from, want string }{
		{"pass", "a@pass.example", "spf=pass"},
		{"fail", "a@spffail.example", "spf=fail"},
		{"softfail", "a@soft.example", "spf=softfail"},
		{"none", "a@none.example", "spf=none"},
		{"temperror", "a@servfail.example", "spf=temperror"},
		{"null sender uses HELO", "", "spf=none"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			from := tc.from
			if from == "" {
				from = "a@none.example"
			}
			_, raw := e.mustStore(t, tc.from, "agent@example.com", plainMessage(from, "spf-"+tc.name, "x"))
			ar := headerValues(raw, "Authentication-Results")
			if len(ar) != 1 || !strings.Contains(ar[0], tc.want) {
				t.Fatalf("Authentication-Results = %q, want %q", ar, tc.want)
			}
		})
	}
}

func TestDKIMAndDMARC(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	signed := e.sign(plainMessage("news@dkim.example", "signed", "Original body."))
	altered := strings.Replace(signed, "Original body.", "Altered body.", 1)
	for _, tc := range []struct {
		name, from, msg string
		wantCode        int
		wantAR          []string
		wantFolder      string
	}{
		{"dkim pass aligns dmarc", "bounces@dkim.example", signed, 250,
			[]string{"spf=fail", "dkim=pass", "header.d=dkim.example", "dmarc=pass"}, "INBOX"},
		{"dkim fail with p=reject", "bounces@dkim.example", altered, 550, nil, ""},
		{"spf pass aligns dmarc", "a@pass.example", plainMessage("a@pass.example", "p", "x"), 250,
			[]string{"spf=pass", "dmarc=pass"}, "INBOX"},
		{"dmarc fail p=reject", "a@reject.example", plainMessage("a@reject.example", "r", "x"), 550, nil, ""},
		{"dmarc fail p=quarantine to Junk", "a@quar.example", plainMessage("a@quar.example", "q", "x"), 250,
			[]string{"dmarc=fail", `reason="p=quarantine"`, "header.from=quar.example"}, "Junk"},
		{"unaligned spf pass fails dmarc", "a@pass.example", plainMessage("a@reject.example", "u", "x"), 550, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text, err := e.send(tc.from, []string{"agent@example.com"}, tc.msg)
			if tc.wantCode != 250 {
				if code, enh := codeOf(err); code != tc.wantCode || enh != "5.7.1" {
					t.Fatalf("reply %v, want %d 5.7.1", err, tc.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			ids := emailIDs(text)
			if len(ids) != 1 {
				t.Fatalf("reply %q, want one email id", text)
			}
			em, raw := e.email(t, ids[0])
			if em.Folder != tc.wantFolder {
				t.Errorf("folder %q, want %q", em.Folder, tc.wantFolder)
			}
			ar := headerValues(raw, "Authentication-Results")
			for _, w := range tc.wantAR {
				if len(ar) != 1 || !strings.Contains(ar[0], w) {
					t.Errorf("Authentication-Results %q lacks %q", ar, w)
				}
			}
		})
	}
	if n := countEmails(t, e.store, "agent@example.com"); n != 3 {
		t.Errorf("%d emails stored, want 3 (rejected ones never stored)", n)
	}
}

// countEmails counts every email of a mailbox, pending ones included.
func countEmails(t testing.TB, s mailbox.Store, mb string) int {
	t.Helper()
	ems, _, err := s.Query(context.Background(), mailbox.Query{Mailbox: mb, IncludePending: true, Limit: 200})
	if err != nil {
		t.Fatal(err)
	}
	return len(ems)
}

func TestGatedAllHeldPending(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	em, _ := e.mustStore(t, "a@pass.example", "gated@example.com", plainMessage("a@pass.example", "held", "x"))
	if !em.Pending {
		t.Fatalf("email %+v not pending in a gated_all mailbox", em)
	}
	list, err := e.store.List(context.Background(), "gated@example.com", mailbox.InboxName)
	if err != nil || len(list) != 0 {
		t.Fatalf("IMAP view shows %d emails (%v), want the held one hidden", len(list), err)
	}
}

func TestMultipleRecipientsOneCopyEach(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	text, err := e.send("a@pass.example", []string{"agent@example.com", "gated@example.com", "AGENT@example.com"},
		plainMessage("a@pass.example", "multi", "x"))
	if err != nil {
		t.Fatal(err)
	}
	if ids := emailIDs(text); len(ids) != 2 {
		t.Fatalf("reply %q, want two email ids", text)
	}
	if n := countEmails(t, e.store, "agent@example.com"); n != 1 {
		t.Errorf("agent has %d emails, want 1 (duplicate RCPT delivered once)", n)
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	e := newEnv(t, func(o *Options) { o.Registerer = reg })
	e.mustStore(t, "a@pass.example", "agent@example.com", plainMessage("a@pass.example", "m", "x"))
	if _, err := e.send("a@pass.example", []string{"x@other.example"}, "x"); err == nil {
		t.Fatal("relay accepted")
	}
	for metric, want := range map[string]float64{
		`multimail_inbound_messages_total{outcome="delivered"}`:              1,
		`multimail_inbound_recipients_total{outcome="relay_denied"}`:         1,
		`multimail_inbound_auth_results_total{method="spf",result="pass"}`:   1,
		`multimail_inbound_auth_results_total{method="dmarc",result="pass"}`: 1,
	} {
		if got := gathered(t, reg, metric); got != want {
			t.Errorf("%s = %v, want %v", metric, got, want)
		}
	}
}

// gathered returns the value of one counter series written as name{label="v",...}.
func gathered(t *testing.T, reg *prometheus.Registry, series string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, lp := range m.GetLabel() {
				labels = append(labels, lp.GetName()+`="`+lp.GetValue()+`"`)
			}
			if mf.GetName()+"{"+strings.Join(labels, ",")+"}" == series {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}
