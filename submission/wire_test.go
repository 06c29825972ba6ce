package submission

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckWire(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		raw  string
		want error
	}{
		{"clean", "A: b\r\n\r\nbody\r\n", nil},
		{"empty", "", nil},
		{"bare LF", "A: b\r\n\r\nx\ny\r\n", ErrBareLineEnding},
		{"bare CR", "A: b\r\n\r\nhi\r.\r\nMAIL FROM:<x>\r\n", ErrBareLineEnding},
		{"CR at the end", "A: b\r\n\r\nx\r", ErrBareLineEnding},
		{"LF first", "\nA: b\r\n", ErrBareLineEnding},
		{"NUL", "A: b\r\n\r\nx\x00y\r\n", ErrNUL},
	} {
		if err := checkWire([]byte(tc.raw)); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("%s: checkWire = %v, want %v", tc.name, err, tc.want)
		}
	}
	if got := reply(ErrNUL); got.Code != 550 {
		t.Errorf("reply(ErrNUL) = %v, want 550", got)
	}
}

func TestAttachmentTypes(t *testing.T) {
	t.Parallel()
	for ct, refused := range map[string]bool{
		"multipart/mixed; boundary=x": true, "Message/RFC822": true, "message/partial": true,
		"application/pdf": false, "text/plain; charset=utf-8": false, "": false,
	} {
		err := checkAttachments([]Attachment{{Filename: "a", ContentType: ct}})
		var fe *FieldError
		if got := errors.Is(err, ErrAttachmentType); got != refused ||
			refused && (!errors.As(err, &fe) || fe.Field != "attachments[0].content_type") {
			t.Errorf("attachment type %q: %v, refused want %v", ct, err, refused)
		}
	}
}

// TestDecodeSendRequestTimes: send_at and expires_at decode as RFC 3339, and a bad one is an
// error naming its field.
func TestDecodeSendRequestTimes(t *testing.T) {
	t.Parallel()
	req, err := DecodeSendRequest(strings.NewReader(`{"mailbox_id":"a@b.example","to":"c@d.example","send_at":"2030-01-02T03:04:05Z","expires_at":null}`))
	if err != nil || req.SendAt.Year() != 2030 || !req.ExpiresAt.IsZero() {
		t.Fatalf("req %+v, err %v", req, err)
	}
	for body, field := range map[string]string{
		`{"send_at":"tomorrow"}`:   "send_at",
		`{"send_at":5}`:            "send_at",
		`{"expires_at":"soon"}`:    "expires_at",
		`{"from_name":["x"]}`:      "from_name",
		`{"markdown":1}`:           "markdown",
		`{"to":[1]}`:               "to",
		`{"sendat":"2030-01-01Z"}`: "sendat",
	} {
		_, err := DecodeSendRequest(strings.NewReader(body))
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != field {
			t.Errorf("%s: err %v, want a FieldError on %s", body, err, field)
		}
	}
}
