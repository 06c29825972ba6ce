package api

// dnspools.go: the DNS an [[ip_pool]] needs (docs/deliverability.md): every pool address in
// the SPF record domain dns prints, and for each address a PTR naming the pool's HELO name
// and an A/AAAA of that name back to the address; domain check verifies them (FCrDNS).

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"strings"

	"multimail.dev/multimail/api/wire"
	"multimail.dev/multimail/mailbox"
)

// SourcePool is an outbound IP pool as the DNS sees it: its addresses and HELO name.
type SourcePool struct {
	Name  string
	HELO  string
	Addrs []netip.Addr
}

// Purposes of the pool records.
const (
	purposePoolPTR  = "pool-ptr"  // reverse DNS of a pool address: its HELO name
	purposePoolHELO = "pool-helo" // the HELO name's A/AAAA: back to the address (FCrDNS)
)

// dnsRecords is the package-level dnsRecords with the node's IP pools added: their addresses
// in the SPF record, their PTR and HELO records after the others.
func (s *Server) dnsRecords(d mailbox.Domain) (wire.DNS, error) {
	out, err := dnsRecords(d, s.opts.Hostname)
	if err != nil || len(s.opts.SourcePools) == 0 {
		return out, err
	}
	var mechs []string
	var extra []wire.DNSRecord
	for _, p := range s.opts.SourcePools {
		helo := dotted(p.HELO)
		for _, a := range p.Addrs {
			typ, mech := "A", "ip4:"+a.String()
			if !a.Unmap().Is4() {
				typ, mech = "AAAA", "ip6:"+a.String()
			}
			if !slices.Contains(mechs, mech) {
				mechs = append(mechs, mech)
			}
			rev := reverseName(a)
			extra = append(extra,
				wire.DNSRecord{Purpose: purposePoolPTR, Name: rev, Type: "PTR", Value: helo,
					Note: "ip_pool " + p.Name + ": set by whoever owns " + a.String() + " (the hosting provider)"},
				wire.DNSRecord{Purpose: purposePoolHELO, Name: helo, Type: typ, Value: a.String()})
		}
	}
	for i, r := range out.Records {
		if r.Purpose == "spf" {
			f := strings.Fields(r.Value)
			f = append(f[:len(f)-1:len(f)-1], append(mechs, f[len(f)-1])...) // before the all
			out.Records[i].Value = strings.Join(f, " ")
		}
	}
	out.Records = append(out.Records, extra...)
	out.Text = zoneText(out.Records, out.Advice)
	return out, nil
}

// reverseName is the in-addr.arpa / ip6.arpa name of a.
func reverseName(a netip.Addr) string {
	a = a.Unmap()
	if a.Is4() {
		b := a.As4()
		return itoa(int(b[3])) + "." + itoa(int(b[2])) + "." + itoa(int(b[1])) + "." + itoa(int(b[0])) + ".in-addr.arpa."
	}
	b := a.As16()
	const hexd = "0123456789abcdef"
	var sb strings.Builder
	for i := len(b) - 1; i >= 0; i-- {
		sb.WriteByte(hexd[b[i]&0xf])
		sb.WriteByte('.')
		sb.WriteByte(hexd[b[i]>>4])
		sb.WriteByte('.')
	}
	sb.WriteString("ip6.arpa.")
	return sb.String()
}

// checkPoolRecord checks a pool record live: the address's PTR names the HELO name (pool-ptr),
// and the HELO name resolves back to the address (pool-helo): forward-confirmed reverse DNS.
func (s *Server) checkPoolRecord(ctx context.Context, rec wire.DNSRecord) wire.RecordCheck {
	c := wire.RecordCheck{Purpose: rec.Purpose, Name: rec.Name, Type: rec.Type, Expected: rec.Value, Found: []string{}}
	switch rec.Purpose {
	case purposePoolPTR:
		ip := ""
		for _, r := range s.opts.SourcePools {
			for _, a := range r.Addrs {
				if reverseName(a) == rec.Name {
					ip = a.String()
				}
			}
		}
		names, err := s.opts.Resolver.LookupAddr(ctx, ip)
		if lookupFailed(&c, err) {
			c.Detail = ip + " has no PTR record: ask whoever owns the address (the hosting provider)"
			return c
		}
		c.Result, c.Detail = "wrong", ip+" does not name "+rec.Value+", the HELO name of its ip_pool"
		for _, n := range names {
			c.Found = append(c.Found, n)
			if strings.EqualFold(dotted(n), dotted(rec.Value)) {
				c.Result, c.Detail = "ok", ""
			}
		}
	case purposePoolHELO:
		addrs, err := s.opts.Resolver.LookupIPAddr(ctx, strings.TrimSuffix(rec.Name, "."))
		if lookupFailed(&c, err) {
			c.Detail = rec.Name + " does not resolve: " + c.Detail
			return c
		}
		want := net.ParseIP(rec.Value)
		c.Result, c.Detail = "wrong", rec.Name+" does not resolve back to "+rec.Value+" (FCrDNS)"
		for _, a := range addrs {
			c.Found = append(c.Found, a.IP.String())
			if a.IP.Equal(want) {
				c.Result, c.Detail = "ok", ""
			}
		}
	}
	return c
}

// spfCoversPools reports the first pool mechanism (ip4:/ip6:) of want that the published SPF
// record got does not cover ("" when all are).
func spfCoversPools(want, got string) string {
	var have []netip.Prefix
	for _, m := range strings.Fields(strings.ToLower(got)) {
		m = strings.TrimPrefix(m, "+")
		v, ok := strings.CutPrefix(m, "ip4:")
		if !ok {
			v, ok = strings.CutPrefix(m, "ip6:")
		}
		if !ok {
			continue
		}
		if p, err := netip.ParsePrefix(v); err == nil {
			have = append(have, p)
		} else if a, err := netip.ParseAddr(v); err == nil {
			have = append(have, netip.PrefixFrom(a, a.BitLen()))
		}
	}
	for _, m := range strings.Fields(want) {
		v, ok := strings.CutPrefix(m, "ip4:")
		if !ok {
			v, ok = strings.CutPrefix(m, "ip6:")
		}
		if !ok {
			continue
		}
		a, err := netip.ParseAddr(v)
		if err != nil {
			continue
		}
		if !slices.ContainsFunc(have, func(p netip.Prefix) bool { return p.Contains(a) }) {
			return m
		}
	}
	return ""
}
