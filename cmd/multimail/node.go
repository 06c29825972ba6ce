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
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"multimail.dev/multimail/api"
	"multimail.dev/multimail/api/console"
	"multimail.dev/multimail/api/webhook"
	"multimail.dev/multimail/audit"
	"multimail.dev/multimail/budget"
	"multimail.dev/multimail/connlimit"
	"multimail.dev/multimail/diskfloor"
	"multimail.dev/multimail/dnsclient"
	"multimail.dev/multimail/inbound"
	"multimail.dev/multimail/mailbox"
	"multimail.dev/multimail/mailbox/imapserver"
	"multimail.dev/multimail/mailbox/pgstore"
	"multimail.dev/multimail/mta"
	"multimail.dev/multimail/queue"
	"multimail.dev/multimail/submission"
	"multimail.dev/multimail/throttle"
)

// node holds everything a running server owns. Fields are filled by newNode, bootstrap and
// build, in that order; close releases them in reverse.
type node struct {
	cfg *Config
	log *slog.Logger
	reg *prometheus.Registry
	db  *pebble.DB
	pg  *pgxpool.Pool // [store] backend = "postgres": the mailbox store's database (postgres.go)

	lock  *dirLock         // data_dir/multimail.pid, held while the node lives
	floor *diskfloor.Guard // the free-space floor every intake path consults
	exit  func(int)        // os.Exit: a store fault ends the process (storefault.go)

	store mailbox.Store
	queue queue.Backend
	audit *audit.Journal    // the tamper-evident journal of decisions and changes (audit.go)
	dns   *dnsclient.Client // the one resolver and cache inbound and delivery share

	devKeys []string // the dev default's agent and operator keys, printed at start (nil with a config file)
	sup     supervisor
	caps    caps // connection caps per kind of listener, made by build
	// auth throttles failed logins at every door (IMAP, SMTP AUTH, HTTP keys); nil when
	// [auth_throttle] max_failures = -1.
	auth   *throttle.Limiter
	budget *budget.Bytes // memory budget of large request bodies (memory.go)

	// What a reload (SIGHUP, reload.go) swaps: the certificate files (certs; nil under ACME,
	// whose acmeCerts renew by themselves), the approval rules, the webhooks and the
	// one-click link check; made by build.
	certs  *certStore
	acme   *acmeCerts
	sub    *submission.Submitter
	hooks  *webhook.Dispatcher
	links  *console.Links
	reload reloader
	mta    *mta.Deliverer // delivery, for the ctl socket's TLS-RPT route (transportsec.go)
}

// caps are the connection caps of the listener kinds ([limits] in the config).
type caps struct{ smtp, imap, http *connlimit.Limiter }

