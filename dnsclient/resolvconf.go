package dnsclient

import (
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// system is what resolv.conf says: the servers and their timeout and attempts.
type system struct {
	servers  []string
	timeout  time.Duration
	attempts int
}

// fallbackServers are asked when resolv.conf is missing or names no server, as the C library
// does.
func fallbackServers() []string { return []string{"127.0.0.1:53", "[::1]:53"} }

// systemConfig reads path (default /etc/resolv.conf).
func systemConfig(path string) system {
	if path == "" {
		path = "/etc/resolv.conf"
	}
	f, err := os.Open(path)
	if err != nil {
		return system{servers: fallbackServers()}
	}
	defer f.Close()
	return parseResolvConf(f)
}

// parseResolvConf reads resolv.conf(5) with miekg/dns's parser and keeps the servers that
// are IP addresses (a zone suffix such as "fe80::1%eth0" is kept), with the "timeout" and
// "attempts" options.
func parseResolvConf(r io.Reader) system {
	cc, err := dns.ClientConfigFromReader(r)
	if err != nil {
		return system{servers: fallbackServers()}
	}
	port := cc.Port
	if port == "" {
		port = "53"
	}
	var s system
	for _, srv := range cc.Servers {
		if ip := net.ParseIP(strings.SplitN(srv, "%", 2)[0]); ip == nil {
			continue
		}
		s.servers = append(s.servers, net.JoinHostPort(srv, port))
	}
	if len(s.servers) == 0 {
		s.servers = fallbackServers()
	}
	if cc.Timeout > 0 {
		s.timeout = time.Duration(cc.Timeout) * time.Second
	}
	s.attempts = cc.Attempts
	return s
}
