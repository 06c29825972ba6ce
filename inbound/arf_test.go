package inbound

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// arfMessage is an RFC 5965 report (after its §B.1 example) about a message whose Message-ID
// is msgID, sent to rcpt; rcptTo is the Original-Rcpt-To field ("" = none); orig is the
// third part's content type.
func arfMessage(feedbackType, msgID, rcpt, rcptTo, orig string) string {
	var b strings.Builder
	b.WriteString("From: <abusedesk@mailbox-provider.example>\r\nDate: Thu, 8 Mar 2005 17:40:36 EDT\r\n" +
		"Subject: FW: Earn money\r\nTo: <abuse@example.com>\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/report; report-type=feedback-report;\r\n\tboundary=\"part1_13d.2e68ed54_boundary\"\r\n\r\n" +
		"--part1_13d.2e68ed54_boundary\r\nContent-Type: text/plain; charset=\"US-ASCII\"\r\nContent-Transfer-Encoding: 7bit\r\n\r\n" +
		"This is an email abuse report for an email message received from IP\r\n192.0.2.1 on Thu, 8 Mar 2005 14:00:00 EDT.\r\n\r\n" +
		"--part1_13d.2e68ed54_boundary\r\nContent-Type: message/feedback-report\r\n\r\n")
	fmt.Fprintf(&b, "Feedback-Type: %s\r\nUser-Agent: SomeGenerator/1.0\r\nVersion: 1\r\n"+
		"Original-Mail-From: <bounce+x@example.com>\r\nArrival-Date: Thu, 8 Mar 2005 14:00:00 EDT\r\n"+
		"Source-IP: 192.0.2.1\r\nReported-Domain: example.com\r\n", feedbackType)
	if rcptTo != "" {
		fmt.Fprintf(&b, "Original-Rcpt-To: <%s>\r\n", rcptTo)
	}
	fmt.Fprintf(&b, "\r\n--part1_13d.2e68ed54_boundary\r\nContent-Type: %s\r\nContent-Disposition: inline\r\n\r\n", orig)
	fmt.Fprintf(&b, "From: <auth@example.com>\r\nReceived: from mailserver.example.net (mailserver.example.net\r\n\t[192.0.2.1]) by example.com with ESMTP id M63d4137594e46;\r\n\tThu, 08 Mar 2005 14:00:00 -0400\r\n"+
		"To: %s\r\nSubject: Earn money\r\nMIME-Version: 1.0\r\nMessage-ID: <%s>\r\nDate: Thu, 02 Sep 2004 12:31:03 -0500\r\n", rcpt, msgID)
	if orig == "message/rfc822" {
		b.WriteString("Content-Type: text/plain\r\n\r\nSpam Spam Spam\r\n")
	}
	b.WriteString("\r\n--part1_13d.2e68ed54_boundary--\r\n")
	return b.String()
}

