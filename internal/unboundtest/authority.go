package unboundtest

// The authoritative server: answers from a signed zone with RRSIGs and NSEC denial proofs
// (RFC 4035 §3.1), enough for a validator to prove answers, NODATA and NXDOMAIN.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/miekg/dns"
)

// Authority serves one signed zone on 127.0.0.1 (UDP and TCP, one port).
type Authority struct {
	origin   string
	rrs      map[string]map[uint16][]dns.RR // owner → type → records
	sigs     map[string]map[uint16][]dns.RR // owner → covered type → RRSIGs
	nsecs    []*dns.NSEC                    // in canonical order
	udp, tcp *dns.Server
	addr     string
	queries  atomic.Int64
}

// serve loads the signed zone (the owners in expiredOwners take their RRSIGs from the
// expired signing) and starts answering.
func serve(origin string, signed, expired []byte, expiredOwners []string) (*Authority, error) {
	a := &Authority{origin: strings.ToLower(dns.Fqdn(origin)),
		rrs: map[string]map[uint16][]dns.RR{}, sigs: map[string]map[uint16][]dns.RR{}}
	old := map[string]bool{}
	for _, o := range expiredOwners {
		old[strings.ToLower(dns.Fqdn(o))] = true
	}
	if err := a.load(signed, func(owner string) bool { return !old[owner] }); err != nil {
		return nil, err
	}
	if err := a.load(expired, func(owner string) bool { return old[owner] }); err != nil {
		return nil, err
	}
	slices.SortFunc(a.nsecs, func(x, y *dns.NSEC) int { return canonicalCompare(x.Hdr.Name, y.Hdr.Name) })
	return a, a.start()
}

// load adds the records of a zone file; RRSIGs only of the owners sigFrom accepts, other
// records only from the first (unexpired) file.
func (a *Authority) load(zone []byte, sigFrom func(owner string) bool) error {
	first := len(a.rrs) == 0
	zp := dns.NewZoneParser(bytes.NewReader(zone), a.origin, "")
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		owner := strings.ToLower(rr.Header().Name)
		if sig, isSig := rr.(*dns.RRSIG); isSig {
			if sigFrom(owner) {
				addTo(a.sigs, owner, sig.TypeCovered, rr)
			}
			continue
		}
		if !first {
			continue
		}
		addTo(a.rrs, owner, rr.Header().Rrtype, rr)
		if n, isNSEC := rr.(*dns.NSEC); isNSEC {
			a.nsecs = append(a.nsecs, n)
		}
	}
	return zp.Err()
}

func addTo(m map[string]map[uint16][]dns.RR, owner string, t uint16, rr dns.RR) {
	if m[owner] == nil {
		m[owner] = map[uint16][]dns.RR{}
	}
	m[owner][t] = append(m[owner][t], rr)
}

func (a *Authority) start() error {
	var lastErr error
	for range 20 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		ln, err := net.Listen("tcp", pc.LocalAddr().String())
		if err != nil {
			lastErr = err
			_ = pc.Close()
			continue
		}
		a.addr = pc.LocalAddr().String()
		var started sync.WaitGroup
		started.Add(2)
		a.udp = &dns.Server{PacketConn: pc, Handler: a, NotifyStartedFunc: started.Done}
		a.tcp = &dns.Server{Listener: ln, Handler: a, NotifyStartedFunc: started.Done}
		go func() { _ = a.udp.ActivateAndServe() }()
		go func() { _ = a.tcp.ActivateAndServe() }()
		started.Wait()
		return nil
	}
	return fmt.Errorf("unboundtest: listen: %w", lastErr)
}

// Addr is the server's "127.0.0.1:port".
func (a *Authority) Addr() string { return a.addr }

// Queries is how many questions the server answered.
func (a *Authority) Queries() int { return int(a.queries.Load()) }

// Close stops the server.
func (a *Authority) Close() error {
	ctx := context.Background()
	return errors.Join(a.udp.ShutdownContext(ctx), a.tcp.ShutdownContext(ctx))
}