func newNode(cfg *Config, log *slog.Logger) (*node, error) {
	if err := prepareDataDir(cfg.DataDir, log); err != nil {
		return nil, err
	}
	lock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	if err := checkStoreFormat(cfg.DataDir, log); err != nil {
		lock.release()
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), buildInfo())
	n := &node{cfg: cfg, log: log, reg: reg, lock: lock, exit: os.Exit, sup: supervisor{log: log}}
	n.floor, err = diskfloor.New(diskfloor.Options{
		Dir: cfg.DataDir, MinFree: cfg.Storage.MinFree.N(), Ballast: cfg.Storage.Ballast.N(),
		Logger: log.With("component", "diskfloor"), Registerer: reg,
	})
	if err != nil {
		n.close()
		return nil, err
	}
	// The ballast goes in before Pebble takes its share of the disk.
	n.floor.Check()
	db, err := openDB(cfg.DataDir, log, n.exit)
	if err != nil {
		n.close()
		return nil, err
	}
	n.db = db
	if n.budget, err = memoryBudget(cfg.Limits, log); err != nil {
		n.close()
		return nil, err
	}
	store, err := n.openMailboxStore(db)
	if err != nil {
		n.close()
		return nil, fmt.Errorf("open mailbox store: %w", err)
	}
	n.store = store
	if _, err := n.openAudit(); err != nil {
		n.close()
		return nil, err
	}
	q, err := n.openQueue(db)
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
		Audit:                n.audit,
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
	tlsConf, httpsConf, err := n.makeTLS()
	if err != nil {
		return err
	}
	if err := n.makeCaps(); err != nil {
		return err
	}
	if n.auth, err = newAuthThrottle(n.cfg.AuthThrottle, n.reg); err != nil {
		return err
	}
	links, err := n.consoleLinks()
	if err != nil {
		return err
	}
	sub, err := submission.New(submission.Options{
		Queue: n.queue, Store: n.store, Hostname: n.cfg.Hostname, Rules: approvalRules(n.cfg.ApprovalRule),
		Logger: n.log.With("component", "submission"), Registerer: n.reg, Links: links,
		SendingDomain:  n.cfg.sendingDomain(), // config_pools.go
		UnsubscribeURL: n.cfg.unsubscribeBase(),
	})
	if err != nil {
		return err
	}
	n.sub, n.links = sub, links
	n.addSubmission(sub, tlsConf)
	n.addIMAP(tlsConf)
	n.addStorageWorkers()
	if n.dns, err = newDNSClient(n.cfg.DNS, n.reg); err != nil {
		return err
	}
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
		Gatherer: n.reg, Registerer: n.reg, Resolver: n.dns,
		Logger:    n.log.With("component", "api"),
		Hostname:  n.cfg.Hostname,
		RateLimit: api.RateLimit{PerSecond: n.cfg.API.RateLimit, Burst: n.cfg.API.RateBurst},
		Intake:    n.floor,
		Throttle:  n.auth,
		Budget:    n.budget,
		Audit:     n.audit,
		// domain dns/check: the [[ip_pool]] addresses in SPF, their PTR and HELO (config_pools.go)
		SourcePools: n.cfg.sourcePools(),
	})
	if err != nil {
		return err
	}
	con, err := console.New(console.Options{API: a, Links: links, Hosts: append([]string{n.cfg.Hostname}, n.cfg.TLS.ACMENames...),
		Logger: n.log.With("component", "console")})
	if err != nil {
		return err
	}
	stopConsole := func(ls *listenerService) {
		shut := ls.shutdown
		ls.shutdown = func(ctx context.Context) error { con.Stop(); return shut(ctx) }
	}
	if addr := n.cfg.Listen.HTTP; addr != "" {
		n.addHTTP("http", "tcp", addr, consoleHandler(con, a), n.caps.http)
		stopConsole(n.sup.listeners[len(n.sup.listeners)-1])
	}
	if addr := n.cfg.Listen.HTTPS; addr != "" {
		n.addHTTPS(addr, consoleHandler(con, a), httpsConf)
		stopConsole(n.sup.listeners[len(n.sup.listeners)-1])
	}
	if addr := n.cfg.Listen.ACMEHTTP; addr != "" && n.acme != nil {
		n.addHTTP("acme_http", "tcp", addr, n.acme.httpHandler(), n.caps.http)
	}
	n.addHTTP("admin", "unix", filepath.Join(n.cfg.DataDir, ctlSocket), adminMux(a.AdminHandler(), n.serveBackup, n.serveTLSReport), nil)
	return nil
}

// consoleLinks makes the one-click decision links of approval requests, and refuses them (with
// an error in the log at start) for every mailbox whose oversight address the agent can read.
func (n *node) consoleLinks() (*console.Links, error) {
	key, err := loadLinkKey(n.cfg.DataDir)
	if err != nil {
		return nil, err
	}
	links := console.NewLinks(console.LinkOptions{
		BaseURL:  consoleBaseURL(n.cfg),
		Key:      key,
		Lifetime: n.cfg.Delivery.MaxLifetime.D(),
	})
	leaks, err := oversightLeaks(context.Background(), n.store)
	if err != nil {
		return nil, err
	}
	for _, l := range leaks {
		links.Disable(l.mailbox, l.why)
		n.log.Error("UNSAFE OVERSIGHT: the agent can read its own approval requests; no one-click links for this mailbox",
			"mailbox", l.mailbox, "oversight_address", l.oversight, "why", l.why)
	}
	return links, nil
}

// makeCaps makes the connection caps: one per kind, shared by that kind's listeners, each
// answering the excess in its protocol.
func (n *node) makeCaps() error {
	m, err := connlimit.NewMetrics(n.reg)
	if err != nil {
		return fmt.Errorf("connection cap metrics: %w", err)
	}
	mk := func(kind, refusal string) *connlimit.Limiter {
		max, perIP := n.cfg.Limits.forKind(kind)
		return connlimit.New(connlimit.Options{Kind: kind, Max: max, PerIP: perIP, Refusal: []byte(refusal),
			Metrics: m, Logger: n.log.With("component", "connlimit")})
	}
	const body = "too many connections, try again later\n"
	n.caps = caps{
		smtp: mk(kindSMTP, "421 4.7.0 "+n.cfg.Hostname+" Too many connections, try again later\r\n"),
		imap: mk(kindIMAP, "* BYE Too many connections, try again later\r\n"),
		http: mk(kindHTTP, fmt.Sprintf("HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"+
			"Content-Length: %d\r\nRetry-After: 5\r\nConnection: close\r\n\r\n%s", len(body), body)),
	}
	return nil
}

