// Package smtpserver is the SMTP server core that inbound (port 25) and submission (587 and
// 465) share: the go-smtp set-up, the connections under it, the reading of a message, the
// admission hook and the replies every listener gives alike. It imports no project package;
// the session logic and each listener's own reply mapping stay in inbound and submission.
//
// # Connections
//
// Every accepted connection is wrapped, below TLS (implicit or after STARTTLS):
//
//   - a session cap: every read deadline is capped at Options.MaxSessionTime after accept, so
//     no sequence of commands, nor a slow DATA, keeps a connection forever; Expire ends a
//     session after the reply to the current command (the next read is the end of the stream);
//   - replies in one write: writes are buffered and go out before the next read and on close.
//     go-smtp writes each line of a multi-line reply (EHLO) with its own write, which a client
//     reading one segment per reply would take half of; under TLS the records of one reply
//     leave in one write too;
//   - tracking for Shutdown: go-smtp v0.25.1's Close does nothing once its Shutdown has begun,
//     so the Server closes the connections left itself when Shutdown's context ends, and waits
//     (ShutdownGrace) for their goroutines to finish.
//
// # Message data
//
// ReadData reads a DATA or BDAT message whole. For DATA it reads the wire bytes from the
// connection's buffer, not go-smtp's decoding of them: go-smtp v0.25.1's dot reader drops the
// CR of a line starting with ".\r" not followed by LF, so "\r\n.\rX" and "\r\n.\r\r\n" would
// reach the session as clean CRLF lines and be relayed on. Here the leading dot alone is
// removed (RFC 5321 §4.5.2) and any CR not followed by LF, or LF not preceded by CR, anywhere
// in the message refuses it whole with 550 5.5.2 (RFC 5321 §2.3.8; SMTP smuggling). The end
// of data is CRLF.CRLF only, so a "\n.\n" or "\r.\r" never ends it and what a smuggler put
// after it stays inside the refused message. ReadTimeout bounds the idle time before every
// read of the connection, so a slow but steady DATA of any size passes, on every port, within
// MaxSessionTime.
//
// Reaching the wire bytes takes go-smtp's unexported dataReader apart (data.go wireReader):
// the layout is checked at every DATA and pinned by a test, and an unknown layout refuses the
// message with 451 rather than taking it unchecked.
//
// # Admission
//
// Options.Admit is asked at MAIL FROM and before DATA; an error is 452 4.3.1 Insufficient
// system storage (a refused DATA's message is read and dropped first).
//
// # Files
//
// server.go (Options, Server, Serve, ServeTLS, Shutdown, Expire), conn.go (the connection
// wrappers), data.go (ReadData, the dot reader), admit.go, reply.go (Reply, ErrorReply).
package smtpserver
