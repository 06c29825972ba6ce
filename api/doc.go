// Package api is multimail's HTTP surface (docs/api.md): the JSON endpoints agents and apps
// call (send_email, messages, emails, tags, approvals), the admin endpoints the CLI calls, the
// OpenAPI 3.1 document describing all of them (openapi.json, checked against the route table by
// a test), /mcp, and the middleware they share.
//
// Every /v1 route goes through one wrapper (routes.go): bearer API key (looked up by its
// SHA-256 in mailbox.Store; 401), per-key token-bucket rate limit (429 with Retry-After),
// scope check (403), body size limit (413), metrics, and the one place errors are written as
// {"error":{"code","message","field"}}. Handlers return errors; toError maps the domain
// packages' sentinels and *submission.FieldError to statuses.
//
// Scopes: send -> POST /v1/send_email, GET /v1/messages/{id}; read -> GET /v1/messages/{id},
// the email list and read, GET /v1/approvals; tag -> POST /v1/emails/{id}/tags; approve ->
// GET /v1/approvals and approve/reject; admin -> /v1/admin/* and implies read, tag and approve,
// never send. A key never grants more than it holds (mailboxes × scopes): only a "*" admin key
// (or the CLI) administers domains, mailboxes and other keys; a mailbox-scoped admin sees and
// acts on its own mailboxes' queue entries, approvals and keys only. A key holding send never
// decides approvals (separation of duties; mailbox.CheckScopes refuses to create one with both).
// Another mailbox's message, email, approval, queue entry or key is 404 (as if it did not
// exist); a mailbox named in the request that the key does not hold, or a missing scope, is
// 403. See docs/authorization.md.
//
// Besides the /v1 routes the public handler serves, without a key, /healthz, /readyz,
// /metrics, /openapi.json, the identity key set and the MTA-STS policy of the local domain
// named by the Host header mta-sts.<domain> (dnscheck.go). GET /v1/admin/domains/{name}/check
// looks the records of domain dns up through Options.Resolver (the node's dnsclient) and says
// ok, missing or wrong for each.
//
// The test outbox (testoutbox.go, GET /v1/mailboxes/{id}/test_outbox[/{message_id}]) shows
// what test keys' sends would have delivered: to a test key of the mailbox (send or read) and
// to its approve/admin keys; a live send/read key gets 404, as a live key never sees test data.
//
// AdminHandler serves the same routes without bearer auth as the "cli" principal, for the
// unix socket in the data directory whose file permissions are the authentication.
//
// Sub-packages: api/wire holds the JSON wire types (shared with the MCP server and clients),
// api/webhook dispatches the queue's outbox as Standard Webhooks, api/mcp is the MCP server
// whose tools call this API over HTTP (stdio) or in process (/mcp).
//
// The package stores nothing itself: keys, mailboxes and emails live in mailbox.Store;
// messages, events, approvals and idempotency keys in the queue (queue.Backend); every send goes through
// submission.Submitter, which enqueues durably before the 202.
package api
