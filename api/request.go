package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
)

// readBody reads the whole (size-limited) body; over the limit is a 413.
func readBody(r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(r.Body)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, errTooLarge(mbe.Limit)
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return nil, errBodyTimeout
	}
	if err != nil {
		return nil, errField("body", "could not be read: %v", err)
	}
	return b, nil
}

// decodeJSON decodes a JSON object body into v strictly: unknown fields and wrong types are
// a 400 naming the field. An empty body is allowed when optional is true.
func decodeJSON(r *http.Request, v any, optional bool) error {
	b, err := readBody(r)
	if err != nil {
		return err
	}
	if optional && len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if dec.More() {
		return errField("body", "trailing data after the JSON object")
	}
	return nil
}

// jsonError names the field encoding/json complained about.
func jsonError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := te.Field
		if field == "" {
			field = "body"
		}
		return errField(field, "must not be a JSON %s", te.Value)
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		name = strings.Trim(name, `"`)
		return errField(name, "unknown field")
	}
	return errField("body", "invalid JSON: %v", err)
}

// hasCRLF reports a CR or LF, which no single-line (header-bound) value may hold.
func hasCRLF(s string) bool { return strings.ContainsAny(s, "\r\n") }

// pageParams reads ?limit= (1..200, default 50) and ?cursor=.
func pageParams(r *http.Request) (limit int, cursor string, err error) {
	limit = 50
	if v := r.URL.Query().Get("limit"); v != "" {
		n, perr := strconv.Atoi(v)
		if perr != nil || n < 1 || n > 200 {
			return 0, "", errField("limit", "must be an integer from 1 to 200")
		}
		limit = n
	}
	cursor = r.URL.Query().Get("cursor")
	if hasCRLF(cursor) || len(cursor) > 512 {
		return 0, "", errField("cursor", "not a cursor this server returned")
	}
	return limit, cursor, nil
}

// pathValue returns a path parameter, refusing control characters.
func pathValue(r *http.Request, name string) (string, error) {
	v := r.PathValue(name)
	if v == "" || strings.ContainsFunc(v, func(c rune) bool { return c < 0x20 || c == 0x7f }) {
		return "", errField(name, "invalid")
	}
	return v, nil
}
