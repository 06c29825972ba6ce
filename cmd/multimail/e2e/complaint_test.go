package e2e

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"multimail.dev/multimail/mta/mtatest"
)

// arfReport is an RFC 5965 feedback report about the message whose header is origHeader
// (as delivered), naming rcptTo in Original-Rcpt-To when set.
func arfReport(to, feedbackType, rcptTo, origHeader string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "From: <fbl@provider.test>\r\nTo: <%s>\r\nSubject: complaint\r\nMIME-Version: 1.0\r\n"+
		"Content-Type: multipart/report; report-type=feedback-report; boundary=\"arf\"\r\n\r\n"+
		"--arf\r\nContent-Type: text/plain\r\n\r\nA user marked this message as spam.\r\n\r\n"+
		"--arf\r\nContent-Type: message/feedback-report\r\n\r\n"+
		"Feedback-Type: %s\r\nUser-Agent: ProviderFBL/2.0\r\nVersion: 1\r\n", to, feedbackType)
	if rcptTo != "" {
		fmt.Fprintf(&b, "Original-Rcpt-To: %s\r\n", rcptTo)
	}
	fmt.Fprintf(&b, "\r\n--arf\r\nContent-Type: text/rfc822-headers\r\n\r\n%s\r\n--arf--\r\n", origHeader)
	return b.String()
}

// headerOf is the header block of a raw message.
func headerOf(raw []byte) string {
	h, _, _ := strings.Cut(strings.ReplaceAll(string(raw), "\r\n", "\n"), "\n\n")
	return strings.ReplaceAll(h, "\n", "\r\n") + "\r\n"
}

// TestComplaintSuppresses: an ARF report (RFC 5965) arriving on port 25 at abuse@ of the
// sending domain, about a message we delivered, puts its recipient on the suppression list
// with reason complaint (the report is also stored in the abuse mailbox), and the next send
// there is 422 suppressed. A report at the VERP return path counts too. A not-spam report, a
// report naming an address that was not a recipient, and one about a message that is not ours
// suppress nobody.
func TestComplaintSuppresses(t *testing.T) {
	t.Parallel()
	n := Start(t, Options{Config: "[[mailbox]]\naddress = \"ops@example.com\"\noversight = \"autonomous\"\n\n[inbound]\npostmaster = \"ops@example.com\"\n"})
	ctx := Context(t, 60*time.Second)
	var delivered []mtatest.Message
	ids := map[string]string{}
	for _, to := range []string{"angry@customer.test", "fbl@customer.test", "calm@customer.test"} {
		r := send(t, n, fmt.Sprintf(`{"mailbox_id":%q,"to":%q,"subject":"newsletter","text":"hello"}`, Sender, to))
		waitStatus(t, n, r.MessageID, "delivered")
		ids[to] = r.MessageID
	}
	delivered, err := n.MX.WaitFor(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	byRcpt := map[string]mtatest.Message{}
	for _, m := range delivered {
		byRcpt[m.To[0]] = m
	}
	c, err := smtp.Dial(Addr(n.Ports.SMTP))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	report := func(to, feedbackType, rcptTo, header string) {
		t.Helper()
		if err := c.SendMail("fbl@provider.test", []string{to}, strings.NewReader(arfReport(to, feedbackType, rcptTo, header))); err != nil {
			t.Fatalf("report to %s: %v", to, err)
		}
	}
	angry := headerOf(byRcpt["angry@customer.test"].Data)
	calm := headerOf(byRcpt["calm@customer.test"].Data)
	foreign := regexp.MustCompile(`(?i)Message-Id: <[^>]*>`).ReplaceAllString(calm, "Message-ID: <CAF0000@mail.provider.test>")
	report("abuse@example.com", "abuse", "", angry)                        // To: names the one recipient
	report("abuse@example.com", "not-spam", "", calm)                      // not a complaint
	report("abuse@example.com", "abuse", "<stranger@customer.test>", calm) // not a recipient of that message
	report("abuse@example.com", "abuse", "", foreign)                      // not our message
	// the return path
	report(byRcpt["fbl@customer.test"].From, "abuse", "fbl@customer.test", headerOf(byRcpt["fbl@customer.test"].Data))

	code, out := n.Do("GET", "/v1/suppressions?domain="+Domain, APIKey, nil)
	if code != 200 {
		t.Fatalf("list: %d %s", code, out)
	}
	list := string(out)
	for _, want := range []string{"angry@customer.test", "fbl@customer.test"} {
		if !strings.Contains(list, `"address":"`+want+`","reason":"complaint"`) {
			t.Errorf("%s not suppressed as a complaint: %s", want, list)
		}
	}
	for _, not := range []string{"calm@customer.test", "stranger@customer.test"} {
		if strings.Contains(list, not) {
			t.Errorf("%s suppressed: %s", not, list)
		}
	}
	// the complaint is in the message's trail (and its webhook, replayed through the model by
	// the harness); the calm recipient's message has none
	for to, want := range map[string]int{"angry@customer.test": 1, "fbl@customer.test": 1, "calm@customer.test": 0} {
		got := 0
		for _, ev := range getMessage(t, n, ids[to]).Events {
			if ev.Event == "complained" && ev.Recipient == to {
				got++
			}
		}
		if got != want {
			t.Errorf("%s: %d complained events, want %d: %+v", to, got, want, getMessage(t, n, ids[to]).Events)
		}
	}
	code, out = n.Do("POST", "/v1/send_email", APIKey, []byte(fmt.Sprintf(`{"mailbox_id":%q,"to":"angry@customer.test","subject":"again","text":"x"}`, Sender)))
	if code != 422 || !strings.Contains(string(out), `"code":"suppressed"`) || !strings.Contains(string(out), "complaint") {
		t.Fatalf("send after the complaint: %d %s", code, out)
	}
	send(t, n, fmt.Sprintf(`{"mailbox_id":%q,"to":"calm@customer.test","subject":"again","text":"x"}`, Sender))

	key := apiKeyLine.FindStringSubmatch(n.mustCLI(t, "key", "create", "--mailbox", "ops@example.com", "--scope", "read"))[1]
	code, body := n.Do("GET", "/v1/mailboxes/"+url.PathEscape("ops@example.com")+"/emails", key, nil)
	if code != 200 || strings.Count(string(body), `"subject":"complaint"`) != 4 {
		t.Errorf("abuse mailbox = %d %s, want the four reports to abuse@", code, body)
	}
}