// capped serves through lim's cap; tlsConf is set for an implicit-TLS port, whose refusal
// is written inside TLS.
func capped(lim *connlimit.Limiter, tlsConf *tls.Config, serve func(net.Listener) error) func(net.Listener) error {
	if lim == nil {
		return serve
	}
	return func(l net.Listener) error { return serve(lim.Listener(l, tlsConf)) }
}

// newAuthThrottle is the one login throttle the three doors share, so failures at one count
// at all; nil (no throttling) when max_failures is -1.
func newAuthThrottle(c AuthThrottleConfig, reg prometheus.Registerer) (*throttle.Limiter, error) {
	if c.MaxFailures < 0 {
		return nil, nil
	}
	return throttle.New(throttle.Options{
		MaxFailures: c.MaxFailures, Backoff: c.Backoff.D(), MaxBackoff: c.MaxBackoff.D(),
		HalfLife: c.HalfLife.D(), AccountMaxFailures: c.AccountMaxFailures, KnownFor: c.KnownFor.D(),
		MaxEntries: c.MaxEntries, Registerer: reg,
	})
}

// adminMux serves the admin API and, on the same owner-only socket, Go's profiler, so a
// running node can be profiled (`curl --unix-socket data/ctl.sock http://x/debug/pprof/profile`).
func adminMux(admin http.Handler, backup, tlsrpt http.HandlerFunc) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", admin)
	mux.HandleFunc("GET "+ctlBackupPath, backup)  // backup.go
	mux.HandleFunc("POST "+ctlTLSRPTPath, tlsrpt) // transportsec.go
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
		Hostname: n.cfg.Hostname, TLSConfig: tlsConf, TrustedNetworks: trusted, Throttle: n.auth,
		Logger: n.log.With("component", "submission"), Admit: n.floor.Admit,
	})
	if l.Submission != "" {
		n.addListener("submission", l.Submission, capped(n.caps.smtp, nil, srv.ServeSubmission), srv.Shutdown)
	}
	if l.Submissions != "" {
		n.addListener("submissions", l.Submissions, capped(n.caps.smtp, tlsConf, srv.ServeSubmissions), srv.Shutdown)
	}
}

func (n *node) addIMAP(tlsConf *tls.Config) {
	l := n.cfg.Listen
	if l.IMAP == "" && l.IMAPS == "" {
		return
	}
	srv := imapserver.New(imapserver.Options{Store: n.store, TLSConfig: tlsConf, Throttle: n.auth,
		Logger: n.log.With("component", "imap"), Registerer: n.reg, Admit: n.floor.Admit, Budget: n.budget,
		MailboxQuota: n.cfg.Limits.MailboxQuota.N()})
	if l.IMAP != "" {
		n.addListener("imap", l.IMAP, capped(n.caps.imap, nil, srv.ServeIMAP), srv.Shutdown)
	}
	if l.IMAPS != "" {
		n.addListener("imaps", l.IMAPS, capped(n.caps.imap, tlsConf, srv.ServeIMAPS), srv.Shutdown)
	}
}

func (n *node) addInbound(tlsConf *tls.Config) error {
	if n.cfg.Listen.SMTP == "" {
		return nil
	}
	opts := inbound.Options{
		Hostname: n.cfg.Hostname, Store: n.store, Queue: n.queue, TLSConfig: tlsConf, Summarize: receivedSummary,
		Logger: n.log.With("component", "inbound"), Registerer: n.reg, Admit: n.floor.Admit, Resolver: n.dns,
		Postmaster: n.cfg.Inbound.Postmaster, MailboxQuota: n.cfg.Limits.MailboxQuota.N(),
	}
	srv, err := inbound.NewServer(opts)
	if err != nil {
		return err
	}
	n.addListener("smtp", n.cfg.Listen.SMTP, capped(n.caps.smtp, nil, srv.Serve), srv.Shutdown)
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
	local := localDelivery{store: n.store, queue: n.queue, log: n.log.With("component", "local"),
		quota: n.cfg.Limits.MailboxQuota.N()}
	opts := mta.Options{
		Hostname: n.cfg.Hostname, Transports: ts, Local: local, DSN: local.deliverDSN,
		Logger: n.log.With("component", "mta"), Registerer: n.reg, Resolver: n.dns,
		IPPools: n.cfg.ipPools(), PoolFor: n.cfg.poolFor(), // config_pools.go
		Pacing: n.cfg.pacing(), MaxConnUses: n.cfg.Pacing.MessagesPerConnection,
		PacingStateFile: filepath.Join(n.cfg.DataDir, pacingStateFile), // config_pools.go
	}
	if err := n.transportSecurity(&opts); err != nil {
		return err
	}
	d := mta.New(n.queue, opts)
	n.mta = d
	n.sup.workers = append(n.sup.workers, worker{name: "delivery", run: d.Run})
	return nil
}

