package imapserver

// multimail fork: a non-synchronising literal (RFC 7888) that the server
// refuses is read and discarded before the answer, so that its bytes are never
// parsed as commands (RFC 7888 §4: reject it, and read and discard it or close
// the connection). Upstream refused an APPEND over the limit, or a buffered
// literal over 4 KiB, without reading it.

import (
	"io"

	"github.com/emersion/go-imap/v2"
)

// maxDiscardLiteral bounds what the server reads to throw away; a refused
// non-synchronising literal larger than this closes the connection.
const maxDiscardLiteral = 256 << 20

// discardNonSync reads and drops a refused non-synchronising literal of size
// bytes from r (which ends after them) and returns refusal. Beyond
// maxDiscardLiteral, or when the bytes cannot be read, it sends BYE and ends
// the connection instead: the rest of the stream cannot be told from commands.
func (c *Conn) discardNonSync(r io.Reader, size int64, refusal error) error {
	if size <= maxDiscardLiteral {
		c.setReadTimeout(literalReadTimeout)
		n, err := io.Copy(io.Discard, r)
		c.setReadTimeout(cmdReadTimeout)
		if err == nil && n == size {
			return refusal
		}
	}
	c.state = imap.ConnStateLogout
	c.writeStatusResp("", &imap.StatusResponse{
		Type: imap.StatusResponseTypeBye,
		Code: imap.ResponseCodeTooBig,
		Text: "Non-synchronizing literal too large",
	})
	return refusal
}
