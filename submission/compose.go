package submission

import (
	"bytes"
	"io"
	"mime"
	"strings"
	"time"

	"github.com/emersion/go-message/mail"
)

// compose builds the RFC 5322 message of an API send with go-message: a single text or html
// part, multipart/alternative for both, inside multipart/mixed when there are attachments.
// Bcc is never written into the header.
func compose(req *SendRequest, d *draft, now time.Time, msgID string) ([]byte, error) {
	h := composeHeader(req, d, now, msgID)
	var buf bytes.Buffer
	buf.Grow(composedSize(req)) // one allocation for a large message, not a series of copies
	var err error
	if len(req.Attachments) == 0 {
		err = writeBody(&buf, h, req)
	} else {
		err = writeMixed(&buf, h, req)
	}
	if err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// composedSize estimates the composed message: base64 in 76-character lines is 1.37 times
// the attachment, mostly-ASCII text a little more in quoted-printable (the buffer grows if not), plus headers.
func composedSize(req *SendRequest) int {
	n := 4096 + (len(req.Text)+len(req.HTML))*11/10
	for _, a := range req.Attachments {
		n += len(a.Content)*137/100 + 512
	}
	return n
}

// composeHeader writes the top-level fields. Values were validated (no CR/LF); non-ASCII text is
// RFC 2047-encoded by go-message (Subject) or here (custom headers).
func composeHeader(req *SendRequest, d *draft, now time.Time, msgID string) mail.Header {
	var h mail.Header
	h.SetDate(now)
	h.SetMessageID(msgID)
	h.SetAddressList("From", []*mail.Address{{Name: req.FromName, Address: d.mailbox}})
	h.SetAddressList("To", d.to)
	h.SetAddressList("Cc", d.cc)
	if d.replyTo != nil {
		h.SetAddressList("Reply-To", []*mail.Address{d.replyTo})
	}
	h.SetSubject(req.Subject)
	for _, k := range sortedKeys(req.Headers) {
		h.Set(k, mime.QEncoding.Encode("utf-8", req.Headers[k]))
	}
	h.Set("MIME-Version", "1.0")
	return h
}

// textPart is one alternative: its media type and content.
type textPart struct {
	mediaType, body string
}

// parts lists the text alternatives in order of increasing preference (RFC 2046 §5.1.4).
func parts(req *SendRequest) []textPart {
	var p []textPart
	if req.Text != "" {
		p = append(p, textPart{"text/plain", req.Text})
	}
	if req.HTML != "" {
		p = append(p, textPart{"text/html", req.HTML})
	}
	return p
}

// inlineHeader is the header of a text part.
func inlineHeader(mediaType string) mail.InlineHeader {
	var h mail.InlineHeader
	h.SetContentType(mediaType, map[string]string{"charset": "utf-8"})
	return h
}

// writeBody writes a message without attachments.
func writeBody(w io.Writer, h mail.Header, req *SendRequest) error {
	ps := parts(req)
	if len(ps) == 1 {
		h.Header.SetContentType(ps[0].mediaType, map[string]string{"charset": "utf-8"})
		wc, err := mail.CreateSingleInlineWriter(w, h)
		if err != nil {
			return err
		}
		return writeClose(wc, ps[0].body)
	}
	iw, err := mail.CreateInlineWriter(w, h)
	if err != nil {
		return err
	}
	return writeAlternatives(iw, ps)
}

// writeAlternatives writes each text part into a multipart/alternative and closes it.
func writeAlternatives(iw *mail.InlineWriter, ps []textPart) error {
	for _, p := range ps {
		wc, err := iw.CreatePart(inlineHeader(p.mediaType))
		if err != nil {
			return err
		}
		if err := writeClose(wc, p.body); err != nil {
			return err
		}
	}
	return iw.Close()
}

// writeMixed writes a multipart/mixed message: the text, then the attachments.
func writeMixed(w io.Writer, h mail.Header, req *SendRequest) error {
	mw, err := mail.CreateWriter(w, h)
	if err != nil {
		return err
	}
	if err := writeInline(mw, parts(req)); err != nil {
		return err
	}
	for _, a := range req.Attachments {
		if err := writeAttachment(mw, a); err != nil {
			return err
		}
	}
	return mw.Close()
}

// writeInline writes the text of a mixed message: one part, or an alternative.
func writeInline(mw *mail.Writer, ps []textPart) error {
	if len(ps) == 1 {
		wc, err := mw.CreateSingleInline(inlineHeader(ps[0].mediaType))
		if err != nil {
			return err
		}
		return writeClose(wc, ps[0].body)
	}
	iw, err := mw.CreateInline()
	if err != nil {
		return err
	}
	return writeAlternatives(iw, ps)
}

// writeAttachment writes one attachment, base64-encoded by go-message.
func writeAttachment(mw *mail.Writer, a Attachment) error {
	var h mail.AttachmentHeader
	mt, params := "application/octet-stream", map[string]string(nil)
	if a.ContentType != "" {
		mt, params, _ = mime.ParseMediaType(a.ContentType) // validated before
	}
	h.SetContentType(mt, params)
	h.SetFilename(a.Filename)
	wc, err := mw.CreateAttachment(h)
	if err != nil {
		return err
	}
	if _, err := wc.Write(a.Content); err != nil {
		return err
	}
	return wc.Close()
}

// writeClose writes a text body with CRLF line ends and closes the part.
func writeClose(wc io.WriteCloser, body string) error {
	if _, err := io.WriteString(wc, toCRLF(body)); err != nil {
		return err
	}
	return wc.Close()
}

// toCRLF normalises line ends of a text body to CRLF (RFC 5322 §2.3).
func toCRLF(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	return strings.ReplaceAll(s, "\n", "\r\n")
}
