package inbound

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseDSN(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		msg  string
		want []DSNRecipient
		err  error
	}{
		{"postfix style", dsnMessage("bounce+x@example.com", "user@remote.example"), []DSNRecipient{{
			FinalRecipient: "user@remote.example", OriginalRecipient: "user@remote.example",
			Action: "failed", Status: "5.1.1", RemoteMTA: "mx.remote.example",
			DiagnosticCode: "550 5.1.1 <user@remote.example>: Recipient address rejected: User unknown in local recipient table",
		}, {FinalRecipient: "other@remote.example", Action: "delayed", Status: "4.4.1"}}, nil},
		{"no trailing blank line, LF only, comments", "Content-Type: multipart/report; boundary=b\n\n--b\n" +
			"Content-Type: message/delivery-status\n\nReporting-MTA: dns;x\n\n" +
			"Final-Recipient: RFC822; <a@b.example>\nAction: Failed (permanent)\nStatus: 5.2.2 (mailbox full)\n--b--\n",
			[]DSNRecipient{{FinalRecipient: "a@b.example", Action: "failed", Status: "5.2.2"}}, nil},
		{"global delivery status", strings.Replace(dsnMessage("b@x", "u@r.example"),
			"message/delivery-status", "message/global-delivery-status", 1), nil, nil},
		{"plain text", "Subject: hi\r\n\r\nhello\r\n", nil, ErrNotDSN},
		{"report without status part", "Content-Type: multipart/report; boundary=b\r\n\r\n--b\r\n" +
			"Content-Type: text/plain\r\n\r\nx\r\n--b--\r\n", nil, ErrNotDSN},
		{"status part without recipients", "Content-Type: multipart/report; boundary=b\r\n\r\n--b\r\n" +
			"Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; x\r\n\r\n--b--\r\n", nil, ErrNotDSN},
		{"garbage status", "Content-Type: multipart/report; boundary=b\r\n\r\n--b\r\n" +
			"Content-Type: message/delivery-status\r\n\r\nnot a field\r\n--b--\r\n", nil, ErrNotDSN},
		{"empty", "", nil, ErrNotDSN},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d, err := ParseDSN(strings.NewReader(tc.msg))
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.want != nil && !reflect.DeepEqual(d.Recipients, tc.want) {
				t.Fatalf("recipients\n got %+v\nwant %+v", d.Recipients, tc.want)
			}
			if tc.want == nil && len(d.Recipients) == 0 {
				t.Fatal("no recipients")
			}
		})
	}
}

func TestDSNRecipientSMTPCode(t *testing.T) {
	t.Parallel()
	for diag, want := range map[string]int{
		"550 5.1.1 no":  550,
		"421-busy":      421,
		"550":           550,
		"5501 x":        0,
		"X-Postfix; no": 0,
		"":              0,
		"999 x":         0,
	} {
		if got := (DSNRecipient{DiagnosticCode: diag}).SMTPCode(); got != want {
			t.Errorf("SMTPCode(%q) = %d, want %d", diag, got, want)
		}
	}
}

func FuzzParseDSN(f *testing.F) {
	f.Add([]byte(dsnMessage("bounce+msg_01KAAAAAAAAAAAAAAAAAAAAAAA@example.com", "u@r.example")))
	f.Add([]byte("Content-Type: multipart/report; boundary=b\n\n--b\nContent-Type: message/delivery-status\n\n" +
		"Reporting-MTA: dns;x\n\nFinal-Recipient: rfc822;a@b\nAction: failed\nStatus: 5.0.0\n--b--\n"))
	f.Add([]byte("Subject: x\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := ParseDSN(bytes.NewReader(b))
		if err != nil {
			if !errors.Is(err, ErrNotDSN) {
				t.Fatalf("error %v is not ErrNotDSN", err)
			}
			return
		}
		if len(d.Recipients) == 0 || len(d.Recipients) > maxDSNRecipients {
			t.Fatalf("%d recipients", len(d.Recipients))
		}
		for _, r := range d.Recipients {
			if c := r.SMTPCode(); c != 0 && (c < 200 || c > 599) {
				t.Fatalf("code %d", c)
			}
			if r.Status != "" && statusCode(r.Status) != r.Status {
				t.Fatalf("status %q not canonical", r.Status)
			}
		}
	})
}
