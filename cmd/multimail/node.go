// node.go: one running multimail node: the Pebble handle, the stores built on it, the
// protocol servers built on the stores, and the order in which they start and stop.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"path/filepath"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"multimail.dev/multimail/api"
	"multimail.dev/multimail/api/webhook"
	"multimail.dev/multimail/budget"
	"multimail.dev/multimail/inbound"
	"multimail.dev/multimail/mailbox"
	"multimail.dev/multimail/mailbox/imapserver"
	"multimail.dev/multimail/mta"
	"multimail.dev/multimail/queue"
	"multimail.dev/multimail/submission"
)

// node holds everything a running server owns. Fields are filled by newNode, bootstrap and
// build, in that order; close releases them in reverse.
type node struct {
	cfg *Config
	log *slog.Logger
	reg *prometheus.Registry
	db  *pebble.DB

	store mailbox.Store
	queue *queue.Queue

	budget *budget.Bytes // memory budget of large request bodies (memory.go)
	devKey string        // the dev default's API key, printed at start ("" with a config file)
	sup    supervisor
}

func newNode(cfg *Config, log *slog.Logger) (*node, error) {
	db, err := openDB(cfg.DataDir, log)
	if err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	n := &node{cfg: cfg, log: log, reg: reg, db: db, sup: supervisor{log: log}}
	if n.budget, err = memoryBudget(cfg.Limits, log); err != nil {
		db.Close()
		return nil, err
	}
	store, err := mailbox.OpenPebble(db, mailbox.Options{Logger: log.With("component", "mailbox")})
	if err != nil {
		n.close()
		return nil, fmt.Errorf("open mailbox store: %w", err)
	}
	n.store = store
	q, err := queue.Open(db, n.queueOptions())
	if err != nil {
		n.close()
		return nil, fmt.Errorf("open queue: %w", err)
	}
	n.queue = q
	return n, nil
}

func (n *node) queueOptions() queue.Options {
	return queue.Options{
		MaxLifetime:          n.cfg.Delivery.MaxLifetime.D(),
		PerDomainConcurrency: n.cfg.Delivery.PerDomainConcurrency,
		BackoffInitial:       n.cfg.Delivery.MinBackoff.D(),
		BackoffMax:           n.cfg.Delivery.MaxBackoff.D(),
		Subscribers:          webhook.Subscribers(webhookEndpoints(n.cfg.Webhook)),
		Logger:               n.log.With("component", "queue"),
		Registerer:           n.reg,
	}
}

// webhookEndpoints are the configured webhooks; each gets a stable outbox identity from its
// URL, so reordering the file does not hand one endpoint another's backlog.
func webhookEndpoints(ws []WebhookConfig) []webhook.Endpoint {
	var eps []webhook.Endpoint
	for _, w := range ws {
		eps = append(eps, webhook.Endpoint{ID: webhookID(w.URL), URL: w.URL, Secret: w.Secret, Events: w.Events})
	}
	return eps
}

// build creates the protocol servers and registers their listeners and workers.
func (n *node) build() error {
	tlsConf, err := loadTLS(n.cfg)
	if err != nil {
		return err
	}
	sub, err := submission.New(submission.Options{
		Queue: n.queue, Store: n.store, Hostname: n.cfg.Hostname, Rules: approvalRules(n.cfg.ApprovalRule),
		Logger: n.log.With("component", "submission"), Registerer: n.reg,
	})
	if err != nil {
		return err
	}
	n.addSubmission(sub, tlsConf)
	n.addIMAP(tlsConf)
	if err := n.addInbound(tlsConf); err != nil {
		return err
	}
	if err := n.addDelivery(); err != nil {
		return err
	}
	if err := n.addWebhooks(); err != nil {
		return err
	}
	a, err := api.New(api.Options{
		Store: n.store, Queue: n.queue, Submitter: sub,
		Gatherer: n.reg, Registerer: n.reg,
		Logger:    n.log.With("component", "api"),
		Hostname:  n.cfg.Hostname,
		RateLimit: api.RateLimit{PerSecond: n.cfg.API.RateLimit, Burst: n.cfg.API.RateBurst},
		Budget:    n.budget,
	})
	if err != nil {
		return err
	}
	if addr := n.cfg.Listen.HTTP; addr != "" {
		n.addHTTP("http", "tcp", addr, a.Handler())
	}
	n.addHTTP("admin", "unix", filepath.Join(n.cfg.DataDir, ctlSocket), adminMux(a.AdminHandler()))
	return nil
}

