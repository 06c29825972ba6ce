// Package webhook delivers the queue's webhook outbox to the configured endpoints as Standard
// Webhooks (docs/api.md, Webhooks): each event is a JSON wire.WebhookEvent POSTed with the headers
// webhook-id, webhook-timestamp and webhook-signature ("v1,<base64 HMAC-SHA256>").
//
// Delivery is at-least-once and ordered per (endpoint, message): the queue keeps one durable
// outbox entry per (subscriber, event) and only ever hands out the head of each chain; the
// Dispatcher acknowledges an entry after a 2xx and otherwise reschedules it with backoff (first
// retry after 5 s, then growing to every 4 h; the queue gives up after its OutboxMaxAge, at
// least 24 h). The webhook-id is the outbox entry's stable ID and the body is built from the
// stored event alone, so every retry is byte-for-byte the same request apart from the
// timestamp and signature headers.
package webhook
