// Package dnsclient owns the node's one DNS stub resolver and its answer cache: every DNS
// question the node asks (inbound SPF, DKIM and DMARC; delivery's MX, A and AAAA) goes
// through one *Client, built once per node by cmd/multimail and handed to inbound and mta.
//
// It imports no project package (a leaf, docs/architecture.md); inbound and mta import it.
//
// # Transport
//
// A question goes to the servers in order (Config.Servers, or the nameservers of
// /etc/resolv.conf; 127.0.0.1:53 and [::1]:53 when that file is missing, as in the C
// library), for Config.Attempts rounds while servers time out or fail to answer. Each
// exchange is over UDP with an EDNS0 buffer of 1232 bytes (the DNS flag day 2020 size), bounded
// by Config.Timeout and the caller's context, and is asked again over TCP (RFC 7766) when the
// answer is truncated or does not fit the buffer. Recursion is desired and the AD bit is set
// in the query (RFC 6840 §5.7), so a validating resolver tells us whether the answer was
// DNSSEC-validated; Result.AD keeps it. An answer to another question than ours is discarded.
// A SERVFAIL (or REFUSED, …) moves to the next server; when every server gives one, it is the
// answer. Names are absolute: no search list is applied (mail names are fully qualified).
//
// # Cache
//
// Answers are cached by (name, type, class, DNSSEC-OK bit), at most Config.CacheSize
// entries with least-recently-used eviction:
//
//   - an answer with records: the smallest TTL of the answer section, at most MaxTTL (1 h);
//   - NXDOMAIN and NODATA (RFC 2308): min(SOA TTL, SOA MINIMUM) of the SOA in the authority
//     section, at most MaxNegativeTTL (15 min); without an SOA a negative answer is not
//     cached (RFC 2308 §5);
//   - SERVFAIL and other failing rcodes: ServFailTTL (10 s), so a broken zone is not hammered;
//   - never: timeouts and network errors, truncated answers, a TTL of 0.
//
// Concurrent identical questions that miss share one upstream exchange (singleflight). The
// exchange runs on a context detached from the first caller's, bounded by Timeout × Attempts ×
// servers, so one caller giving up does not fail the others; each caller still returns when
// its own context ends. TTLs in returned records are the ones received (not decremented).
//
// # The net-style lookups
//
// LookupTXT, LookupMX, LookupHost, LookupIPAddr and LookupAddr follow *net.Resolver's error
// contract, which blitiri.com.ar/go/spf and go-msgauth rely on: every error is a
// *net.DNSError itself (never wrapped), IsNotFound for NXDOMAIN and NODATA, IsTemporary (and
// IsTimeout for timeouts) otherwise.
//
// Metrics (Config.Registerer): multimail_dns_cache_hits_total, multimail_dns_cache_misses_total,
// multimail_dns_cache_evictions_total, multimail_dns_cache_entries and
// multimail_dns_upstream_queries_total{result}.
//
// Files: client.go (Config, Client, Query, the transport), cache.go (the LRU and the TTL
// rules), lookup.go (net-style lookups), resolvconf.go (the system servers), metrics.go.
package dnsclient
