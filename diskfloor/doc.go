// Package diskfloor owns the node's free-space floor: the rule that new mail is accepted only
// while the data directory's filesystem has at least MinFree bytes available (Postfix's
// queue_minfree), and the ballast file that keeps a reserve for everything that is not
// acceptance (CockroachDB's ballast).
//
// Below the floor, Guard.Admit returns ErrInsufficientStorage: the HTTP API answers 503
// insufficient_storage with Retry-After, IMAP APPEND answers NO [UNAVAILABLE], SMTP answers
// 452 4.3.1 at MAIL FROM and DATA. Delivery, events, webhooks, compactions and reading go on,
// writing into the band below the floor.
//
// The ballast is a file of Ballast bytes in the data directory (allocated with fallocate where
// the filesystem supports it). When free space falls below the release mark (a quarter of the
// floor, at least 1 MiB) — something else is filling the disk — the ballast is deleted, which
// hands its bytes back to Pebble's flushes and compactions and to delivery's writes. It is
// recreated once free space is back at MinFree+Ballast, so recreating it never pushes the node
// below the floor.
//
// Free space is read with statfs (the bytes available to an unprivileged user). Run polls it
// every Interval and manages the ballast; Admit reads the cached answer and refreshes it when
// it is older than MaxAge, so acceptance resumes within about a second of space coming back.
// The package imports no project package.
package diskfloor
