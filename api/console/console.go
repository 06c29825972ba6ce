package console

import (
	"context"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"multimail.dev/multimail/api"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Clock tells the time; tests inject a fake one. nil means the real clock.
type Clock interface{ Now() time.Time }

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

// API is what the console needs of the API server (*api.Server): its handler, which every page
// calls in process with the session's key, and the doors the API has no route for.
type API interface {
	Handler() http.Handler
	Identify(r *http.Request, key string) (api.Identity, error)
	HeldForLink(ctx context.Context, approvalID string) (*api.HeldMessage, error)
	DecideByLink(ctx context.Context, approvalID string, approve bool, reason string) error
	// IdentityVerdict checks a message's stored identity header against the node's keys.
	IdentityVerdict(r *http.Request, key, msgID string) (string, error)
}

// Options configures a Console.
type Options struct {
	API   API    // required
	Links *Links // the one-click links; nil: none
	// Hosts are the names (besides localhost and loopback addresses) the console answers to
	// in the Host header; any other Host is refused (DNS rebinding).
	Hosts []string
	// Secure says a TLS-terminating proxy is in front: cookies get Secure and the __Host-
	// prefix even though this listener speaks plain HTTP.
	Secure          bool
	IdleTimeout     time.Duration // default 30 min
	AbsoluteTimeout time.Duration // default 12 h
	// Poll is how often the live-update stream looks for new held sends (default 250 ms).
	Poll   time.Duration
	Logger *slog.Logger
	Clock  Clock
}

// Console serves /console/. It is safe for concurrent use.
type Console struct {
	opts  Options
	log   *slog.Logger
	sess  *sessions
	pages map[string]*template.Template
	mux   *http.ServeMux
	stop  chan struct{}
}

// New builds a Console.
func New(o Options) (*Console, error) {
	if o.API == nil {
		return nil, errors.New("console: no API")
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.AbsoluteTimeout <= 0 {
		o.AbsoluteTimeout = DefaultAbsoluteTimeout
	}
	if o.Poll <= 0 {
		o.Poll = 250 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = realClock{}
	}
	c := &Console{opts: o, log: o.Logger, sess: newSessions(o.IdleTimeout, o.AbsoluteTimeout), stop: make(chan struct{})}
	if err := c.parseTemplates(); err != nil {
		return nil, err
	}
	c.routes()
	return c, nil
}

// Stop ends the live-update streams (call it before the HTTP server's Shutdown, which waits
// for open requests).
func (c *Console) Stop() {
	select {
	case <-c.stop:
	default:
		close(c.stop)
	}
}

func (c *Console) now() time.Time { return c.opts.Clock.Now() }

var funcs = template.FuncMap{
	"join": strings.Join,
	"age":  age,
	"ts": func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"t": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") },
}

// age is a short "how long ago" (3s, 5m, 2h, 4d).
func age(t *time.Time, now time.Time) string {
	if t == nil {
		return ""
	}
	d := now.Sub(*t)
	switch {
	case d < time.Minute:
		return (d.Truncate(time.Second)).String()
	case d < time.Hour:
		return d.Truncate(time.Minute).String()
	case d < 48*time.Hour:
		return d.Truncate(time.Hour).String()
	}
	return strings.TrimSuffix((d / (24 * time.Hour) * (24 * time.Hour)).String(), "0m0s")
}

// parseTemplates builds one template set per page: layout.html plus the page.
func (c *Console) parseTemplates() error {
	c.pages = map[string]*template.Template{}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return err
	}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" || base == "rows" {
			continue
		}
		t, err := template.New(base).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/rows.html", n)
		if err != nil {
			return err
		}
		c.pages[base] = t
	}
	return nil
}

// Handler returns the console's handler; mount it at /console/.
func (c *Console) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pageHeaders(w.Header())
		if !c.hostAllowed(r) {
			http.Error(w, "unknown Host: the console answers only to its own names", http.StatusMisdirectedRequest)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead && !c.sameOrigin(r) {
			http.Error(w, "cross-site request refused", http.StatusForbidden)
			return
		}
		c.mux.ServeHTTP(w, r)
	})
}