func TestParseARF(t *testing.T) {
	t.Parallel()
	for _, orig := range []string{"message/rfc822", "text/rfc822-headers"} {
		a, err := ParseARF(strings.NewReader(arfMessage("abuse", "msg_01KAAAAAAAAAAAAAAAAAAAAAAA@mx.example.com", "<Someone@r.example>", "", orig)))
		if err != nil {
			t.Fatalf("%s: %v", orig, err)
		}
		if a.FeedbackType != "abuse" || a.Version != "1" || a.UserAgent != "SomeGenerator/1.0" || a.SourceIP != "192.0.2.1" ||
			a.OriginalMailFrom != "bounce+x@example.com" || a.ReportedDomain != "example.com" ||
			a.MessageID != "msg_01KAAAAAAAAAAAAAAAAAAAAAAA@mx.example.com" || !slices.Equal(a.OriginalTo, []string{"Someone@r.example"}) {
			t.Fatalf("%s: %+v", orig, a)
		}
		if !a.Complaint() || !slices.Equal(a.Recipients(), []string{"Someone@r.example"}) {
			t.Fatalf("%s: complaint %v recipients %v", orig, a.Complaint(), a.Recipients())
		}
		if got := ourMessageID("<" + a.MessageID + ">"); got != "msg_01KAAAAAAAAAAAAAAAAAAAAAAA" {
			t.Fatalf("our id %q", got)
		}
	}
	// Original-Rcpt-To wins; several To addresses without it name nobody; not-spam is no complaint.
	a, err := ParseARF(strings.NewReader(arfMessage("abuse", "x@y", "a@r.example, b@r.example", "b@r.example", "message/rfc822")))
	if err != nil || !slices.Equal(a.Recipients(), []string{"b@r.example"}) {
		t.Fatalf("rcpt-to: %+v %v", a, err)
	}
	a, err = ParseARF(strings.NewReader(arfMessage("abuse", "x@y", "a@r.example, b@r.example", "", "message/rfc822")))
	if err != nil || len(a.Recipients()) != 0 {
		t.Fatalf("two To: %+v %v", a, err)
	}
	a, err = ParseARF(strings.NewReader(arfMessage("Not-Spam", "x@y", "a@r.example", "", "message/rfc822")))
	if err != nil || a.Complaint() {
		t.Fatalf("not-spam: %+v %v", a, err)
	}
	if ourMessageID("<CAF1234@mail.gmail.com>") != "" {
		t.Fatal("a foreign Message-ID taken as ours")
	}
	for name, bad := range map[string]string{
		"plain":            "Subject: hi\r\n\r\nbody\r\n",
		"a DSN":            dsnMessage("bounce+msg_01KAAAAAAAAAAAAAAAAAAAAAAA@example.com", "u@r.example"),
		"no report part":   "Content-Type: multipart/report; report-type=feedback-report; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--\r\n",
		"no feedback type": "Content-Type: multipart/report; report-type=feedback-report; boundary=b\r\n\r\n--b\r\nContent-Type: message/feedback-report\r\n\r\nVersion: 1\r\n--b--\r\n",
	} {
		if _, err := ParseARF(strings.NewReader(bad)); !errors.Is(err, ErrNotARF) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func FuzzParseARF(f *testing.F) {
	f.Add([]byte(arfMessage("abuse", "msg_01KAAAAAAAAAAAAAAAAAAAAAAA@mx.example.com", "u@r.example", "u@r.example", "message/rfc822")))
	f.Add([]byte(arfMessage("fraud", "a@b", "u@r.example, v@r.example", "", "text/rfc822-headers")))
	f.Add([]byte("Content-Type: multipart/report; report-type=feedback-report; boundary=b\n\n--b\nContent-Type: message/feedback-report\n\nFeedback-Type: abuse\n--b--\n"))
	f.Add([]byte("Subject: x\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := ParseARF(bytes.NewReader(b))
		if err != nil {
			if !errors.Is(err, ErrNotARF) {
				t.Fatalf("error %v is not ErrNotARF", err)
			}
			return
		}
		if a.FeedbackType == "" || a.FeedbackType != strings.ToLower(a.FeedbackType) {
			t.Fatalf("feedback type %q", a.FeedbackType)
		}
		if len(a.OriginalRcptTo) > maxARFRcpts || len(a.OriginalTo) > maxARFRcpts || len(a.Recipients()) > maxARFRcpts {
			t.Fatalf("%d/%d recipients", len(a.OriginalRcptTo), len(a.OriginalTo))
		}
		for _, s := range []string{a.UserAgent, a.SourceIP, a.ReportedDomain, a.ArrivalDate} {
			if strings.ContainsAny(s, "\r\n\x00") {
				t.Fatalf("control byte in %q", s)
			}
		}
		if id := ourMessageID(a.MessageID); id != "" && !strings.HasPrefix(id, "msg_") {
			t.Fatalf("our id %q", id)
		}
	})
}
