package mta

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"multimail.dev/multimail/queue"
)

// TLSRPTOptions turns on SMTP TLS Reporting (RFC 8460) for MX deliveries: every new session
// is counted per policy domain and UTC day (a success, or a failure with its result type),
// and each day's aggregate report is written as JSON to Dir and sent to the rua of the
// domain's _smtp._tls TXT record.
type TLSRPTOptions struct {
	// Dir holds counters-YYYY-MM-DD.json (the running day's counts, flushed every
	// FlushEvery and at shutdown) and YYYY-MM-DD/<policy domain>.json (the reports).
	Dir string
	// OrganizationName and ContactInfo go into every report; defaults Options.Hostname and
	// postmaster@Options.Hostname.
	OrganizationName string
	ContactInfo      string
	// FlushEvery is how often counters are written to Dir; default 1m. A crash loses at most
	// this much of the day's counts.
	FlushEvery time.Duration
	// Mail sends one report to a mailto: rua address: gz is the gzipped JSON, filename its
	// RFC 8460 §5.3 name. nil: mailto: destinations are skipped (logged).
	Mail func(ctx context.Context, rpt *TLSReport, to, filename string, gz []byte) error
	// HTTPClient POSTs reports to https: rua URIs; nil: a client with a 30s timeout that
	// follows no redirects and, like the MTA-STS fetch, refuses loopback, private and
	// link-local addresses (STSOptions.AllowNetworks excepted).
	HTTPClient *http.Client
}

// TLSReport is one RFC 8460 §4.4 aggregate report: one policy domain, one UTC day.
type TLSReport struct {
	OrganizationName string         `json:"organization-name"`
	DateRange        TLSReportRange `json:"date-range"`
	ContactInfo      string         `json:"contact-info"`
	ReportID         string         `json:"report-id"`
	Policies         []TLSRPTPolicy `json:"policies"`
}

// TLSReportRange is the report's date-range.
type TLSReportRange struct {
	Start time.Time `json:"start-datetime"`
	End   time.Time `json:"end-datetime"`
}

// TLSRPTPolicy is one entry of "policies": a policy and its session counts.
type TLSRPTPolicy struct {
	Policy         TLSRPTPolicyDesc `json:"policy"`
	Summary        TLSRPTSummary    `json:"summary"`
	FailureDetails []TLSRPTFailure  `json:"failure-details,omitempty"`
}

// TLSRPTPolicyDesc describes the policy applied.
type TLSRPTPolicyDesc struct {
	PolicyType   string   `json:"policy-type"` // "sts", "tlsa" or "no-policy-found"
	PolicyString []string `json:"policy-string,omitempty"`
	PolicyDomain string   `json:"policy-domain"`
	MXHost       []string `json:"mx-host,omitempty"`
}

// TLSRPTSummary is the policy's session counts.
type TLSRPTSummary struct {
	Success int64 `json:"total-successful-session-count"`
	Failure int64 `json:"total-failure-session-count"`
}

// TLSRPTFailure is one failure-details entry.
type TLSRPTFailure struct {
	ResultType          string `json:"result-type"`
	SendingMTAIP        string `json:"sending-mta-ip,omitempty"`
	ReceivingMXHostname string `json:"receiving-mx-hostname,omitempty"`
	ReceivingIP         string `json:"receiving-ip,omitempty"`
	FailedSessionCount  int64  `json:"failed-session-count"`
}

// rptCounts are one day's counts, as kept in counters-DAY.json: by policy domain, then by
// policy (type and string), then failures by (result type, MX host, IP).
type rptCounts map[string]map[string]*rptPolicy

type rptPolicy struct {
	Desc     TLSRPTPolicyDesc `json:"policy"`
	Success  int64            `json:"success"`
	Failures map[string]int64 `json:"failures"` // "type\x00mx\x00ip" → count
}

// tlsrptRecorder counts sessions and writes, sends and keeps the daily reports.
type tlsrptRecorder struct {
	opts  TLSRPTOptions
	clock queue.Clock
	log   *slog.Logger
	txt   txtResolver

	mu     sync.Mutex
	day    string // the UTC day being counted, "2006-01-02"
	counts rptCounts
	dirty  bool
}

