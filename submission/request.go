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

// SendRequest is the body of the API's send_email (CONTRACT.md §4): the one definition, in
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
	c.IdempotencyKey = ""
	b, _ := json.Marshal(&c) // marshalling strings, maps, []byte and time never fails
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
