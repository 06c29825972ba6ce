// Package mta delivers queued mail: it leases work from package queue, routes each lease
// (a [[transport]] next hop, else the recipient domain's MX hosts, RFC 5321 §5.1), sends it
// with the go-smtp client (STARTTLS per policy, connections reused per next hop), reports one
// queue.Result per recipient through queue.Complete, and renders a DSN (package mta/dsn) for
// recipients that bounced or failed, handing it to Options.DSN. Recipients that the queue
// fails by itself inside queue.Next (past MaxLifetime, typically after downtime) reach the
// Deliverer through its OnFinal method, which New registers with the queue
// (queue.SetOnFinal), and get the same DSN.
//
// What it owns: routing, the MX lookup (through package dnsclient, whose cache the node shares
// with inbound), TLS policy, the SMTP client and its connection pool, error classification
// (temporary or permanent is a property of the error: see Error), and the worker pools:
// HighWorkers serve only the high lane so that bulk mail can never starve it; BulkWorkers
// serve high, then normal, then low.
//
// IP pools (ippool.go): Options.PoolFor names a lease's [[ip_pool]]; its connections bind
// to the pool's source addresses (net.Dialer LocalAddr, the destination's family, round
// robin, an optional warm-up quota per address per day) and greet with the pool's HELO
// name; idle sessions are pooled per (address, TLS policy, IP pool), so one pool's session
// never carries another's mail; each Result names the source address and pool.
//
// Pacing (pacing.go): a token bucket per destination, the registrable domain of the MX host
// (so one provider's domains share it), with a share reserved for the high lane; a worker
// waits up to Pacing.MaxWait for room, else hands the lease back (queue.Postpone, no attempt
// counted) for a later slot. A throttling reply (421 4.7.28, 451 4.7.650, "rate limit", …,
// told apart from greylisting) pauses the destination and halves its rate; deliveries raise
// it again (docs/deliverability.md). With Options.PacingStateFile, the paused and slowed
// destinations and the warm-up counts of the day survive a restart (pacing_state.go).
//
// Transport security (docs/transport-security.md): with Options.MTASTS, deliveries routed by
// MX apply the recipient domain's MTA-STS policy (RFC 8461; mtasts.go parses, mtasts_fetch.go
// fetches over guarded HTTPS, mtasts_cache.go decides and caches in STSOptions.CacheFile,
// mtasts_deliver.go filters the MX hosts and asks for TLSVerify under enforce); with
// Options.TLSRPT every new session is counted per policy domain and day and daily RFC 8460
// reports are written and sent (tlsrpt.go); with Options.DANE, TLSA records of
// DNSSEC-validated MX hosts (RFC 7672, usages 2 and 3) decide before MTA-STS (dane.go), and
// their sessions are reported under RFC 8460 policy-type "tlsa";
// REQUIRETLS messages (RFC 8689) and the TLS-Required header field are in requiretls.go.
//
// What it does not own: the schedule, backoff, per-domain concurrency caps, expiry and the
// event journal (package queue); DKIM signing (done before Enqueue); where a DSN goes (the
// caller's Options.DSN, which may enqueue it or store it in a local INBOX).
//
// Outcomes per recipient: a 2xx reply after DATA is delivered; a 4xx reply, a connection or
// DNS failure, or anything unknown is deferred; a 5xx reply, a null MX (RFC 7505) or a recipient
// domain that does not exist is bounced. A lease interrupted by shutdown before any recipient
// reached an outcome is not completed: its lease expires and the queue hands it out again.
package mta