func (c *Console) routes() {
	m := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	m.Handle("GET /console/static/", http.StripPrefix("/console/static/", http.FileServerFS(static)))
	m.HandleFunc("GET /console/{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/console/approvals", http.StatusSeeOther)
	})
	m.HandleFunc("GET /console/login", c.loginPage)
	m.HandleFunc("POST /console/login", c.login)
	m.HandleFunc("POST /console/logout", c.authed(c.logout))
	m.HandleFunc("GET /console/approvals", c.authed(c.approvals))
	m.HandleFunc("GET /console/approvals/rows", c.authed(c.approvalRows))
	m.HandleFunc("POST /console/approvals/decide", c.authed(c.decide))
	m.HandleFunc("GET /console/approvals/{id}", c.authed(c.approval))
	m.HandleFunc("GET /console/approvals/{id}/html", c.authed(c.approvalHTML))
	m.HandleFunc("GET /console/events", c.events)
	m.HandleFunc("GET /console/messages", c.authed(c.messages))
	m.HandleFunc("GET /console/messages/{id}", c.authed(c.message))
	m.HandleFunc("GET /console/queue", c.authed(c.queuePage))
	m.HandleFunc("POST /console/queue/{id}/{action}", c.authed(c.queueAction))
	m.HandleFunc("GET /console/mailboxes", c.authed(c.mailboxes))
	m.HandleFunc("GET /console/mailboxes/{addr}", c.authed(c.mailboxPage))
	m.HandleFunc("POST /console/mailboxes/{addr}/{action}", c.authed(c.mailboxAction))
	m.HandleFunc("GET /console/d/{token}", c.linkPage)
	m.HandleFunc("POST /console/d/{token}", c.linkDecide)
	c.mux = m
}

// authed runs h with the request's session, or sends the browser to sign in. Every POST must
// carry the session's CSRF token.
func (c *Console) authed(h func(w http.ResponseWriter, r *http.Request, s *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, _ := c.session(r, true)
		if s == nil {
			if r.Method == http.MethodGet && !strings.HasSuffix(r.URL.Path, "/rows") && !strings.HasSuffix(r.URL.Path, "/html") {
				http.Redirect(w, r, "/console/login", http.StatusSeeOther)
				return
			}
			http.Error(w, "not signed in", http.StatusUnauthorized)
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
			if err := r.ParseForm(); err != nil || !csrfOK(r.PostForm.Get("csrf"), s.csrf) {
				http.Error(w, "missing or wrong CSRF token: reload the page and try again", http.StatusForbidden)
				return
			}
		}
		h(w, r, s)
	}
}

// view is what every page template gets.
type view struct {
	Title   string
	Nav     string
	CSRF    string
	Who     string
	Flash   string
	Error   string
	Now     time.Time
	Data    any
	Signed  bool
	LiveURL string
}

// render writes a page.
func (c *Console) render(w http.ResponseWriter, status int, page string, v view) {
	t := c.pages[page]
	if t == nil {
		http.Error(w, "no such page", http.StatusInternalServerError)
		return
	}
	if v.Now.IsZero() {
		v.Now = c.now()
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := t.ExecuteTemplate(w, "layout", v); err != nil {
		c.log.Error("console: render", "page", page, "err", err)
	}
}

// pageView is the view of a signed-in page.
func (c *Console) pageView(r *http.Request, s *session, title, nav string, data any) view {
	return view{Title: title, Nav: nav, CSRF: s.csrf, Who: who(s), Flash: r.URL.Query().Get("done"),
		Data: data, Signed: true}
}

// who describes the signed-in key.
func who(s *session) string {
	return s.ident.KeyID + " (" + strings.Join(s.ident.Scopes, ", ") + " on " + strings.Join(s.ident.Mailboxes, ", ") + ")"
}

// apiMessage is how an API refusal reads on a page.
func apiMessage(err error) string {
	var ae *apiError
	if errors.As(err, &ae) {
		if ae.Status == http.StatusForbidden {
			return "Your key may not do this: " + ae.Message
		}
		return ae.Message
	}
	return "Something failed on the server; see its log."
}
