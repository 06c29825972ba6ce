package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"

	"multimail.dev/multimail/mailbox"
	"multimail.dev/multimail/mta"
	"multimail.dev/multimail/queue"
	"multimail.dev/multimail/submission"
)

// TransportSecurityConfig is [transport_security]: MTA-STS and TLS-RPT for outbound mail
// (docs/transport-security.md).
type TransportSecurityConfig struct {
	MTASTS             *bool    `toml:"mta_sts"`               // default true
	MTASTSWait         Duration `toml:"mta_sts_wait"`          // default 3s
	MTASTSFetchTimeout Duration `toml:"mta_sts_fetch_timeout"` // default 15s
	TLSReports         *bool    `toml:"tls_reports"`           // default true
	TLSReportFrom      string   `toml:"tls_report_from"`       // default tlsrpt@<first domain>
	RootCAFile         string   `toml:"root_ca_file"`          // extra trusted roots (PEM)
	DANE               bool     `toml:"dane"`                  // trust [dns] resolver's AD bit: DANE (RFC 7672)
	AllowNetworks      []string `toml:"allow_networks"`        // tests only
	PolicyPort         int      `toml:"policy_port"`           // tests only
}

const (
	stsCacheFile  = "mta-sts.json" // in data_dir
	tlsrptDir     = "tlsrpt"       // in data_dir
	ctlTLSRPTPath = "/ctl/tlsrpt"  // on the ctl socket only
)

func (c *Config) validateTransportSecurity() error {
	ts := c.TransportSecurity
	for i, s := range ts.AllowNetworks {
		if _, err := netip.ParsePrefix(s); err != nil {
			return bad(fmt.Sprintf("transport_security.allow_networks[%d]", i), "must be a CIDR prefix: %v", err)
		}
	}
	if ts.PolicyPort < 0 || ts.PolicyPort > 65535 {
		return bad("transport_security.policy_port", "must be a TCP port")
	}
	if c.Delivery.MXPort < 0 || c.Delivery.MXPort > 65535 {
		return bad("delivery.mx_port", "must be a TCP port")
	}
	if ts.MTASTSWait < 0 || ts.MTASTSWait.D() > time.Minute {
		return bad("transport_security.mta_sts_wait", "must be between 0 and 1m")
	}
	if ts.MTASTSFetchTimeout < 0 || ts.MTASTSFetchTimeout.D() > 5*time.Minute {
		return bad("transport_security.mta_sts_fetch_timeout", "must be between 0 and 5m")
	}
	if ts.TLSReportFrom != "" && !strings.Contains(ts.TLSReportFrom, "@") {
		return bad("transport_security.tls_report_from", "must be an address")
	}
	if ts.TLSReports != nil && *ts.TLSReports && ts.MTASTS != nil && !*ts.MTASTS {
		return bad("transport_security.tls_reports", "needs transport_security.mta_sts")
	}
	if ts.RootCAFile != "" {
		if _, err := rootPool(ts.RootCAFile); err != nil {
			return bad("transport_security.root_ca_file", "%v", err)
		}
	}
	return nil
}

// rootPool is the system roots plus the certificates of file.
func rootPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New("no PEM certificate in the file")
	}
	return pool, nil
}

// transportSecurity fills the MTA-STS and TLS-RPT options of delivery.
func (n *node) transportSecurity(opts *mta.Options) error {
	ts := n.cfg.TransportSecurity
	opts.MXPort = n.cfg.Delivery.MXPort
	opts.DANE = ts.DANE
	if ts.MTASTS != nil && !*ts.MTASTS {
		return nil
	}
	sts := &mta.STSOptions{CacheFile: filepath.Join(n.cfg.DataDir, stsCacheFile),
		Wait: ts.MTASTSWait.D(), FetchTimeout: ts.MTASTSFetchTimeout.D(), Port: ts.PolicyPort}
	for _, s := range ts.AllowNetworks {
		sts.AllowNetworks = append(sts.AllowNetworks, netip.MustParsePrefix(s)) // validated
	}
	if ts.RootCAFile != "" {
		pool, err := rootPool(ts.RootCAFile)
		if err != nil {
			return fmt.Errorf("transport_security.root_ca_file: %w", err)
		}
		sts.RootCAs = pool
	}
	opts.MTASTS = sts
	if ts.TLSReports != nil && !*ts.TLSReports {
		return nil
	}
	opts.TLSRPT = &mta.TLSRPTOptions{Dir: filepath.Join(n.cfg.DataDir, tlsrptDir),
		OrganizationName: n.cfg.Hostname, Mail: n.mailTLSReport}
	return nil
}

