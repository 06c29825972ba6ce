package imapserver

// multimail fork: a non-synchronising literal (RFC 7888) that the server
// refuses is read and discarded before the answer, so that its bytes are never
// parsed as commands (RFC 7888 §4: reject it, and read and discard it or close
// the connection). Upstream refused an APPEND over the limit, or a buffered
// literal over 4 KiB, without reading it.

import (
	"bufio"
	"errors"
	"io"
	"strconv"
	"strings"

	"github.com/emersion/go-imap/v2"
)

// maxDiscardLiteral bounds what the server reads to throw away; a refused
// non-synchronising literal larger than this closes the connection.
const maxDiscardLiteral = 256 << 20

// discardNonSync reads and drops a refused non-synchronising literal of size
// bytes from r (which ends after them), then the rest of the command, and
// returns refusal. Beyond maxDiscardLiteral, or when the bytes cannot be read,
// it sends BYE and ends the connection instead: the rest of the stream cannot
// be told from commands.
func (c *Conn) discardNonSync(r io.Reader, size int64, refusal error) error {
	if size <= maxDiscardLiteral {
		c.setReadTimeout(literalReadTimeout)
		n, err := io.Copy(io.Discard, r)
		if err == nil && n == size {
			err = c.skipCommand()
		}
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

// skipCommand reads the rest of a command after a discarded literal, up to
// its final CRLF: further non-synchronising literals on the way are discarded
// too; a synchronising one ends it (the client waits for a "+" that does not
// come). The decoder's DiscardLine cannot do this: it takes the literal's CRLF
// for the end of the line.
func (c *Conn) skipCommand() error {
	var read int64
	for {
		line, err := c.br.ReadSlice('\n')
		read += int64(len(line))
		if err == bufio.ErrBufferFull && read < maxCommandSize {
			continue
		}
		if err != nil {
			return err
		}
		size, nonSync, ok := literalHeader(line)
		if !ok || !nonSync {
			return nil
		}
		if size > maxDiscardLiteral {
			return errors.New("imapserver: literal too large to discard")
		}
		if _, err := io.CopyN(io.Discard, c.br, size); err != nil {
			return err
		}
	}
}

// literalHeader parses the "{n}" or "{n+}" CRLF that ends line, if any. The
// line is raw bytes: a quoted string cannot hold the CRLF (RFC 9051
// QUOTED-CHAR), so a "{n+}" that ends it is never a closed string's text.
func literalHeader(line []byte) (size int64, nonSync, ok bool) {
	s := strings.TrimSuffix(strings.TrimSuffix(string(line), "\n"), "\r")
	s = strings.TrimSuffix(s, " ") // the decoder's CRLF takes one space before it
	if !strings.HasSuffix(s, "}") {
		return 0, false, false
	}
	i := strings.LastIndexByte(s, '{')
	if i < 0 {
		return 0, false, false
	}
	num := s[i+1 : len(s)-1]
	nonSync = strings.HasSuffix(num, "+")
	size, err := strconv.ParseInt(strings.TrimSuffix(num, "+"), 10, 64)
	if err != nil || size < 0 {
		return 0, false, false
	}
	return size, nonSync, true
}
