// reload.go: SIGHUP re-reads the certificate files and the config file and applies, without
// dropping a connection, what can change at run time: the certificate and key, the declared
// domains, mailboxes and their keys, the approval rules and the webhooks. A config that does not
// load, or a certificate, DKIM key or rule that is bad, refuses the whole reload: it is logged
// and everything stays as it was. Other changed settings (listen addresses, data_dir, limits, …)
// are logged as needing a restart and keep their running values.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"sync"
	"time"

	"multimail.dev/multimail/api/webhook"
	"multimail.dev/multimail/audit"
	"multimail.dev/multimail/submission"
)

// reloader serialises reloads.
type reloader struct {
	mu    sync.Mutex
	count int // reloads applied, for the log
}

// errPartialReload: the checks passed but the store failed while the reload was applied.
var errPartialReload = errors.New("reload applied in part")

// reloadable are the top-level keys a reload applies; every other key needs a restart. Under
// [tls] only cert and key are reloadable (ACME renews by itself).
var reloadable = map[string]bool{"domain": true, "mailbox": true, "webhook": true, "approval_rule": true}

// reloadConfig runs one reload; the error (already logged) says why it was refused.
func (n *node) reloadConfig(ctx context.Context) error {
	n.reload.mu.Lock()
	defer n.reload.mu.Unlock()
	start := time.Now()
	if n.cfg.path == devConfig().path {
		// The embedded dev default cannot change; its certificate can.
		if err := n.reloadCertOnly(); err != nil {
			n.log.Error("reload refused; the running certificate stays", "err", err)
			return err
		}
		n.log.Info("reloaded: certificate (no config file: the dev default)")
		return nil
	}
	c, err := LoadConfig(n.cfg.path)
	if err != nil {
		n.log.Error("reload refused: the config file is not valid; the running config stays", "config", n.cfg.path, "err", err)
		return err
	}
	next, restart := n.reloadPlan(c)
	if err := n.applyReload(ctx, next); errors.Is(err, errPartialReload) {
		n.log.Error("reload failed part way; what was applied stays", "config", n.cfg.path, "err", err)
		return err
	} else if err != nil {
		n.log.Error("reload refused; the running config stays", "config", n.cfg.path, "err", err)
		return err
	}
	if len(restart) > 0 {
		n.log.Warn("reload: these settings changed but need a restart; their running values stay",
			"keys", strings.Join(restart, ", "))
	}
	n.reload.count++
	n.log.Info("config reloaded", "config", n.cfg.path, "reload", n.reload.count,
		"domains", len(next.Domain), "mailboxes", len(next.Mailbox), "webhooks", len(next.Webhook),
		"approval_rules", len(next.ApprovalRule), "certificate", n.certs != nil, "took_ms", time.Since(start).Milliseconds())
	return nil
}

// reloadPlan returns the config to apply — the running one with the reloadable parts of c —
// and the keys of c that differ from the running config and need a restart.
func (n *node) reloadPlan(c *Config) (next *Config, restart []string) {
	cur := *n.cfg
	nc := cur
	nc.Domain, nc.Mailbox, nc.Webhook, nc.ApprovalRule = c.Domain, c.Mailbox, c.Webhook, c.ApprovalRule
	if !cur.TLS.ACME && !c.TLS.ACME {
		nc.TLS.Cert, nc.TLS.Key = c.TLS.Cert, c.TLS.Key
	}
	nv, cv := reflect.ValueOf(nc), reflect.ValueOf(*c)
	for i := range nv.NumField() {
		f := nv.Type().Field(i)
		key := strings.Split(f.Tag.Get("toml"), ",")[0]
		if key == "" || reloadable[key] {
			continue
		}
		if key == "tls" {
			restart = append(restart, diffKeys("tls", nc.TLS, c.TLS)...)
			continue
		}
		if !reflect.DeepEqual(nv.Field(i).Interface(), cv.Field(i).Interface()) {
			if f.Type.Kind() == reflect.Struct {
				restart = append(restart, diffKeys(key, nv.Field(i).Interface(), cv.Field(i).Interface())...)
			} else {
				restart = append(restart, key)
			}
		}
	}
	return &nc, restart
}