// mailTLSReport sends one TLS-RPT report by mail (RFC 8460 §5.3): multipart/report with the
// gzipped JSON as application/tlsrpt+gzip, DKIM-signed (no l=) by the sending domain, with
// the identity header (mode=system) like the oversight messages, and enqueued directly as
// system mail: never held by oversight.
func (n *node) mailTLSReport(ctx context.Context, rpt *mta.TLSReport, to, filename string, gz []byte) error {
	from, dom, err := n.tlsReportSender(ctx)
	if err != nil {
		return err
	}
	now := time.Now()
	msgID := queue.NewMessageID(now)
	policyDomain := rpt.Policies[0].Policy.PolicyDomain
	subject := fmt.Sprintf("Report Domain: %s Submitter: %s Report-ID: <%s>", policyDomain,
		rpt.OrganizationName, rpt.ReportID)
	var h mail.Header
	h.SetDate(now)
	h.SetMessageID(msgID + "@" + dom.Name)
	h.SetAddressList("From", []*mail.Address{{Name: "TLS reports", Address: from}})
	h.SetAddressList("To", []*mail.Address{{Address: to}})
	h.SetSubject(subject)
	h.Set("TLS-Report-Domain", policyDomain)
	h.Set("TLS-Report-Submitter", rpt.OrganizationName)
	h.Set("Auto-Submitted", "auto-generated")
	h.SetContentType("multipart/report", map[string]string{"report-type": "tlsrpt"})
	var buf bytes.Buffer
	w, err := message.CreateWriter(&buf, h.Header)
	if err != nil {
		return err
	}
	var th message.Header
	th.SetContentType("text/plain", map[string]string{"charset": "utf-8"})
	text := fmt.Sprintf("This is an aggregate TLS report (RFC 8460) from %s for %s, %s.\r\n",
		rpt.OrganizationName, policyDomain, rpt.DateRange.Start.Format(time.DateOnly))
	if err := writeMIMEPart(w, th, []byte(text)); err != nil {
		return err
	}
	var ah message.Header
	ah.SetContentType("application/tlsrpt+gzip", nil)
	ah.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": filename}))
	ah.Set("Content-Transfer-Encoding", "base64")
	if err := writeMIMEPart(w, ah, gz); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	signed, err := submission.SignSystem(buf.Bytes(), dom, "TLS-Report-Domain", "TLS-Report-Submitter")
	if err != nil {
		return err
	}
	if signed, err = submission.ReleaseSystem(signed, dom, from, msgID, now); err != nil {
		return err
	}
	_, err = n.queue.Enqueue(ctx, &queue.Message{ID: msgID, From: n.queue.BounceAddress(msgID, dom.Name),
		To: []string{to}, Subject: subject, Lane: queue.LaneLow, Body: signed, Source: "tlsrpt"})
	return err
}

func writeMIMEPart(w *message.Writer, h message.Header, body []byte) error {
	pw, err := w.CreatePart(h)
	if err != nil {
		return err
	}
	if _, err := pw.Write(body); err != nil {
		return err
	}
	return pw.Close()
}

// tlsReportSender is the From address of reports and its domain (whose DKIM key signs):
// transport_security.tls_report_from, else tlsrpt@ the first local domain.
func (n *node) tlsReportSender(ctx context.Context) (string, mailbox.Domain, error) {
	from := n.cfg.TransportSecurity.TLSReportFrom
	if from != "" {
		d, err := n.store.Domain(ctx, from[strings.LastIndexByte(from, '@')+1:])
		return from, d, err
	}
	ds, err := n.store.Domains(ctx)
	if err != nil {
		return "", mailbox.Domain{}, err
	}
	if len(ds) == 0 {
		return "", mailbox.Domain{}, errors.New("no local domain to send TLS reports from")
	}
	return "tlsrpt@" + ds[0].Name, ds[0], nil
}

// serveTLSReport is POST /ctl/tlsrpt?day=YYYY-MM-DD&send=1 on the owner-only ctl socket:
// the day's TLS-RPT reports made now (today's: the counts so far), as a JSON array.
func (n *node) serveTLSReport(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if n.mta == nil {
		http.Error(w, `{"error":{"code":"unavailable","message":"delivery is not running"}}`, http.StatusServiceUnavailable)
		return
	}
	day := r.URL.Query().Get("day")
	if day == "" {
		day = time.Now().UTC().Format(time.DateOnly)
	}
	rpts, err := n.mta.TLSReports(r.Context(), day, r.URL.Query().Get("send") == "1")
	if err != nil {
		b, _ := json.Marshal(map[string]any{"error": map[string]string{"code": "bad_request", "message": err.Error(), "field": "day"}})
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write(b)
		return
	}
	if rpts == nil {
		rpts = []*mta.TLSReport{}
	}
	_ = json.NewEncoder(w).Encode(rpts)
}

// cmdTLSRPT is `multimail tlsrpt report [--day YYYY-MM-DD] [--send]`.
func cmdTLSRPT(ctx context.Context, env *cliEnv, args []string) error {
	fset := newFlags(env, "tlsrpt", "tlsrpt report [--day YYYY-MM-DD] [--send] [--config FILE | --data-dir DIR]")
	var ctl ctlFlags
	ctl.register(fset)
	day := fset.String("day", "", "the UTC day to report (default today: the counts so far)")
	send := fset.Bool("send", false, "also send the reports to each domain's rua")
	pos, err := parseInterleaved(fset, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || pos[0] != "report" {
		return fmt.Errorf("%w: want `tlsrpt report`", errUsage)
	}
	sock, err := ctl.socketPath()
	if err != nil {
		return err
	}
	client := &http.Client{Timeout: 5 * time.Minute, Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}
	u := "http://multimail" + ctlTLSRPTPath + "?day=" + *day
	if *send {
		u += "&send=1"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("talk to the server at %s: %w", sock, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("tlsrpt report refused: %s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	_, err = env.stdout.Write(b)
	return err
}
