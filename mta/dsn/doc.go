// Package dsn renders delivery status notifications: RFC 3464 multipart/report messages
// (RFC 6522) with a human-readable part, a message/delivery-status part and the original
// message's header section as text/rfc822-headers.
//
// It only renders: deciding who gets a DSN, and sending it, belong to package mta. The output
// is deterministic for a given Report (Date, Message-ID and boundary are inputs), which is what
// lets the tests compare it with golden files.
package dsn
