// ctl.go: the admin channel between the CLI and a running server: HTTP over a unix socket in
// the data directory (mode 0600, so the file's permissions are the authentication, as with
// mox's ctl socket). The CLI never opens the Pebble database itself.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"multimail.dev/multimail/api/wire"
)

// ctlSocket is the admin socket's file name inside data_dir.
const ctlSocket = "ctl.sock"

// ctlFlags locate the running server: its data directory, directly or through its config.
type ctlFlags struct {
	config  string
	dataDir string
	json    bool
}

func (f *ctlFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.config, "config", "", "the server's config file (to find its data_dir)")
	fs.StringVar(&f.dataDir, "data-dir", "", "the server's data directory (default ./multimail-data)")
	fs.BoolVar(&f.json, "json", false, "print JSON instead of a table")
}

// socketPath resolves the admin socket from --data-dir, --config or the dev default.
func (f *ctlFlags) socketPath() (string, error) {
	dir := f.dataDir
	if dir == "" && f.config != "" {
		c, err := LoadConfig(f.config)
		if err != nil {
			return "", err
		}
		dir = c.DataDir
	}
	if dir == "" {
		dir = devConfig().DataDir
	}
	return filepath.Join(dir, ctlSocket), nil
}

// ctlClient speaks HTTP to the admin socket.
type ctlClient struct {
	http *http.Client
	sock string
}

func (f *ctlFlags) client() (*ctlClient, error) {
	sock, err := f.socketPath()
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(sock); err != nil {
		return nil, fmt.Errorf("no running server found (%s: %v); start it with `multimail serve`", sock, errors.Unwrap(err))
	}
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}
	return &ctlClient{http: &http.Client{Transport: tr, Timeout: 60 * time.Second}, sock: sock}, nil
}

// apiError is an error answer of the server, with its code.
type apiError struct {
	Status int
	Body   wire.Error
}

func (e *apiError) Error() string {
	if e.Body.Field != "" {
		return fmt.Sprintf("%s (%s, field %s)", e.Body.Message, e.Body.Code, e.Body.Field)
	}
	return fmt.Sprintf("%s (%s)", e.Body.Message, e.Body.Code)
}

// do sends a JSON request and decodes a JSON answer into out (when non-nil). It returns the
// raw answer too, for --json.
func (c *ctlClient) do(ctx context.Context, method, path string, in, out any) ([]byte, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://multimail"+path, body)
	if err != nil {
		return nil, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("talk to the server at %s: %w", c.sock, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		var eb wire.ErrorBody
		if json.Unmarshal(raw, &eb) == nil && eb.Error.Code != "" {
			return raw, &apiError{Status: resp.StatusCode, Body: eb.Error}
		}
		return raw, fmt.Errorf("server answered %s", resp.Status)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return raw, fmt.Errorf("decode answer: %w", err)
		}
	}
	return raw, nil
}
