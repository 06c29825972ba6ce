package mcp

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// SourceHeader tells the API a request comes from an MCP tool, so the message's source and
// approval decisions say "mcp". It is a label only and grants nothing.
const SourceHeader = "X-Multimail-Source"

// Client calls the JSON API at BaseURL with a bearer API key.
type Client struct {
	BaseURL string       // e.g. "http://127.0.0.1:8025"; no trailing path
	APIKey  string       // default key; a tool call may carry its own (see keyFor)
	HTTP    *http.Client // nil -> http.DefaultClient
}

// Response is one API answer.
type Response struct {
	Status      int
	Body        []byte
	ContentType string
}

// OK reports a 2xx status.
func (r Response) OK() bool { return r.Status >= 200 && r.Status < 300 }

// Do sends one request. body nil sends no body. key "" uses c.APIKey.
func (c *Client) Do(ctx context.Context, method, path string, query url.Values, body []byte, key string) (Response, error) {
	u := strings.TrimSuffix(c.BaseURL, "/") + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return Response{}, fmt.Errorf("mcp: build request: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set(SourceHeader, "mcp")
	if key == "" {
		key = c.APIKey
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return Response{}, fmt.Errorf("mcp: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return Response{}, fmt.Errorf("mcp: read %s %s: %w", method, path, err)
	}
	return Response{Status: resp.StatusCode, Body: b, ContentType: resp.Header.Get("Content-Type")}, nil
}

// InProcess returns an *http.Client whose requests are served by h directly, without a
// network: the /mcp endpoint uses it so its tool calls go through the same handler (auth,
// limits, validation) as any HTTP client's.
func InProcess(h http.Handler) *http.Client {
	return &http.Client{Transport: handlerTransport{h}}
}

type handlerTransport struct{ h http.Handler }

// RoundTrip implements http.RoundTripper by calling the handler with a buffering writer.
func (t handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	w := &bufferWriter{header: http.Header{}}
	if req.Body == nil {
		req.Body = http.NoBody
	}
	req.RemoteAddr = "in-process"
	req.RequestURI = req.URL.RequestURI()
	t.h.ServeHTTP(w, req)
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return &http.Response{
		Status: fmt.Sprintf("%d %s", w.code, http.StatusText(w.code)), StatusCode: w.code,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: w.header, Body: io.NopCloser(&w.body), ContentLength: int64(w.body.Len()), Request: req,
	}, nil
}

// bufferWriter is a minimal http.ResponseWriter that keeps the response in memory.
type bufferWriter struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (w *bufferWriter) Header() http.Header { return w.header }

func (w *bufferWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}

func (w *bufferWriter) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(b)
}
