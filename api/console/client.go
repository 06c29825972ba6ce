package console

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"multimail.dev/multimail/api/wire"
)

// apiError is a refusal from the API, shown to the person as it is.
type apiError struct {
	Status  int
	Code    string
	Message string
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

// recorder is a minimal in-process ResponseWriter.
type recorder struct {
	h    http.Header
	code int
	body bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.h }
func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.body.Write(b)
}

// call runs one API request in process as the session's key, from the browser's address (so
// rate limits and the throttle see the real client). out, when non-nil, receives the JSON
// body; raw returns the body as is.
func (c *Console) call(orig *http.Request, s *session, method, path string, in, out any) ([]byte, error) {
	var body io.Reader = http.NoBody
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(orig.Context(), method, path, body)
	if err != nil {
		return nil, err
	}
	req.RemoteAddr = orig.RemoteAddr
	req.Host = orig.Host
	req.Header.Set("Authorization", "Bearer "+s.key)
	req.Header.Set("X-Multimail-Source", "console") // the trail says "approved by console:key_…"
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := &recorder{h: http.Header{}}
	c.opts.API.Handler().ServeHTTP(rec, req)
	if rec.code == 0 {
		rec.code = http.StatusOK
	}
	if rec.code >= 300 {
		var eb wire.ErrorBody
		_ = json.Unmarshal(rec.body.Bytes(), &eb)
		if eb.Error.Message == "" {
			eb.Error.Message = http.StatusText(rec.code)
		}
		return nil, &apiError{Status: rec.code, Code: eb.Error.Code, Message: eb.Error.Message}
	}
	if out != nil {
		if err := json.Unmarshal(rec.body.Bytes(), out); err != nil {
			return nil, fmt.Errorf("console: decode %s %s: %w", method, path, err)
		}
	}
	return rec.body.Bytes(), nil
}
