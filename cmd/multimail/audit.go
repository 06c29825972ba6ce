// audit.go wires the audit journal: the [audit] config, the checkpoint webhook (signed like
// the event webhooks), and the records of config-declared changes applied at start.
package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"multimail.dev/multimail/api/webhook"
	"multimail.dev/multimail/audit"
)

// AuditConfig is [audit]: checkpoints and their auditor, retention.
type AuditConfig struct {
	CheckpointWebhook  string   `toml:"checkpoint_webhook"`  // each signed checkpoint is POSTed here
	CheckpointSecret   string   `toml:"checkpoint_secret"`   // Standard Webhooks secret of that endpoint
	CheckpointEvery    int      `toml:"checkpoint_every"`    // records between checkpoints
	CheckpointInterval Duration `toml:"checkpoint_interval"` // longest time between checkpoints of new records
	Retention          Duration `toml:"retention"`           // records older are pruned under a signed anchor; 0 keeps all
}

// Audit defaults.
const (
	defaultCheckpointEvery    = 1000
	defaultCheckpointInterval = time.Minute
)

func (c *Config) validateAudit() error {
	a := c.Audit
	if a.CheckpointEvery < 1 {
		return bad("audit.checkpoint_every", "must be at least 1")
	}
	if a.CheckpointInterval.D() < time.Second {
		return bad("audit.checkpoint_interval", "must be at least 1s")
	}
	if a.Retention.D() < 0 || (a.Retention.D() > 0 && a.Retention.D() < time.Hour) {
		return bad("audit.retention", "must be 0 (keep everything) or at least 1h")
	}
	if a.CheckpointWebhook == "" {
		if a.CheckpointSecret != "" {
			return bad("audit.checkpoint_secret", "set without audit.checkpoint_webhook")
		}
		return nil
	}
	u, err := url.Parse(a.CheckpointWebhook)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return bad("audit.checkpoint_webhook", "want an http(s) URL, got %q", a.CheckpointWebhook)
	}
	raw, ok := strings.CutPrefix(a.CheckpointSecret, "whsec_")
	if b, err := base64.StdEncoding.DecodeString(raw); !ok || err != nil || len(b) < 16 {
		return bad("audit.checkpoint_secret", "want a Standard Webhooks secret \"whsec_<base64 of 16 to 64 bytes>\"")
	}
	return nil
}

// openAudit opens the node's audit journal on its database.
func (n *node) openAudit() (*audit.Journal, error) {
	a := n.cfg.Audit
	opts := audit.Options{
		Node: n.cfg.Hostname, CheckpointEvery: a.CheckpointEvery,
		CheckpointInterval: a.CheckpointInterval.D(), Retention: a.Retention.D(),
		Logger: n.log.With("component", "audit"),
	}
	var cp *checkpointPoster
	if a.CheckpointWebhook != "" {
		cp = &checkpointPoster{url: a.CheckpointWebhook, secret: a.CheckpointSecret,
			client: &http.Client{Timeout: 10 * time.Second}}
		opts.Anchor = cp.post
	}
	j, err := audit.Open(n.db, opts)
	if err != nil {
		return nil, fmt.Errorf("open audit journal: %w", err)
	}
	if cp != nil {
		cp.key = j.PublicKey() // before Run, the only caller of Anchor, starts
	}
	n.audit = j
	n.sup.workers = append(n.sup.workers, worker{name: "audit", run: j.Run})
	return j, nil
}

// checkpointPoster sends checkpoints to the auditor's webhook.
type checkpointPoster struct {
	url, secret, key string
	client           *http.Client
}

// CheckpointEvent is the body of a checkpoint webhook: type "audit.checkpoint", the signed
// note (what `multimail audit verify --against` takes), and the node's verifier key.
type CheckpointEvent struct {
	Type      string         `json:"type"`
	Timestamp string         `json:"timestamp"`
	Data      CheckpointData `json:"data"`
}

// CheckpointData is the checkpoint in a CheckpointEvent.
type CheckpointData struct {
	Origin     string `json:"origin"`
	Size       uint64 `json:"size"`
	Hash       string `json:"hash"`
	Checkpoint string `json:"checkpoint"`
	Key        string `json:"key,omitempty"`
}

func (p *checkpointPoster) post(ctx context.Context, c audit.Checkpoint) error {
	now := time.Now()
	body, err := json.Marshal(CheckpointEvent{Type: "audit.checkpoint", Timestamp: now.UTC().Format(time.RFC3339),
		Data: CheckpointData{Origin: c.Origin, Size: c.Size, Hash: c.Hash, Checkpoint: c.Note, Key: p.key}})
	if err != nil {
		return err
	}
	id := fmt.Sprintf("audit_%d_%s", c.Size, c.Hash[:16]) // the same on every retry
	sig, err := webhook.Sign(p.secret, id, now, body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(webhook.HeaderID, id)
	req.Header.Set(webhook.HeaderTimestamp, fmt.Sprint(now.Unix()))
	req.Header.Set(webhook.HeaderSignature, sig)
	resp, err := p.client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("checkpoint webhook answered %s", resp.Status)
	}
	return nil
}

// auditConfig records a config-declared change applied at start (actor "config").
func (n *node) auditConfig(ctx context.Context, rec audit.Record) error {
	if n.audit == nil {
		return nil
	}
	rec.Actor = "config"
	if rec.Detail == nil {
		rec.Detail = map[string]string{}
	}
	rec.Detail["source"] = "config"
	if n.cfg.path != "" {
		rec.Detail["config"] = n.cfg.path
	}
	return n.audit.Append(ctx, rec)
}
