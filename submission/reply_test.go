package submission

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/emersion/go-smtp"

	"multimail.dev/multimail/mailbox"
	"multimail.dev/multimail/queue"
	"multimail.dev/multimail/throttle"
)

// TestReply pins every error -> SMTP reply mapping.
func TestReply(t *testing.T) {
	t.Parallel()
	wrap := func(err error) error { return fmt.Errorf("context: %w", err) }
	cases := []struct {
		name string
		err  error
		want string
	}{
		{"auth required", ErrAuthRequired, "530 5.7.0"},
		{"bad credentials", wrap(mailbox.ErrBadCredentials), "535 5.7.8"},
		{"too many auth failures", ErrTooManyAuthFailures, "421 4.7.0"},
		{"login throttled", &throttle.Refusal{RetryAfter: 1}, "421 4.7.0"},
		{"sender not allowed", wrap(ErrSenderNotAllowed), "553 5.7.1"},
		{"unknown mailbox", wrap(ErrUnknownMailbox), "553 5.7.1"},
		{"forbidden", wrap(ErrForbidden), "550 5.7.1"},
		{"rejected by rule", ErrRejected, "550 5.7.1"},
		{"bare line ending", ErrBareLineEnding, "550 5.5.2"},
		{"line too long", smtp.ErrTooLongLine, "500 5.5.2"},
		{"too large", wrap(ErrTooLarge), "552 5.3.4"},
		{"data too large passthrough", smtp.ErrDataTooLarge, "552 5.3.4"},
		{"malformed", wrap(ErrMalformedMessage), "554 5.6.0"},
		{"too many commands", ErrTooManyCommands, "421 4.7.0"},
		{"too many recipients", tooMany(101, 100), "452 4.5.3"},
		{"bad sender syntax", fieldErr("from", "x"), "501 5.1.7"},
		{"bad recipient syntax", fieldErr("to", "x"), "501 5.1.3"},
		{"bad recipient index", fieldErr("to[3]", "x"), "501 5.1.3"},
		{"other field", fieldErr("subject", "x"), "554 5.6.0"},
		{"smtp error passthrough", &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 4, 2}, Message: "bye"}, "421 4.4.2"},
		{"queue failure is temporary", wrap(queue.ErrClosed), "451 4.3.0"},
		{"context canceled is temporary", context.Canceled, "451 4.3.0"},
		{"unknown is temporary", errors.New("disk on fire"), "451 4.3.0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := reply(tc.err)
			got := fmt.Sprintf("%d %d.%d.%d", r.Code, r.EnhancedCode[0], r.EnhancedCode[1], r.EnhancedCode[2])
			if got != tc.want {
				t.Fatalf("reply(%v) = %s, want %s", tc.err, got, tc.want)
			}
			if r.Message == "" {
				t.Fatal("empty reply text")
			}
		})
	}
	if reply(nil) != nil {
		t.Fatal("reply(nil) != nil")
	}
}