func newTLSRPT(o TLSRPTOptions, hostname string, r Resolver, clock queue.Clock, log *slog.Logger) (*tlsrptRecorder, error) {
	if o.Dir == "" {
		return nil, errors.New("mta: TLS-RPT needs TLSRPTOptions.Dir")
	}
	if o.OrganizationName == "" {
		o.OrganizationName = hostname
	}
	if o.ContactInfo == "" {
		o.ContactInfo = "postmaster@" + hostname
	}
	setDefault(&o.FlushEvery, time.Minute)
	txt, _ := r.(txtResolver)
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("mta: TLS-RPT dir: %w", err)
	}
	t := &tlsrptRecorder{opts: o, clock: clock, log: log, txt: txt}
	t.day = dayOf(clock.Now())
	c, err := t.readCounts(t.day)
	if err != nil {
		return nil, err
	}
	t.counts = c
	return t, nil
}

func dayOf(t time.Time) string { return t.UTC().Format(time.DateOnly) }

func (t *tlsrptRecorder) countsPath(day string) string {
	return filepath.Join(t.opts.Dir, "counters-"+day+".json")
}

func (t *tlsrptRecorder) readCounts(day string) (rptCounts, error) {
	b, err := os.ReadFile(t.countsPath(day))
	if errors.Is(err, os.ErrNotExist) {
		return rptCounts{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("mta: TLS-RPT counters: %w", err)
	}
	c := rptCounts{}
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("mta: TLS-RPT counters %s: %w", t.countsPath(day), err)
	}
	return c, nil
}

// desc describes the policy a lookup found.
func desc(lk stsLookup) TLSRPTPolicyDesc {
	if lk.policy == nil {
		return TLSRPTPolicyDesc{PolicyType: "no-policy-found", PolicyDomain: lk.domain}
	}
	return TLSRPTPolicyDesc{PolicyType: "sts", PolicyDomain: lk.domain,
		PolicyString: lk.policy.lines(), MXHost: slices.Clone(lk.policy.MX)}
}

// tlsaDesc describes the DANE policy of one MX host (RFC 8460 §4.3.1): policy-type "tlsa",
// the host's usable TLSA records as policy-string, the recipient domain as policy-domain.
func tlsaDesc(domain, mx string, recs []*dns.TLSA) TLSRPTPolicyDesc {
	d := TLSRPTPolicyDesc{PolicyType: "tlsa", PolicyDomain: domain, MXHost: []string{mx}}
	for _, r := range recs {
		d.PolicyString = append(d.PolicyString, fmt.Sprintf("%d %d %d %s", r.Usage, r.Selector,
			r.MatchingType, strings.ToLower(r.Certificate)))
	}
	return d
}

// session counts one session for lk's domain: a success when result is "", else a failure.
func (t *tlsrptRecorder) session(lk stsLookup, mx, ip, result string) {
	t.count(desc(lk), mx, ip, result)
}

// count counts one session under the policy d: a success when result is "", else a failure.
// A tlsa policy is one per MX host (its records are the host's), so the host is in its key.
func (t *tlsrptRecorder) count(d TLSRPTPolicyDesc, mx, ip, result string) {
	key := d.PolicyType + "\x00" + strings.Join(d.PolicyString, "\n")
	if d.PolicyType == "tlsa" {
		key += "\x00" + strings.Join(d.MXHost, ",")
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.rollLocked()
	byPolicy := t.counts[d.PolicyDomain]
	if byPolicy == nil {
		if len(t.counts) >= 100000 {
			return // bounded: a flood of domains in one day is not worth the memory
		}
		byPolicy = map[string]*rptPolicy{}
		t.counts[d.PolicyDomain] = byPolicy
	}
	p := byPolicy[key]
	if p == nil {
		p = &rptPolicy{Desc: d, Failures: map[string]int64{}}
		byPolicy[key] = p
	}
	if result == "" {
		p.Success++
	} else if len(p.Failures) < 1000 {
		p.Failures[result+"\x00"+mx+"\x00"+ip]++
	}
	t.dirty = true
}

// fetchFailure counts a policy that could not be fetched (RFC 8460 §4.3.2.1).
func (t *tlsrptRecorder) fetchFailure(lk stsLookup) {
	result := ResultSTSPolicyFetch
	var verr *tls.CertificateVerificationError
	switch {
	case errors.Is(lk.fetchErr, errBadPolicy):
		result = ResultSTSPolicyInvalid
	case errors.As(lk.fetchErr, &verr):
		result = ResultSTSWebPKIInvalid
	}
	t.session(lk, "", "", result)
}

// rollLocked starts a new day's counts when the UTC day changed; the old day's counts are
// written so that the report for it can be made.
func (t *tlsrptRecorder) rollLocked() {
	day := dayOf(t.clock.Now())
	if day == t.day {
		return
	}
	if t.dirty {
		if err := t.writeLocked(); err != nil {
			t.log.Error("TLS-RPT counters not saved", "err", err)
		}
	}
	t.day, t.counts, t.dirty = day, rptCounts{}, false
}

func (t *tlsrptRecorder) writeLocked() error {
	b, err := json.Marshal(t.counts)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(t.countsPath(t.day), b); err != nil {
		return err
	}
	t.dirty = false
	return nil
}

// flush writes the running day's counts when they changed.
func (t *tlsrptRecorder) flush() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.rollLocked()
	if !t.dirty {
		return nil
	}
	return t.writeLocked()
}

