package imapserver

import (
	"errors"
	"fmt"
	"testing"

	"github.com/emersion/go-imap/v2"

	"multimail.dev/multimail/mailbox"
	"multimail.dev/multimail/throttle"
)

func TestErrorMapping(t *testing.T) {
	t.Parallel()
	unknown := errors.New("disk on fire")
	passthrough := &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeInUse, Text: "busy"}
	for _, tc := range []struct {
		name     string
		err      error
		dest     bool
		wantType imap.StatusResponseType
		wantCode imap.ResponseCode
	}{
		{"no-such-folder", mailbox.ErrNoSuchFolder, false, imap.StatusResponseTypeNo, imap.ResponseCodeNonExistent},
		{"no-such-folder/dest", mailbox.ErrNoSuchFolder, true, imap.StatusResponseTypeNo, imap.ResponseCodeTryCreate},
		{"folder-exists", mailbox.ErrFolderExists, false, imap.StatusResponseTypeNo, imap.ResponseCodeAlreadyExists},
		{"invalid-folder", mailbox.ErrInvalidFolder, false, imap.StatusResponseTypeNo, imap.ResponseCodeCannot},
		{"bad-credentials", mailbox.ErrBadCredentials, false, imap.StatusResponseTypeNo, imap.ResponseCodeAuthenticationFailed},
		{"invalid-keyword", mailbox.ErrInvalidKeyword, false, imap.StatusResponseTypeBad, imap.ResponseCodeClientBug},
		{"not-found", mailbox.ErrNotFound, false, imap.StatusResponseTypeNo, imap.ResponseCodeNonExistent},
		{"corrupt", mailbox.ErrCorrupt, false, imap.StatusResponseTypeNo, imap.ResponseCodeCorruption},
		{"throttled", &throttle.Refusal{RetryAfter: 1}, false, imap.StatusResponseTypeNo, imap.ResponseCodeUnavailable},
		{"too-many-conns", errTooManyConns, false, imap.StatusResponseTypeNo, imap.ResponseCodeLimit},
		{"read-only", errReadOnly, false, imap.StatusResponseTypeNo, imap.ResponseCodeCannot},
		{"same-folder", errSameFolder, true, imap.StatusResponseTypeNo, imap.ResponseCodeCannot},
		{"special-use", mailbox.ErrSpecialUse, false, imap.StatusResponseTypeNo, "USEATTR"},
		{"wrapped", fmt.Errorf("create x: %w", mailbox.ErrFolderExists), false, imap.StatusResponseTypeNo, imap.ResponseCodeAlreadyExists},
		{"imap-error", fmt.Errorf("ctx: %w", passthrough), false, imap.StatusResponseTypeNo, imap.ResponseCodeInUse},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := mapError(tc.err, tc.dest)
			var ie *imap.Error
			if !errors.As(got, &ie) {
				t.Fatalf("mapError(%v) = %v, not an *imap.Error", tc.err, got)
			}
			if ie.Type != tc.wantType || ie.Code != tc.wantCode || ie.Text == "" {
				t.Fatalf("mapError(%v) = %s [%s] %q, want %s [%s]", tc.err, ie.Type, ie.Code, ie.Text, tc.wantType, tc.wantCode)
			}
		})
	}
	if got := toIMAP(unknown); got != unknown {
		t.Errorf("unknown error mapped to %v; want it passed through (go-imap answers NO [SERVERBUG])", got)
	}
	if toIMAP(nil) != nil {
		t.Error("toIMAP(nil) != nil")
	}
}
