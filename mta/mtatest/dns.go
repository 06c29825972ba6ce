package mtatest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/miekg/dns"
)

// Records are the answers DNS gives for one name. A name present in the zone with no record of
// the asked type answers NOERROR with no records (NODATA); a name absent answers NXDOMAIN.
// Both negative answers carry an SOA with TTL and MINIMUM NegativeTTL, so they can be cached.
type Records struct {
	MX       []net.MX // a single {Host: ".", Pref: 0} is a null MX (RFC 7505); see NullMX
	A        []string // IPv4 addresses
	AAAA     []string // IPv6 addresses
	TXT      []string // each string one TXT record; longer than 255 bytes is split in chunks
	PTR      []string // host names (for a reverse name, 4.3.2.1.in-addr.arpa)
	ServFail bool     // answer SERVFAIL to every query for this name
	TTL      uint32   // default 60

	TLSA []TLSA // DANE records (RFC 6698), for names like _25._tcp.mx.example.
	AD   bool   // set the AD bit on answers for this name: "validated" by this test resolver
}

// TLSA is one TLSA record: usage, selector, matching type, and the association data in hex.
type TLSA struct {
	Usage, Selector, MatchingType uint8
	Data                          string
}

// NullMX returns the RFC 7505 null MX record set: "this domain accepts no mail".
func NullMX() []net.MX { return []net.MX{{Host: ".", Pref: 0}} }

// DNS is an authoritative-style DNS server on 127.0.0.1, UDP and TCP on the same port,
// answering from a zone map that tests may change while it runs.
type DNS struct {
	udp, tcp *dns.Server
	addr     string
	queries  atomic.Int64

	mu   sync.RWMutex
	zone map[string]Records
}

// NewDNS starts a DNS server for a test and stops it when the test ends.
func NewDNS(t testing.TB, zone map[string]Records) *DNS {
	t.Helper()
	d, err := StartDNS(zone)
	if err != nil {
		t.Fatalf("mtatest: start DNS: %v", err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}

// StartDNS starts a DNS server answering from zone (keys are names, any case, with or
// without the final dot); the caller must Close it.
func StartDNS(zone map[string]Records) (*DNS, error) {
	d := &DNS{zone: make(map[string]Records, len(zone))}
	for name, r := range zone {
		d.zone[canonical(name)] = r
	}
	pc, ln, err := listenPair()
	if err != nil {
		return nil, err
	}
	d.addr = pc.LocalAddr().String()
	var started sync.WaitGroup
	started.Add(2)
	d.udp = &dns.Server{PacketConn: pc, Handler: d, NotifyStartedFunc: started.Done}
	d.tcp = &dns.Server{Listener: ln, Handler: d, NotifyStartedFunc: started.Done}
	go func() { _ = d.udp.ActivateAndServe() }()
	go func() { _ = d.tcp.ActivateAndServe() }()
	started.Wait()
	return d, nil
}

// listenPair binds UDP on 127.0.0.1:0 and TCP on the same port, retrying when the TCP port
// is taken.
func listenPair() (net.PacketConn, net.Listener, error) {
	var lastErr error
	for range 20 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return nil, nil, fmt.Errorf("mtatest: listen udp: %w", err)
		}
		ln, err := net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			return pc, ln, nil
		}
		lastErr = err
		_ = pc.Close()
	}
	return nil, nil, fmt.Errorf("mtatest: listen tcp: %w", lastErr)
}

// Addr returns "127.0.0.1:port", usable as a resolver address for UDP and TCP.
func (d *DNS) Addr() string { return d.addr }

// Queries returns how many questions the server has answered.
func (d *DNS) Queries() int { return int(d.queries.Load()) }

// Set replaces the records of name.
func (d *DNS) Set(name string, r Records) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.zone[canonical(name)] = r
}

// Delete removes name: it answers NXDOMAIN from now on.
func (d *DNS) Delete(name string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.zone, canonical(name))
}

// Close stops both servers.
func (d *DNS) Close() error {
	ctx := context.Background()
	err := errors.Join(d.udp.ShutdownContext(ctx), d.tcp.ShutdownContext(ctx))
	return err
}