// diffKeys names the fields of two structs of one type that differ, as "table.key".
func diffKeys(table string, a, b any) []string {
	av, bv := reflect.ValueOf(a), reflect.ValueOf(b)
	var out []string
	for i := range av.NumField() {
		if !reflect.DeepEqual(av.Field(i).Interface(), bv.Field(i).Interface()) {
			out = append(out, table+"."+strings.Split(av.Type().Field(i).Tag.Get("toml"), ",")[0])
		}
	}
	return out
}

// reloadCertOnly re-reads the running config's certificate files.
func (n *node) reloadCertOnly() error {
	if n.certs == nil {
		return nil
	}
	pair, err := loadPair(n.cfg)
	if err != nil {
		return err
	}
	n.certs.cur.Store(pair)
	return nil
}

// applyReload checks everything next needs before changing anything, then applies it.
func (n *node) applyReload(ctx context.Context, next *Config) error {
	rules := approvalRules(next.ApprovalRule)
	if err := submission.ValidateRules(rules); err != nil {
		return err
	}
	eps := webhookEndpoints(next.Webhook)
	if err := webhook.ValidateEndpoints(eps); err != nil {
		return err
	}
	for _, d := range next.Domain {
		if d.DKIMKey == "" {
			continue
		}
		if _, err := os.Stat(d.DKIMKey); err != nil {
			return fmt.Errorf("domain %s: dkim_key: %w", d.Name, err)
		}
	}
	if n.certs != nil {
		pair, err := loadPair(next)
		if err != nil {
			return err
		}
		n.certs.cur.Store(pair)
	}
	// The directory, as at start: declared domains, identity keys, mailboxes and their keys.
	var errs []error
	for _, d := range next.Domain {
		if err := n.ensureDomain(ctx, d); err != nil {
			errs = append(errs, fmt.Errorf("domain %s: %w", d.Name, err))
		}
	}
	if err := n.ensureIdentityKeys(ctx); err != nil {
		errs = append(errs, err)
	}
	for _, m := range next.Mailbox {
		if err := n.ensureMailbox(ctx, m); err != nil {
			errs = append(errs, fmt.Errorf("mailbox %s: %w", m.Address, err))
		}
	}
	if err := n.sub.SetRules(rules); err != nil {
		errs = append(errs, err)
	}
	// The dispatcher learns a new endpoint before the queue fans events out to it, so no
	// entry of it is ever seen as belonging to an unknown endpoint (which would be dropped).
	if err := n.hooks.SetEndpoints(eps); err != nil {
		errs = append(errs, err)
	} else if err := n.queue.SetSubscribers(webhook.Subscribers(eps)); err != nil {
		errs = append(errs, err)
	}
	if err := n.recheckLinks(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := n.auditConfig(ctx, audit.Record{Kind: audit.KindConfig, Detail: map[string]string{"changed": "reload"}}); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		// The checks above passed, so this is the store failing part way; what was applied
		// stays, as a start that failed at the same point would leave it.
		return fmt.Errorf("%w: %w", errPartialReload, errors.Join(errs...))
	}
	return nil
}

// recheckLinks turns off one-click links for every mailbox whose oversight address the agent
// can now read (a reloaded oversight_address). A mailbox that became safe gets its links back
// at the next restart.
func (n *node) recheckLinks(ctx context.Context) error {
	if n.links == nil {
		return nil
	}
	leaks, err := oversightLeaks(ctx, n.store)
	if err != nil {
		return err
	}
	for _, l := range leaks {
		n.links.Disable(l.mailbox, l.why)
		n.log.Error("UNSAFE OVERSIGHT: the agent can read its own approval requests; no one-click links for this mailbox",
			"mailbox", l.mailbox, "oversight_address", l.oversight, "why", l.why)
	}
	return nil
}
