package inbound

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/emersion/go-smtp"

	"multimail.dev/multimail/mailbox"
)

func TestReply(t *testing.T) {
	t.Parallel()
	own := &smtp.SMTPError{Code: 250, EnhancedCode: smtp.EnhancedCode{2, 0, 0}, Message: "OK"}
	for _, tc := range []struct {
		name string
		err  error
		want string // "code x.y.z"
	}{
		{"relay denied", fmt.Errorf("rcpt: %w", ErrRelayDenied), "554 5.7.1"},
		{"unknown user", fmt.Errorf("rcpt: %w", ErrUnknownUser), "550 5.1.1"},
		{"bad recipient", ErrBadRecipient, "501 5.1.3"},
		{"harvesting", ErrTooManyBadRecipients, "421 4.7.0"},
		{"bare line ending", ErrBareLineEnding, "550 5.5.2"},
		{"long line", smtp.ErrTooLongLine, "500 5.5.2"},
		{"too large", ErrTooLarge, "552 5.3.4"},
		{"too large from go-smtp", smtp.ErrDataTooLarge, "552 5.3.4"},
		{"dmarc reject", fmt.Errorf("x: %w", ErrDMARCReject), "550 5.7.1"},
		{"an SMTP error passes through", fmt.Errorf("wrapped: %w", own), "250 2.0.0"},
		{"store failure is temporary", fmt.Errorf("deliver: %w", mailbox.ErrCorrupt), "451 4.3.0"},
		{"timeout is temporary", context.DeadlineExceeded, "451 4.3.0"},
		{"unknown is temporary", errors.New("boom"), "451 4.3.0"},
		{"a read error is temporary", io.ErrUnexpectedEOF, "451 4.3.0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := reply(tc.err)
			got := fmt.Sprintf("%d %d.%d.%d", r.Code, r.EnhancedCode[0], r.EnhancedCode[1], r.EnhancedCode[2])
			if got != tc.want {
				t.Fatalf("reply(%v) = %s %q, want %s", tc.err, got, r.Message, tc.want)
			}
		})
	}
	if reply(nil) != nil {
		t.Fatal("reply(nil) != nil")
	}
}
