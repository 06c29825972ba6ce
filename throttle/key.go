// key.go: which clients count as one.
package throttle

import (
	"net"
	"net/netip"
)

// client is the unit a failure count belongs to: an IPv4 address (/32) or an IPv6 /64, the
// smallest network a customer is usually given (RFC 6177), so rotating through one's own /64
// gains nothing. Addresses that do not parse share the zero prefix.
type client = netip.Prefix

// keyOf returns addr's client.
func keyOf(addr netip.Addr) client {
	addr = addr.Unmap().WithZone("")
	switch {
	case addr.Is4():
		return netip.PrefixFrom(addr, 32)
	case addr.Is6():
		p, _ := addr.Prefix(64)
		return p
	}
	return client{}
}

// AddrOf is the IP address of a connection's remote address (the zero Addr when it has none,
// as a unix socket).
func AddrOf(a net.Addr) netip.Addr {
	if a == nil {
		return netip.Addr{}
	}
	if t, ok := a.(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(t.IP)
		return ip.Unmap()
	}
	return ParseAddr(a.String())
}

// ParseAddr is the IP address of "ip:port" or "ip" (http.Request.RemoteAddr); the zero Addr
// when s is neither.
func ParseAddr(s string) netip.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap()
	}
	a, _ := netip.ParseAddr(s)
	return a.Unmap()
}
