package inbound

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"multimail.dev/multimail/mailbox"
	"multimail.dev/multimail/queue"
	"multimail.dev/multimail/smtpserver"
)

// Defaults of Options.
const (
	DefaultMaxMessageBytes  = smtpserver.DefaultMaxMessageBytes
	DefaultMaxRecipients    = smtpserver.DefaultMaxRecipients
	DefaultMaxLineLength    = smtpserver.DefaultMaxLineLength // go-smtp's: twice RFC 5321 §4.5.3.1.6
	DefaultReadTimeout      = smtpserver.DefaultReadTimeout
	DefaultWriteTimeout     = smtpserver.DefaultWriteTimeout
	DefaultMaxSessionTime   = smtpserver.DefaultMaxSessionTime
	DefaultMaxBadRecipients = 20
	DefaultCheckTimeout     = 10 * time.Second
)

// Clock tells the time; tests inject a fake one. nil means the real clock.
type Clock interface{ Now() time.Time }

// Recorder is what inbound needs of the queue: appending events to a message's journal
// (*queue.Queue's Record). "received" events carry the email id as MsgID; "bounced" events
// from DSNs name the original queued message.
type Recorder interface {
	Record(ctx context.Context, ev queue.Event) error
	// ParseBounceAddress returns the message id a VERP return path names when its HMAC tag
	// verifies (queue.Queue.ParseBounceAddress); a forged one is not a bounce address.
	ParseBounceAddress(addr string) (msgID string, ok bool)
}

// Options configure the inbound (port 25) server. Zero values take the defaults.
type Options struct {
	Hostname string        // greeting, EHLO, Received: and the authserv-id; required
	Store    mailbox.Store // local domains and mailboxes, and where mail is delivered; required
	// Queue records "received" and "bounced" events (a *queue.Queue). nil: no events, and
	// bounce addresses are refused as unknown users.
	Queue Recorder
	// Summarize, if set, gives a "received" event the email in brief (from, subject, snippet,
	// thread, authentication results) for webhooks; cmd/multimail sets it.
	Summarize func(em mailbox.Email, raw []byte) *queue.ReceivedInfo
	// Resolver answers SPF, DKIM and DMARC lookups: the node's shared *dnsclient.Client.
	// nil: a dnsclient.Client of its own asking /etc/resolv.conf's servers.
	Resolver  Resolver
	TLSConfig *tls.Config // STARTTLS is offered when set
	// Postmaster is the mailbox that receives postmaster@ and abuse@ of every local domain
	// without a mailbox of that name, and RCPT TO:<Postmaster>. "": the domain's first
	// mailbox by address (for <Postmaster>: the hostname's domain's, else the first of all).
	Postmaster string

	MaxMessageBytes int64         // SIZE; default 25 MiB
	MaxRecipients   int           // per transaction; default 100 (452 4.5.3 beyond)
	MaxLineLength   int           // default 2000
	ReadTimeout     time.Duration // idle limit per command and between reads of DATA; default 5 min
	WriteTimeout    time.Duration // default 1 min
	// MaxSessionTime bounds a connection's life whatever it does; default 30 min.
	MaxSessionTime time.Duration
	// MaxBadRecipients closes the connection (421 4.7.0) after this many refused RCPT in one
	// session, against address harvesting; default 20.
	MaxBadRecipients int
	// CheckTimeout bounds SPF, DKIM and DMARC together for one message; default 10 s. A check
	// that runs out of time is a temperror, never a failed session.
	CheckTimeout time.Duration
	// Admit, when set, is asked at MAIL FROM and before DATA whether mail may be taken now
	// (a free-space floor); an error is 452 4.3.1 Insufficient system storage. nil: always.
	Admit func() error
	// MailboxQuota is the most bytes a mailbox's emails may take (mailbox.Usage.Bytes); 0:
	// no quota. RCPT to a mailbox at or over it (or that a MAIL SIZE= would take over), and
	// DATA that would take one over, are 452 4.2.2 (mailbox full, temporary: RFC 3463).
	MailboxQuota int64

	Logger     *slog.Logger
	Registerer prometheus.Registerer // nil: metrics are kept but not registered
	Clock      Clock
}

// realClock is the wall clock.
type realClock struct{}

// Now implements Clock.
func (realClock) Now() time.Time { return time.Now() }

// withDefaults checks the required fields and fills the others.
func (o Options) withDefaults() (Options, error) {
	if o.Store == nil {
		return o, errors.New("inbound: Options.Store is required")
	}
	if o.Hostname == "" {
		return o, errors.New("inbound: Options.Hostname is required")
	}
	if o.Resolver == nil {
		r, err := systemResolver()
		if err != nil {
			return o, err
		}
		o.Resolver = r
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = realClock{}
	}
	defInt64(&o.MaxMessageBytes, DefaultMaxMessageBytes)
	defInt(&o.MaxRecipients, DefaultMaxRecipients)
	defInt(&o.MaxLineLength, DefaultMaxLineLength)
	defInt(&o.MaxBadRecipients, DefaultMaxBadRecipients)
	defDur(&o.ReadTimeout, DefaultReadTimeout)
	defDur(&o.WriteTimeout, DefaultWriteTimeout)
	defDur(&o.MaxSessionTime, DefaultMaxSessionTime)
	defDur(&o.CheckTimeout, DefaultCheckTimeout)
	return o, nil
}

func defInt(p *int, v int) {
	if *p <= 0 {
		*p = v
	}
}

func defInt64(p *int64, v int64) {
	if *p <= 0 {
		*p = v
	}
}

func defDur(p *time.Duration, v time.Duration) {
	if *p <= 0 {
		*p = v
	}
}