// addWebhooks runs the dispatcher, also with no webhook configured, so a reload can add one.
func (n *node) addWebhooks() error {
	eps := webhookEndpoints(n.cfg.Webhook)
	d, err := webhook.NewDispatcher(n.queue, eps, webhook.Options{
		Logger: n.log.With("component", "webhook"), Registerer: n.reg,
	})
	if err != nil {
		return err
	}
	n.hooks = d
	n.sup.workers = append(n.sup.workers, worker{name: "webhooks", run: d.Run})
	return nil
}

// newDNSClient builds the node's one DNS client: "[dns] resolver" when set, else the servers
// of /etc/resolv.conf. Inbound's SPF, DKIM and DMARC checks and delivery's MX and address
// lookups share its cache.
func newDNSClient(c DNSConfig, reg prometheus.Registerer) (*dnsclient.Client, error) {
	cfg := dnsclient.Config{Registerer: reg}
	if c.Resolver != "" {
		cfg.Servers = []string{c.Resolver}
	}
	client, err := dnsclient.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("dns: %w", err)
	}
	return client, nil
}

// addListener registers a TCP protocol server.
func (n *node) addListener(name, addr string, serve func(net.Listener) error, shutdown func(context.Context) error) {
	n.sup.listeners = append(n.sup.listeners, &listenerService{name: name, addr: addr, serve: serve, shutdown: shutdown})
}

// addStorageWorkers runs the free-space floor's poll loop and the store watchdog.
func (n *node) addStorageWorkers() {
	wd := storeWatchdog{db: n.db, log: n.log.With("component", "watchdog"), exit: n.exit,
		every: watchdogEvery, timeout: watchdogTimeout}
	n.sup.workers = append(n.sup.workers,
		worker{name: "diskfloor", run: n.floor.Run},
		worker{name: "store watchdog", run: wd.run})
}

// addHTTP registers an HTTP server; lim caps its connections (nil: none, the admin socket). Its
// handler runs behind storePanicGuard, so a panic from inside Pebble ends the process instead
// of being recovered by net/http.
func (n *node) addHTTP(name, network, addr string, h http.Handler, lim *connlimit.Limiter) {
	srv := &http.Server{
		Handler:           storePanicGuard(h, n.log.With("component", name), n.exit),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(n.log.Handler(), slog.LevelWarn),
	}
	n.sup.listeners = append(n.sup.listeners, &listenerService{
		name: name, network: network, addr: addr, serve: capped(lim, nil, srv.Serve), shutdown: srv.Shutdown,
	})
}

// addHTTPS registers the HTTPS listener: the HTTP listener's handler over TLS (with the
// TLS-ALPN-01 protocol under ACME), capped with the http kind; a refusal is written in TLS.
func (n *node) addHTTPS(addr string, h http.Handler, tlsConf *tls.Config) {
	srv := &http.Server{
		Handler:           storePanicGuard(h, n.log.With("component", "https"), n.exit),
		TLSConfig:         tlsConf,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(n.log.Handler(), slog.LevelWarn),
	}
	serve := func(l net.Listener) error { return srv.ServeTLS(l, "", "") }
	n.sup.listeners = append(n.sup.listeners, &listenerService{
		name: "https", addr: addr, serve: capped(n.caps.http, tlsConf, serve), shutdown: srv.Shutdown,
	})
}

