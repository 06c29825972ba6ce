package imapserver

// multimail fork: COMPRESS=DEFLATE (RFC 4978). After "tag OK", both directions
// of the connection are a raw DEFLATE stream (RFC 1951, no zlib header); every
// flush of the response writer ends with a sync flush so that the client can
// decode each response as it arrives. The reader is klauspost/compress's, which
// hands out data at the end of every block: clients such as mbsync end each
// command with a partial flush (an empty fixed-Huffman block), after which
// compress/flate's reader would wait for more input.

import (
	"bytes"
	"compress/flate"
	"io"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/internal/imapwire"
	kflate "github.com/klauspost/compress/flate"
)

// CapCompressDeflate is the COMPRESS=DEFLATE capability (RFC 4978).
const CapCompressDeflate imap.Cap = "COMPRESS=DEFLATE"

// handleCompress parses compress = "COMPRESS" SP algorithm (RFC 4978 §3) and
// switches the connection to DEFLATE once, after authentication. Go's TLS has
// no TLS-level compression, so that case of §4 never arises.
func (c *Conn) handleCompress(tag string, dec *imapwire.Decoder) error {
	var alg string
	if !dec.ExpectSP() || !dec.ExpectAtom(&alg) || !dec.ExpectCRLF() {
		return dec.Err()
	}
	if !c.server.options.caps().Has(CapCompressDeflate) {
		return newClientBugError("Unknown command")
	}
	if err := c.checkState(imap.ConnStateAuthenticated); err != nil {
		return err
	}
	if !strings.EqualFold(alg, "DEFLATE") {
		return newClientBugError("Unknown compression algorithm " + alg)
	}
	if c.compressed {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: "COMPRESSIONACTIVE", Text: "DEFLATE active already"}
	}

	// Keep the response writer locked: nothing uncompressed may follow the OK.
	enc := newResponseEncoder(c)
	defer enc.end()
	if err := writeStatusResp(enc.Encoder, tag, &imap.StatusResponse{Type: imap.StatusResponseTypeOK, Text: "DEFLATE active"}); err != nil {
		return err
	}
	// What the client sent after the command is compressed already.
	var buf bytes.Buffer
	if _, err := io.CopyN(&buf, c.br, int64(c.br.Buffered())); err != nil {
		return err
	}
	fw, err := flate.NewWriter(c.conn, flate.DefaultCompression)
	if err != nil {
		return err
	}
	rw := c.server.options.wrapReadWriter(struct {
		io.Reader
		io.Writer
	}{kflate.NewReaderOpts(io.MultiReader(&buf, c.conn), kflate.WithPartialBlock()), syncFlushWriter{fw}})
	c.br.Reset(rw)
	c.bw.Reset(rw)
	c.compressed = true
	return nil
}

// syncFlushWriter sync-flushes the DEFLATE stream after every write: the
// response writer (a bufio.Writer) writes when a response ends or its buffer
// is full.
type syncFlushWriter struct{ fw *flate.Writer }

func (w syncFlushWriter) Write(p []byte) (int, error) {
	n, err := w.fw.Write(p)
	if err != nil {
		return n, err
	}
	return n, w.fw.Flush()
}