// ServeDNS answers one query from the zone.
func (d *DNS) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	resp := new(dns.Msg)
	resp.SetReply(req)
	resp.Authoritative = true
	if len(req.Question) == 1 {
		d.queries.Add(1)
		d.answer(resp, req.Question[0])
	} else {
		resp.Rcode = dns.RcodeFormatError
	}
	_ = w.WriteMsg(resp)
}

var _ dns.Handler = (*DNS)(nil)

func (d *DNS) answer(resp *dns.Msg, q dns.Question) {
	d.mu.RLock()
	r, ok := d.zone[canonical(q.Name)]
	d.mu.RUnlock()
	switch {
	case !ok:
		resp.Rcode = dns.RcodeNameError
		resp.Ns = []dns.RR{negativeSOA(q.Name)}
		return
	case r.ServFail:
		resp.Rcode = dns.RcodeServerFailure
		return
	}
	resp.AuthenticatedData = r.AD
	hdr := dns.RR_Header{Name: q.Name, Rrtype: q.Qtype, Class: dns.ClassINET, Ttl: r.TTL}
	if hdr.Ttl == 0 {
		hdr.Ttl = 60
	}
	resp.Answer = records(hdr, r)
	if len(resp.Answer) == 0 {
		resp.Ns = []dns.RR{negativeSOA(q.Name)}
	}
}

// NegativeTTL is how long a negative answer (NXDOMAIN, NODATA) may be cached: its SOA's TTL
// and MINIMUM (RFC 2308).
const NegativeTTL = 60

// negativeSOA is the SOA a negative answer carries in its authority section (RFC 2308 §3),
// owned by the question's top-level label: the server has no zone cuts.
func negativeSOA(qname string) dns.RR {
	labels := dns.SplitDomainName(qname)
	zone := "."
	if len(labels) > 0 {
		zone = labels[len(labels)-1] + "."
	}
	return &dns.SOA{Hdr: dns.RR_Header{Name: zone, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: NegativeTTL},
		Ns: "ns." + strings.TrimPrefix(zone, "."), Mbox: "hostmaster." + strings.TrimPrefix(zone, "."),
		Serial: 1, Refresh: 3600, Retry: 600, Expire: 86400, Minttl: NegativeTTL}
}

// records builds the answer RRs of hdr.Rrtype.
func records(hdr dns.RR_Header, r Records) []dns.RR {
	var rrs []dns.RR
	switch hdr.Rrtype {
	case dns.TypeMX:
		for _, mx := range r.MX {
			rrs = append(rrs, &dns.MX{Hdr: hdr, Preference: mx.Pref, Mx: dns.Fqdn(mx.Host)})
		}
	case dns.TypeA:
		for _, a := range r.A {
			rrs = append(rrs, &dns.A{Hdr: hdr, A: net.ParseIP(a).To4()})
		}
	case dns.TypeAAAA:
		for _, a := range r.AAAA {
			rrs = append(rrs, &dns.AAAA{Hdr: hdr, AAAA: net.ParseIP(a)})
		}
	case dns.TypeTXT:
		for _, t := range r.TXT {
			rrs = append(rrs, &dns.TXT{Hdr: hdr, Txt: chunks(t, 255)})
		}
	case dns.TypePTR:
		for _, p := range r.PTR {
			rrs = append(rrs, &dns.PTR{Hdr: hdr, Ptr: dns.Fqdn(p)})
		}
	case dns.TypeTLSA:
		for _, t := range r.TLSA {
			rrs = append(rrs, &dns.TLSA{Hdr: hdr, Usage: t.Usage, Selector: t.Selector,
				MatchingType: t.MatchingType, Certificate: t.Data})
		}
	}
	return rrs
}

// chunks splits s into strings of at most n bytes (RFC 1035 §3.3.14 character-strings).
func chunks(s string, n int) []string {
	out := []string{}
	for len(s) > n {
		out = append(out, s[:n])
		s = s[n:]
	}
	return append(out, s)
}

func canonical(name string) string {
	return strings.TrimSuffix(strings.ToLower(name), ".")
}