// ServeDNS answers one query.
func (a *Authority) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	resp := new(dns.Msg)
	resp.SetReply(req)
	size := uint16(dns.MinMsgSize)
	if opt := req.IsEdns0(); opt != nil {
		size = max(opt.UDPSize(), dns.MinMsgSize)
		resp.SetEdns0(size, opt.Do())
	}
	if len(req.Question) != 1 {
		resp.Rcode = dns.RcodeFormatError
	} else {
		a.queries.Add(1)
		a.answer(resp, req.Question[0])
	}
	if _, isUDP := w.RemoteAddr().(*net.UDPAddr); isUDP {
		resp.Truncate(int(size))
	}
	_ = w.WriteMsg(resp)
}

var _ dns.Handler = (*Authority)(nil)

func (a *Authority) answer(resp *dns.Msg, q dns.Question) {
	name := strings.ToLower(q.Name)
	if !dns.IsSubDomain(a.origin, name) {
		resp.Rcode = dns.RcodeRefused
		return
	}
	resp.Authoritative = true
	switch byType, exists := a.rrs[name]; {
	case exists && len(byType[q.Qtype]) > 0:
		resp.Answer = a.rrset(name, q.Qtype)
	case exists: // NODATA: the owner's NSEC shows the type is absent
		resp.Ns = append(a.rrset(a.origin, dns.TypeSOA), a.rrset(name, dns.TypeNSEC)...)
	case a.emptyNonTerminal(name): // NODATA at a name with only descendants
		resp.Ns = append(a.rrset(a.origin, dns.TypeSOA), a.covering(name)...)
	default: // NXDOMAIN: an NSEC covers the name, another the wildcard of its closest encloser
		resp.Rcode = dns.RcodeNameError
		resp.Ns = append(a.rrset(a.origin, dns.TypeSOA), a.covering(name)...)
		wild := a.covering("*." + a.closestEncloser(name))
		if len(wild) > 0 && (len(resp.Ns) < 3 || wild[0].Header().Name != resp.Ns[2].Header().Name) {
			resp.Ns = append(resp.Ns, wild...)
		}
	}
}

// rrset is an owner's records of type t with their RRSIGs.
func (a *Authority) rrset(owner string, t uint16) []dns.RR {
	out := slices.Clone(a.rrs[owner][t])
	return append(out, a.sigs[owner][t]...)
}

func (a *Authority) emptyNonTerminal(name string) bool {
	for owner := range a.rrs {
		if owner != name && dns.IsSubDomain(name, owner) {
			return true
		}
	}
	return false
}

// closestEncloser is the longest ancestor of name that exists (with records or descendants).
func (a *Authority) closestEncloser(name string) string {
	for {
		i := strings.IndexByte(name, '.')
		if i < 0 || i == len(name)-1 {
			return a.origin
		}
		name = name[i+1:]
		if _, ok := a.rrs[name]; ok || a.emptyNonTerminal(name) {
			return name
		}
	}
}

// covering is the NSEC (with its RRSIG) whose interval holds name.
func (a *Authority) covering(name string) []dns.RR {
	for i, n := range a.nsecs {
		last := i == len(a.nsecs)-1
		if canonicalCompare(n.Hdr.Name, name) < 0 && (last || canonicalCompare(name, n.NextDomain) < 0) {
			return a.rrset(strings.ToLower(n.Hdr.Name), dns.TypeNSEC)
		}
	}
	return nil
}

// canonicalCompare orders names as RFC 4034 §6.1 does: label by label from the right,
// lower-cased, bytewise; a name sorts before its descendants.
func canonicalCompare(x, y string) int {
	lx, ly := dns.SplitDomainName(strings.ToLower(x)), dns.SplitDomainName(strings.ToLower(y))
	for i := 1; i <= min(len(lx), len(ly)); i++ {
		if c := strings.Compare(lx[len(lx)-i], ly[len(ly)-i]); c != 0 {
			return c
		}
	}
	return len(lx) - len(ly)
}