// run flushes the counters every FlushEvery and, once a UTC day has ended, makes and sends
// its reports (once: a day whose report directory exists is done). It returns when ctx ends,
// after a last flush.
func (t *tlsrptRecorder) run(ctx context.Context) {
	tick := time.NewTicker(t.opts.FlushEvery)
	defer tick.Stop()
	for {
		if err := t.flush(); err != nil {
			t.log.Error("TLS-RPT counters not saved", "err", err)
		}
		t.reportPastDays(ctx)
		select {
		case <-ctx.Done():
			if err := t.flush(); err != nil {
				t.log.Error("TLS-RPT counters not saved", "err", err)
			}
			return
		case <-tick.C:
		}
	}
}

// keepDays is how long counters and reports stay in Dir.
const keepDays = 90

// reportPastDays reports every day before today that has counters and was not reported yet
// (Dir/DAY/.sent marks it; a report made on demand does not), and removes the files of days
// older than keepDays.
func (t *tlsrptRecorder) reportPastDays(ctx context.Context) {
	names, _ := filepath.Glob(filepath.Join(t.opts.Dir, "counters-*.json"))
	now := t.clock.Now()
	today, oldest := dayOf(now), dayOf(now.AddDate(0, 0, -keepDays))
	for _, n := range names {
		day := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(n), "counters-"), ".json")
		switch {
		case day >= today:
			continue
		case day < oldest:
			_ = os.Remove(n)
			_ = os.RemoveAll(filepath.Join(t.opts.Dir, day))
			continue
		}
		marker := filepath.Join(t.opts.Dir, day, ".sent")
		if _, err := os.Stat(marker); err == nil {
			continue
		}
		if _, err := t.report(ctx, day, true); err != nil {
			t.log.Error("TLS-RPT report", "day", day, "err", err)
			continue
		}
		if err := writeFileAtomic(marker, nil); err != nil {
			t.log.Error("TLS-RPT report marker", "day", day, "err", err)
		}
	}
}

// report makes the reports of day ("2006-01-02", UTC) from its counters, writes them to
// Dir/day/<domain>.json and, when send is true, sends each to the rua of its domain's
// _smtp._tls record. The running day is reported with the counts so far.
func (t *tlsrptRecorder) report(ctx context.Context, day string, send bool) ([]*TLSReport, error) {
	start, err := time.Parse(time.DateOnly, day)
	if err != nil {
		return nil, fmt.Errorf("mta: TLS-RPT day %q: want YYYY-MM-DD", day)
	}
	if err := t.flush(); err != nil {
		return nil, err
	}
	counts, err := t.readCounts(day)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(t.opts.Dir, day)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	domains := make([]string, 0, len(counts))
	for d := range counts {
		domains = append(domains, d)
	}
	slices.Sort(domains)
	var out []*TLSReport
	for _, domain := range domains {
		rpt := t.build(domain, start, counts[domain])
		b, err := json.MarshalIndent(rpt, "", "  ")
		if err != nil {
			return nil, err
		}
		if err := writeFileAtomic(filepath.Join(dir, domain+".json"), b); err != nil {
			return nil, err
		}
		out = append(out, rpt)
		if send {
			t.send(ctx, rpt, b)
		}
	}
	return out, nil
}

