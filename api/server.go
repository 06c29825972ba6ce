package api

import (
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"multimail.dev/multimail/api/mcp"
	"multimail.dev/multimail/audit"
	"multimail.dev/multimail/budget"
	"multimail.dev/multimail/mailbox"
	"multimail.dev/multimail/queue"
	"multimail.dev/multimail/submission"
	"multimail.dev/multimail/throttle"
)

// Clock tells the time; tests inject a fake one. nil means the real clock.
type Clock interface{ Now() time.Time }

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

// RateLimit is the per-API-key request budget: a token bucket refilled at PerSecond up to
// Burst. Zero values take the defaults (50/s, burst 100); PerSecond < 0 disables limiting.
type RateLimit struct {
	PerSecond float64
	Burst     int
}

// Options configures a Server. Store, Queue and Submitter are required for the /v1 endpoints;
// without them only /healthz, /metrics and /openapi.json are useful. Zero values take the
// documented defaults.
type Options struct {
	Store        mailbox.Store
	Queue        queue.Backend
	Submitter    *submission.Submitter
	Gatherer     prometheus.Gatherer   // served at /metrics; nil -> prometheus.DefaultGatherer
	Registerer   prometheus.Registerer // the API's own metrics; nil -> none registered
	Logger       *slog.Logger          // nil -> discard
	Clock        Clock                 // nil -> the real clock
	Hostname     string                // MX target in generated DNS records; default "localhost"
	MaxBodyBytes int64                 // request body limit; default 25 MiB (413 beyond)
	RateLimit    RateLimit             // per API key
	Intake       Intake                // the free-space floor of accepting endpoints; nil accepts always
	// Throttle answers 429 to a client address that sent too many unknown API keys, before
	// the key is looked up; nil throttles nothing. One Limiter is shared with IMAP and SMTP.
	Throttle    *throttle.Limiter
	BodyTimeout time.Duration  // time to send a request body; default 30 s (then the connection is closed)
	Budget      *budget.Bytes  // memory budget large sends reserve; nil: unlimited
	Audit       *audit.Journal // admin actions are recorded here, GET /v1/audit reads it; nil: none
	// Resolver looks a domain's records up for GET /v1/admin/domains/{name}/check: the node's
	// shared *dnsclient.Client. nil: the check answers 503.
	Resolver Resolver
	// SourcePools are the node's outbound [[ip_pool]]s: domain dns lists their addresses in
	// SPF and their PTR/HELO records; domain check verifies them (dnspools.go).
	SourcePools []SourcePool
}

// DefaultMaxBodyBytes is the request body limit when Options.MaxBodyBytes is zero.
const DefaultMaxBodyBytes = 25 << 20

// Server is the HTTP API. It is safe for concurrent use.
type Server struct {
	opts    Options
	log     *slog.Logger
	clock   Clock
	m       *metrics
	limiter *limiter
	public  http.Handler // Handler()
	admin   http.Handler // AdminHandler()
}

// New builds a Server from opts.
func New(opts Options) (*Server, error) {
	opts, err := withDefaults(opts)
	if err != nil {
		return nil, err
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	s := &Server{opts: opts, log: opts.Logger, clock: opts.Clock, m: m}
	s.limiter = newLimiter(opts.RateLimit, opts.Clock)
	s.public = s.buildPublic()
	s.admin = s.buildAdmin()
	return s, nil
}

func withDefaults(o Options) (Options, error) {
	if o.MaxBodyBytes < 0 {
		return o, errors.New("api: negative MaxBodyBytes")
	}
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.BodyTimeout <= 0 {
		o.BodyTimeout = DefaultBodyTimeout
	}
	if o.Gatherer == nil {
		o.Gatherer = prometheus.DefaultGatherer
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = realClock{}
	}
	if o.Hostname == "" {
		o.Hostname = "localhost"
	}
	if o.RateLimit.PerSecond == 0 {
		o.RateLimit.PerSecond = 50
	}
	if o.RateLimit.Burst <= 0 {
		o.RateLimit.Burst = max(100, int(o.RateLimit.PerSecond))
	}
	return o, nil
}

// Handler returns the public HTTP handler: the JSON API (bearer API keys), /mcp, /healthz,
// /metrics, /openapi.json and the identity key set at /.well-known/multimail-identity.
func (s *Server) Handler() http.Handler { return s.public }

// AdminHandler returns the same /v1 endpoints (admin, approvals and the rest) without bearer
// authentication, acting as the all-powerful "cli" principal. Serve it only on a unix socket
// whose file permissions are the authentication.
func (s *Server) AdminHandler() http.Handler { return s.admin }

// buildPublic registers every route behind bearer auth, plus the unauthenticated ones.
func (s *Server) buildPublic() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.opts.Gatherer, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /openapi.json", s.openAPI)
	mux.HandleFunc("GET "+WellKnownIdentityPath, s.wellKnownIdentity)
	mux.HandleFunc("GET "+MTASTSPath, s.mtaSTS)
	mux.HandleFunc("GET /u/{token}", s.unsubscribeGet) // one-click unsubscribe (unsubscribe.go): no key
	mux.HandleFunc("POST /u/{token}", s.unsubscribePost)
	for _, rt := range s.routes() {
		mux.Handle(rt.method+" "+rt.pattern, s.wrap(rt, s.bearer))
	}
	mcpAPI := mcp.HTTPHandler(mux, s.opts.MaxBodyBytes)
	mux.Handle("/mcp", s.mcpAuth(mcpAPI))
	return jsonFallback(mux)
}

// buildAdmin registers every /v1 route with the CLI principal and no rate limit.
func (s *Server) buildAdmin() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	for _, rt := range s.routes() {
		mux.Handle(rt.method+" "+rt.pattern, s.wrap(rt, s.socketPrincipal))
	}
	return jsonFallback(mux)
}
