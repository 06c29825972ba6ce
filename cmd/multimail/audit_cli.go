// audit_cli.go: `multimail audit export` (a client of the running server's ctl socket) and
// `multimail audit verify` (offline: it needs no server).
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"multimail.dev/multimail/api/wire"
	"multimail.dev/multimail/audit"
)

const auditSynopsis = "audit export [--since T] [--mailbox A] [-o FILE] | audit verify [FILE] [--key K] [--against CHECKPOINT_FILE]"

func cmdAudit(ctx context.Context, env *cliEnv, args []string) error {
	a := newAdminCmd(env, "audit", auditSynopsis)
	since := a.fs.String("since", "", "export: records at or after this RFC 3339 time (the export then starts unanchored)")
	mbox := a.fs.String("mailbox", "", "export: this mailbox's records; the others become hash stubs so the chain still links")
	out := a.fs.String("o", "", "export: write to FILE instead of stdout")
	key := a.fs.String("key", "", "verify: the node's verifier key (default: the export's header, which proves only consistency)")
	against := a.fs.String("against", "", "verify: a file holding a signed checkpoint seen earlier; the journal must extend it")
	verb, err := a.parse(args, "export", "verify")
	if err != nil {
		return err
	}
	if verb == "verify" {
		return auditVerify(env, a.args, *key, *against)
	}
	if len(a.args) != 0 {
		return fmt.Errorf("%w: export takes no argument", errUsage)
	}
	w := env.stdout
	if *out != "" {
		f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return err
		}
		bw := bufio.NewWriter(f)
		if err := auditExport(ctx, a, bw, *since, *mbox); err != nil {
			f.Close()
			return err
		}
		if err := bw.Flush(); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
	return auditExport(ctx, a, w, *since, *mbox)
}

// auditExport pages GET /v1/audit over the ctl socket and writes the lines as they came.
func auditExport(ctx context.Context, a *adminCmd, w io.Writer, since, mbox string) error {
	if since != "" {
		if _, err := time.Parse(time.RFC3339, since); err != nil {
			return fmt.Errorf("%w: --since wants an RFC 3339 time: %v", errUsage, err)
		}
	}
	c, err := a.ctl.client()
	if err != nil {
		return err
	}
	q := url.Values{"limit": {"1000"}}
	if since != "" {
		q.Set("since", since)
	}
	if mbox != "" {
		q.Set("mailbox", mbox)
	}
	for range 1 << 20 {
		var page wire.AuditPage
		if _, err := c.do(ctx, "GET", "/v1/audit?"+q.Encode(), nil, &page); err != nil {
			return err
		}
		for _, l := range page.Lines {
			if _, err := io.WriteString(w, l+"\n"); err != nil {
				return err
			}
		}
		if page.NextCursor == "" {
			return nil
		}
		q.Set("cursor", page.NextCursor)
	}
	return errors.New("audit export: too many pages")
}

// auditVerify checks an export offline and names the first bad record.
func auditVerify(env *cliEnv, args []string, key, againstFile string) error {
	var in io.Reader = os.Stdin
	switch len(args) {
	case 0:
	case 1:
		f, err := os.Open(args[0])
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	default:
		return fmt.Errorf("%w: verify takes at most one FILE", errUsage)
	}
	opts := audit.VerifyOptions{Key: key}
	if againstFile != "" {
		b, err := os.ReadFile(againstFile)
		if err != nil {
			return err
		}
		opts.Against = checkpointNote(string(b))
	}
	rep, err := audit.Verify(in, opts)
	if err != nil {
		return fmt.Errorf("journal does not verify: %w", err)
	}
	fmt.Fprintf(env.stdout, "ok: records %d..%d (%d records, %d omitted), %d signed checkpoints, anchored=%v\n",
		rep.First, rep.Last, rep.Records, rep.Omitted, rep.Checkpoints, rep.Anchored)
	if key == "" {
		fmt.Fprintf(env.stdout, "checkpoints checked with the export's own key %s: compare it with the node's (or pass --key)\n", rep.Key)
	}
	if againstFile != "" {
		fmt.Fprintf(env.stdout, "extends the checkpoint in %s\n", againstFile)
	}
	return nil
}

// checkpointNote accepts a checkpoint file as the signed note itself, an export line
// {"checkpoint": ...} or a checkpoint webhook's body {"data":{"checkpoint": ...}}.
func checkpointNote(s string) string {
	var line struct {
		Checkpoint string `json:"checkpoint"`
		Data       struct {
			Checkpoint string `json:"checkpoint"`
		} `json:"data"`
	}
	if strings.HasPrefix(strings.TrimSpace(s), "{") && json.Unmarshal([]byte(strings.TrimSpace(s)), &line) == nil {
		if line.Checkpoint != "" {
			return line.Checkpoint
		}
		return line.Data.Checkpoint
	}
	return s
}
