package submission

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"multimail.dev/multimail/api/wire"
)

// SendRequest is the body of the API's send_email (docs/api.md): the one definition, in
// package api/wire, that the server, the CLI and the MCP tools share. DecodeSendRequest decodes
// it strictly.
type SendRequest = wire.SendRequest

// Attachment is one attached file of a SendRequest.
type Attachment = wire.Attachment

// AddressList is a list of addresses that JSON may also give as one string.
type AddressList = wire.StringList

// DecodeSendRequest decodes a send_email JSON body strictly: unknown fields and wrong types are a
// *FieldError naming the field, trailing data is an error. The body is not validated here;
// Send does that.
func DecodeSendRequest(r io.Reader) (*SendRequest, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var req SendRequest
	sh := sendTimes{plainSend: (*plainSend)(&req)}
	if err := dec.Decode(&sh); err != nil {
		return nil, jsonFieldError(err)
	}
	if dec.More() {
		return nil, fieldErr("body", "trailing data after the JSON object")
	}
	var err error
	if req.ExpiresAt, err = decodeTime("expires_at", sh.ExpiresAt); err != nil {
		return nil, err
	}
	if req.SendAt, err = decodeTime("send_at", sh.SendAt); err != nil {
		return nil, err
	}
	return &req, nil
}

// plainSend is SendRequest without its time fields' decoding, which sendTimes shadows so that
// a bad time is an error naming its field (time.Time's own errors name none).
type plainSend SendRequest

type sendTimes struct {
	*plainSend
	ExpiresAt json.RawMessage `json:"expires_at"`
	SendAt    json.RawMessage `json:"send_at"`
}

// decodeTime decodes an optional RFC 3339 time field (absent or null: zero).
func decodeTime(field string, raw json.RawMessage) (time.Time, error) {
	var t time.Time
	if len(raw) == 0 || string(raw) == "null" {
		return t, nil
	}
	if err := json.Unmarshal(raw, &t); err != nil {
		return t, fieldErr(field, "must be an RFC 3339 time")
	}
	return t, nil
}

// jsonFieldError turns encoding/json's errors into a *FieldError naming the field.
func jsonFieldError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := strings.TrimPrefix(te.Field, "plainSend.")
		if field == "" {
			field = "body"
		}
		return fieldErr(field, fmt.Sprintf("must be %s, not %s", jsonKind(te), te.Value))
	}
	var ce base64.CorruptInputError
	if errors.As(err, &ce) { // the only []byte of the request
		return fieldErr("attachments.content", "must be base64")
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
	c.IdempotencyKey = ""
	b, _ := json.Marshal(&c) // marshalling strings, maps, []byte and time never fails
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
