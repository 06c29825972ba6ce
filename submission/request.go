package submission

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// SendRequest is the body of the API's send_email (docs/api.md), with its JSON names, so
// that package api and MCP decode into it directly (see DecodeSendRequest).
type SendRequest struct {
	MailboxID      string            `json:"mailbox_id"`
	To             AddressList       `json:"to"`
	Cc             AddressList       `json:"cc,omitempty"`
	Bcc            AddressList       `json:"bcc,omitempty"`
	ReplyTo        string            `json:"reply_to,omitempty"`
	Subject        string            `json:"subject,omitempty"`
	Text           string            `json:"text,omitempty"`
	HTML           string            `json:"html,omitempty"`
	Priority       string            `json:"priority,omitempty"` // high | normal | low; "" = normal
	Tags           []string          `json:"tags,omitempty"`
	Headers        map[string]string `json:"headers,omitempty"`
	Attachments    []Attachment      `json:"attachments,omitempty"`
	ExpiresAt      time.Time         `json:"expires_at,omitzero"`
	IdempotencyKey string            `json:"idempotency_key,omitempty"`
	// RequestHash identifies the request for idempotency. Empty: Send computes it from the
	// request itself (every field but the key), so API and MCP agree.
	RequestHash string `json:"-"`
}

// Attachment is one attached file; Content is base64 in JSON.
type Attachment struct {
	Filename    string `json:"filename"`
	ContentType string `json:"content_type,omitempty"` // default application/octet-stream
	Content     []byte `json:"content"`
}

// AddressList is a list of addresses that JSON may also give as one string.
type AddressList []string

// UnmarshalJSON accepts "a@b" or ["a@b", ...].
func (l *AddressList) UnmarshalJSON(b []byte) error {
	if bytes.HasPrefix(bytes.TrimSpace(b), []byte(`"`)) {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*l = AddressList{s}
		return nil
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return err
	}
	*l = list
	return nil
}

// DecodeSendRequest decodes a send_email JSON body strictly: unknown fields and wrong types are a
// *FieldError naming the field, trailing data is an error. The body is not validated here;
// Send does that.
func DecodeSendRequest(r io.Reader) (*SendRequest, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var req SendRequest
	if err := dec.Decode(&req); err != nil {
		return nil, jsonFieldError(err)
	}
	if dec.More() {
		return nil, fieldErr("body", "trailing data after the JSON object")
	}
	return &req, nil
}

// jsonFieldError turns encoding/json's errors into a *FieldError naming the field.
func jsonFieldError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := te.Field
		if field == "" {
			field = "body"
		}
		return fieldErr(field, fmt.Sprintf("must be %s, not %s", jsonKind(te), te.Value))
	}
	var ce base64.CorruptInputError
	if errors.As(err, &ce) { // the only []byte of the request
		return fieldErr("attachments.content", "must be base64")
	}
	var pe *time.ParseError
	if errors.As(err, &pe) {
		return fieldErr("expires_at", "must be an RFC 3339 time")
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return fieldErr(strings.Trim(name, `"`), "unknown field")
	}
	return fieldErr("body", "invalid JSON")
}

// jsonKind names the JSON type a field wants.
func jsonKind(te *json.UnmarshalTypeError) string {
	switch te.Type.Kind().String() {
	case "slice":
		if te.Type.Elem().Kind().String() == "uint8" {
			return "a base64 string"
		}
		return "a list"
	case "map", "struct":
		return "an object"
	}
	return "a " + te.Type.Kind().String()
}

// requestHash is a stable hash of everything in req but the idempotency fields.
func requestHash(req *SendRequest) string {
	c := *req
	c.IdempotencyKey, c.RequestHash = "", ""
	b, _ := json.Marshal(&c) // marshalling strings, maps, []byte and time never fails
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