// makeTLS makes the TLS config of every listener, and the one of the HTTPS listener: from
// ACME when [tls] acme is on, else from the certificate files (or the self-signed pair).
func (n *node) makeTLS() (all, https *tls.Config, err error) {
	if n.cfg.TLS.ACME {
		if n.acme, err = newACME(n.cfg, n.store, n.log); err != nil {
			return nil, nil, err
		}
		n.sup.workers = append(n.sup.workers, worker{name: "acme", run: n.acme.warm})
		return n.acme.tlsConfig(false), n.acme.tlsConfig(true), nil
	}
	if all, n.certs, err = loadTLS(n.cfg); err != nil {
		return nil, nil, err
	}
	// Its own copy: net/http adds h2 and http/1.1 to the NextProtos of the config it serves,
	// which would make IMAP and SMTP clients that offer ALPN fail the handshake.
	return all, all.Clone(), nil
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
	if ps, ok := n.store.(*pgstore.Store); ok {
		ps.Close() // its poller uses the pool
	}
	if ps, ok := n.store.(*mailbox.PebbleStore); ok {
		ps.Close() // its full-text indexer reads Pebble
	}
	if n.pg != nil {
		n.pg.Close()
	}
	if n.db != nil {
		if err := n.db.Close(); err != nil {
			n.log.Error("close pebble", "err", err)
		}
	}
	n.lock.release()
}

// printBanner tells a person what is listening and how to send a first message. The banner
// goes out in one write, so a reader that sees /healthz answer sees all of it (a banner written
// line by line could be read half-way). It says "dev default" only for the embedded dev
// default. With --log-format json it is one JSON log record instead (logBanner).
func (n *node) printBanner(out io.Writer, took time.Duration) {
	var b bytes.Buffer
	defer func() { _, _ = out.Write(b.Bytes()) }()
	w := &b
	what := "config " + n.cfg.path
	if n.dev() {
		what = "the embedded dev default"
	}
	fmt.Fprintf(w, "multimail %s ready in %d ms (%s; data: %s)\n", buildVersion(), took.Milliseconds(), what, n.cfg.DataDir)
	for _, l := range n.sup.listeners {
		fmt.Fprintf(w, "  %-12s %s\n", l.name, l.ln.Addr())
	}
	if !n.dev() {
		return
	}
	agent, operator := n.devKeys[0], n.devKeys[1]
	fmt.Fprintf(w, "\ndev default: mailbox %s; API keys (stable across restarts, kept in %s):\n", devMailbox, n.cfg.DataDir)
	fmt.Fprintf(w, "agent key (send, read, tag on %s):\n  %s\n", devMailbox, agent)
	fmt.Fprintf(w, "  it is also the IMAP/SMTP password of %s (user name %s)\n", devMailbox, devMailbox)
	fmt.Fprintf(w, "operator key (approve, admin on every mailbox; never sends):\n  %s\n", operator)
	if n.cfg.Listen.HTTP != "" {
		fmt.Fprintf(w, "\napprover's console (sign in with the operator key):\n  http://%s/console/\n", n.cfg.Listen.HTTP)
	}
	if n.cfg.Listen.HTTP != "" {
		fmt.Fprintf(w, "\nsend a first message:\n  curl -s http://%s/v1/send_email -H 'Authorization: Bearer %s' \\\n"+
			"    -H 'Content-Type: application/json' \\\n"+
			"    -d '{\"mailbox_id\":\"agent@localhost\",\"to\":\"agent@localhost\",\"subject\":\"hello\",\"text\":\"first message\"}'\n",
			n.cfg.Listen.HTTP, agent)
	}
}

// dev reports whether the node runs the embedded dev default (which has its printed keys).
func (n *node) dev() bool { return len(n.devKeys) == len(devKeys) }

// logBanner is the banner as one log record, for --log-format json.
func (n *node) logBanner(took time.Duration) {
	attrs := []any{"version", buildVersion(), "startup_ms", took.Milliseconds(), "data_dir", n.cfg.DataDir,
		"config", n.cfg.path, "hostname", n.cfg.Hostname, "dev_default", n.dev()}
	ls := map[string]string{}
	for _, l := range n.sup.listeners {
		ls[l.name] = l.ln.Addr().String()
	}
	attrs = append(attrs, "listeners", ls)
	if n.dev() {
		attrs = append(attrs, "mailbox", devMailbox, "agent_key", n.devKeys[0], "operator_key", n.devKeys[1],
			"note", "the agent key is also the IMAP/SMTP password of "+devMailbox)
	}
	n.log.Info("multimail ready", attrs...)
}

// buildInfo is the gauge multimail_build_info{version,goversion} = 1.
func buildInfo() prometheus.Collector {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "multimail_build_info",
		Help: "Always 1; the labels say which multimail build runs."}, []string{"version", "goversion"})
	g.WithLabelValues(buildVersion(), runtime.Version()).Set(1)
	return g
}