func (t *tlsrptRecorder) build(domain string, start time.Time, byPolicy map[string]*rptPolicy) *TLSReport {
	id := make([]byte, 8)
	_, _ = rand.Read(id)
	rpt := &TLSReport{OrganizationName: t.opts.OrganizationName, ContactInfo: t.opts.ContactInfo,
		DateRange: TLSReportRange{Start: start, End: start.Add(24*time.Hour - time.Second)},
		ReportID:  start.Format(time.DateOnly) + "_" + domain + "_" + hex.EncodeToString(id)}
	keys := make([]string, 0, len(byPolicy))
	for k := range byPolicy {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		p := byPolicy[k]
		e := TLSRPTPolicy{Policy: p.Desc, Summary: TLSRPTSummary{Success: p.Success}}
		fkeys := make([]string, 0, len(p.Failures))
		for f := range p.Failures {
			fkeys = append(fkeys, f)
		}
		slices.Sort(fkeys)
		for _, f := range fkeys {
			parts := strings.SplitN(f, "\x00", 3)
			for len(parts) < 3 {
				parts = append(parts, "")
			}
			n := p.Failures[f]
			e.Summary.Failure += n
			e.FailureDetails = append(e.FailureDetails, TLSRPTFailure{ResultType: parts[0],
				ReceivingMXHostname: parts[1], ReceivingIP: parts[2], FailedSessionCount: n})
		}
		rpt.Policies = append(rpt.Policies, e)
	}
	return rpt
}

// ParseTLSRPTRecord returns the rua URIs of a _smtp._tls TXT record set (RFC 8460 §3):
// exactly one record starting with "v=TLSRPTv1" must exist; its rua is a comma-separated list
// of mailto: and https: URIs (others are dropped).
func ParseTLSRPTRecord(txts []string) ([]string, bool) {
	var recs []string
	for _, t := range txts {
		if strings.HasPrefix(t, "v=TLSRPTv1;") || t == "v=TLSRPTv1" {
			recs = append(recs, t)
		}
	}
	if len(recs) != 1 {
		return nil, false
	}
	var ruas []string
	for _, f := range strings.Split(recs[0], ";")[1:] {
		k, v, ok := strings.Cut(strings.TrimSpace(f), "=")
		if !ok || strings.TrimSpace(k) != "rua" {
			continue
		}
		for _, u := range strings.Split(v, ",") {
			u = strings.TrimSpace(u)
			pu, err := url.Parse(u)
			if err != nil || (pu.Scheme != "mailto" && pu.Scheme != "https") || len(ruas) == 10 {
				continue
			}
			ruas = append(ruas, u)
		}
	}
	return ruas, len(ruas) > 0
}

// send delivers one report to every rua of its domain; failures are logged (RFC 8460 §5:
// reports are best effort).
func (t *tlsrptRecorder) send(ctx context.Context, rpt *TLSReport, body []byte) {
	domain := rpt.Policies[0].Policy.PolicyDomain
	if t.txt == nil {
		return
	}
	lctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	txts, err := t.txt.LookupTXT(lctx, "_smtp._tls."+domain)
	cancel()
	ruas, ok := ParseTLSRPTRecord(txts)
	if err != nil || !ok {
		return
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write(body)
	_ = zw.Close()
	// RFC 8460 §5.3: sender!policy-domain!begin-timestamp!end-timestamp[!unique-id].json.gz
	filename := fmt.Sprintf("%s!%s!%d!%d.json.gz", t.opts.OrganizationName, domain,
		rpt.DateRange.Start.Unix(), rpt.DateRange.End.Unix())
	for _, u := range ruas {
		var err error
		switch {
		case strings.HasPrefix(u, "mailto:"):
			if t.opts.Mail == nil {
				err = errors.New("no mail sender configured")
				break
			}
			to := strings.TrimPrefix(u, "mailto:")
			if i := strings.IndexByte(to, '?'); i >= 0 {
				to = to[:i]
			}
			err = t.opts.Mail(ctx, rpt, to, filename, gz.Bytes())
		default:
			err = t.post(ctx, u, gz.Bytes())
		}
		if err != nil {
			t.log.Warn("TLS-RPT report not sent", "domain", domain, "rua", u, "err", err)
			continue
		}
		t.log.Info("TLS-RPT report sent", "domain", domain, "rua", u)
	}
}

// post sends a gzipped report by HTTPS POST (RFC 8460 §5.4).
func (t *tlsrptRecorder) post(ctx context.Context, u string, gz []byte) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(gz))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/tlsrpt+gzip")
	resp, err := t.opts.HTTPClient.Do(req)
	if err != nil {
		return err
	}
	_ = resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return nil
}
