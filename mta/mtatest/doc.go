// Package mtatest provides loopback peers for mail delivery tests and benchmarks: MX, a real
// go-smtp server that records every message and answers by recipient local part, and DNS, a
// miekg/dns server that answers MX, A, AAAA, TXT, PTR and TLSA queries from a map (with the AD bit set
// for names marked as validated, as a trusted validating resolver would).
//
// Both bind 127.0.0.1 only. NewMX and NewDNS are for tests (they register t.Cleanup);
// StartMX and StartDNS are for command-line tools and benchmarks that manage the lifetime
// themselves.
//
// The MX reply rules, by the local part of each RCPT TO address:
//
//	tempfail-*  451 4.3.0 at RCPT
//	tempfail1-* 451 4.3.0 at the first RCPT for that address, 250 after (greylisting)
//	reject-*    550 5.1.1 at RCPT
//	policy-*    550 5.7.1 at RCPT (a policy refusal, which never suppresses the address)
//	datafail-*  554 5.6.0 at the end of DATA (for the whole message)
//	datatemp-*  452 4.3.1 at the end of DATA (for the whole message)
//	slow-*      250, after MXOptions.SlowDelay (default 2s) at the end of DATA
//	anything    250
//
// MXOptions.Delay adds a delay before every end-of-DATA reply, which is how benchmarks model a
// remote MX that takes a fixed time per message. MXOptions.LogPath appends one JSON line per
// accepted message ({"time","conn","seq","from","to","size","tls"}), the SINK_LOG format of
// the Postfix comparison script (docs/benchmarks.md); command mtasink (./mta/mtatest/mtasink) runs such an MX on its own.
//
// MXOptions.Throttle makes a throttling provider: past Max messages accepted within Per,
// MAIL FROM gets 421 4.7.28 (or the Reply given), counted by MX.Throttled. Message.RemoteIP
// and Message.Helo show which source address and HELO name a message came with.
//
// To route mail to an MX through DNS in a test, serve MX and A records from a DNS and point
// a dnsclient.Client (Config.Servers) at DNS.Addr, with mta.Options.MXPort set to MX.Port.
// Negative answers carry an SOA (TTL NegativeTTL), so a caching client keeps them.
package mtatest