// adminMux serves the admin API and, on the same owner-only socket, Go's profiler, so a
// running node can be profiled (`curl --unix-socket data/ctl.sock http://x/debug/pprof/profile`).
func adminMux(admin http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", admin)
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

func approvalRules(rs []ApprovalRuleConfig) []submission.Rule {
	var out []submission.Rule
	for _, r := range rs {
		out = append(out, submission.Rule{Mailbox: r.Mailbox, Tags: r.Tags, Recipients: r.Recipients, Action: r.Action})
	}
	return out
}

func (n *node) addSubmission(sub *submission.Submitter, tlsConf *tls.Config) {
	l := n.cfg.Listen
	if l.Submission == "" && l.Submissions == "" {
		return
	}
	var trusted []netip.Prefix
	for _, s := range n.cfg.Submission.TrustedNetworks {
		p, _ := parsePrefix(s) // validated at load
		trusted = append(trusted, p)
	}
	srv := submission.NewServer(sub, submission.ServerOptions{
		Hostname: n.cfg.Hostname, TLSConfig: tlsConf, TrustedNetworks: trusted,
		Logger: n.log.With("component", "submission"),
	})
	if l.Submission != "" {
		n.addListener("submission", l.Submission, srv.ServeSubmission, srv.Shutdown)
	}
	if l.Submissions != "" {
		n.addListener("submissions", l.Submissions, srv.ServeSubmissions, srv.Shutdown)
	}
}

func (n *node) addIMAP(tlsConf *tls.Config) {
	l := n.cfg.Listen
	if l.IMAP == "" && l.IMAPS == "" {
		return
	}
	srv := imapserver.New(imapserver.Options{Store: n.store, TLSConfig: tlsConf,
		Logger: n.log.With("component", "imap"), Registerer: n.reg, Budget: n.budget})
	if l.IMAP != "" {
		n.addListener("imap", l.IMAP, srv.ServeIMAP, srv.Shutdown)
	}
	if l.IMAPS != "" {
		n.addListener("imaps", l.IMAPS, srv.ServeIMAPS, srv.Shutdown)
	}
}

func (n *node) addInbound(tlsConf *tls.Config) error {
	if n.cfg.Listen.SMTP == "" {
		return nil
	}
	opts := inbound.Options{
		Hostname: n.cfg.Hostname, Store: n.store, Queue: n.queue, TLSConfig: tlsConf,
		Logger: n.log.With("component", "inbound"), Registerer: n.reg,
	}
	if r := n.cfg.DNS.Resolver; r != "" {
		opts.Resolver = inbound.NewDNSResolver(r, 5*time.Second)
	}
	srv, err := inbound.NewServer(opts)
	if err != nil {
		return err
	}
	n.addListener("smtp", n.cfg.Listen.SMTP, srv.Serve, srv.Shutdown)
	return nil
}

func (n *node) addDelivery() error {
	var ts []mta.Transport
	for _, t := range n.cfg.Transport {
		ts = append(ts, mta.Transport{Domain: t.Domain, NextHop: t.NextHop, TLS: mta.TLSPolicy(t.TLS)})
	}
	if err := mta.Validate(ts); err != nil {
		return err
	}
	local := localDelivery{store: n.store, queue: n.queue, log: n.log.With("component", "local")}
	opts := mta.Options{
		Hostname: n.cfg.Hostname, Transports: ts, Local: local, DSN: local.deliverDSN,
		Logger: n.log.With("component", "mta"), Registerer: n.reg,
	}
	if r := n.cfg.DNS.Resolver; r != "" {
		opts.Resolver = mta.NewDNSResolver(r, 5*time.Second)
	}
	d := mta.New(n.queue, opts)
	n.sup.workers = append(n.sup.workers, worker{name: "delivery", run: d.Run})
	return nil
}

func (n *node) addWebhooks() error {
	eps := webhookEndpoints(n.cfg.Webhook)
	if len(eps) == 0 {
		return nil
	}
	d, err := webhook.NewDispatcher(n.queue, eps, webhook.Options{
		Logger: n.log.With("component", "webhook"), Registerer: n.reg,
	})
	if err != nil {
		return err
	}
	n.sup.workers = append(n.sup.workers, worker{name: "webhooks", run: d.Run})
	return nil
}

// addListener registers a TCP protocol server.
func (n *node) addListener(name, addr string, serve func(net.Listener) error, shutdown func(context.Context) error) {
	n.sup.listeners = append(n.sup.listeners, &listenerService{name: name, addr: addr, serve: serve, shutdown: shutdown})
}

func (n *node) addHTTP(name, network, addr string, h http.Handler) {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(n.log.Handler(), slog.LevelWarn),
	}
	n.sup.listeners = append(n.sup.listeners, &listenerService{
		name: name, network: network, addr: addr, serve: srv.Serve, shutdown: srv.Shutdown,
	})
}

// shutdown runs the two phases: drain the listeners, then stop the workers.
func (n *node) shutdown(grace time.Duration, stopWork context.CancelFunc) {
	n.sup.drain(grace)
	stopWork()
	n.sup.wait()
}

// close releases the stores and Pebble, last.
func (n *node) close() {
	if n.queue != nil {
		if err := n.queue.Close(); err != nil {
			n.log.Error("close queue", "err", err)
		}
	}
	if n.db != nil {
		if err := n.db.Close(); err != nil {
			n.log.Error("close pebble", "err", err)
		}
	}
}

// printBanner tells a person what is listening and how to send a first message. The banner
// goes out in one write, so a reader that sees /healthz answer sees all of it (a banner written
// line by line could be read half-way).
func (n *node) printBanner(out io.Writer, took time.Duration) {
	var b bytes.Buffer
	defer func() { _, _ = out.Write(b.Bytes()) }()
	w := &b
	fmt.Fprintf(w, "multimail %s ready in %d ms (data: %s)\n", version, took.Milliseconds(), n.cfg.DataDir)
	for _, l := range n.sup.listeners {
		fmt.Fprintf(w, "  %-12s %s\n", l.name, l.ln.Addr())
	}
	if n.devKey == "" {
		return
	}
	fmt.Fprintf(w, "\nmailbox agent@localhost, API key (stable across restarts):\n  %s\n", n.devKey)
	if n.cfg.Listen.HTTP != "" {
		fmt.Fprintf(w, "\nsend a first message:\n  curl -s http://%s/v1/send_email -H 'Authorization: Bearer %s' \\\n"+
			"    -H 'Content-Type: application/json' \\\n"+
			"    -d '{\"mailbox_id\":\"agent@localhost\",\"to\":\"agent@localhost\",\"subject\":\"hello\",\"text\":\"first message\"}'\n",
			n.cfg.Listen.HTTP, n.devKey)
	}
}
