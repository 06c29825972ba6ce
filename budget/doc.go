// Package budget owns the process's byte budget for large request bodies: an API send, a
// batch send, an IMAP APPEND literal each reserve the memory they will hold before they read
// it, and wait briefly when the budget is spent; one that cannot get its share in time is
// refused (HTTP 503, IMAP NO [UNAVAILABLE]) instead of growing the heap past the memory
// limit. It is a leaf: it imports no project package.
package budget
