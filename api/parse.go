package api

import (
	"bytes"
	"io"
	"mime"
	"strconv"
	"strings"

	_ "github.com/emersion/go-message/charset" // decode non-UTF-8 bodies and headers
	"github.com/emersion/go-message/mail"

	"multimail.dev/multimail/api/render"
	"multimail.dev/multimail/api/wire"
	"multimail.dev/multimail/mailbox"
)

// maxTextBytes bounds the text and html returned by read_email.
const maxTextBytes = 10 << 20

// parseEmail builds the read_email body from the stored summary and the raw message: header
// fields in order, the first text/plain and text/html parts, and attachment metadata.
// A part that does not parse ends the walk; what was read so far is returned.
func parseEmail(e mailbox.Email, raw []byte) wire.Email {
	out := wire.Email{
		EmailSummary: summaryJSON(e), MessageIDHeader: e.MessageID,
		AuthenticationResults: e.AuthResults, Headers: []wire.Header{}, Attachments: []wire.AttachmentInfo{},
	}
	mr, err := mail.CreateReader(bytes.NewReader(raw))
	if mr == nil {
		return out
	}
	defer mr.Close()
	out.Headers = headerList(mr.Header)
	if rt, err := mr.Header.AddressList("Reply-To"); err == nil {
		for _, a := range rt {
			out.ReplyTo = append(out.ReplyTo, a.String())
		}
	}
	if err != nil && !isUnknownCharset(err) {
		return out
	}
	walkParts(mr, &out, -1, nil)
	out.Markdown = out.Text
	if strings.TrimSpace(out.Text) == "" && out.HTML != "" {
		out.Markdown = render.Markdown(out.HTML)
	}
	return out
}

// walkParts reads the parts into out. With want >= 0 it stops at attachment number want
// (the index into out.Attachments) and hands its header and body to found.
func walkParts(mr *mail.Reader, out *wire.Email, want int, found func(h *mail.AttachmentHeader, body io.Reader)) {
	for {
		p, err := mr.NextPart()
		if err != nil && !isUnknownCharset(err) {
			return // io.EOF or a malformed part
		}
		if want >= 0 && len(out.Attachments) == want && isAttachment(p.Header) {
			switch h := p.Header.(type) {
			case *mail.InlineHeader:
				found(&mail.AttachmentHeader{Header: h.Header}, p.Body)
			case *mail.AttachmentHeader:
				found(h, p.Body)
			}
			return
		}
		switch h := p.Header.(type) {
		case *mail.InlineHeader:
			addInline(h, p.Body, out)
		case *mail.AttachmentHeader:
			out.Attachments = append(out.Attachments, attachmentInfo(h, p.Body))
		}
	}
}

// isAttachment reports whether a part is listed in attachments (see addInline).
func isAttachment(h any) bool {
	switch h := h.(type) {
	case *mail.AttachmentHeader:
		return true
	case *mail.InlineHeader:
		ct, _, _ := h.ContentType()
		return !strings.HasPrefix(ct, "text/")
	}
	return false
}

func isUnknownCharset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "unknown charset")
}

// addInline keeps the first text/plain and text/html; other inline parts (images with a
// Content-ID) are reported as inline attachments.
func addInline(h *mail.InlineHeader, body io.Reader, out *wire.Email) {
	ct, _, _ := h.ContentType()
	switch {
	case ct == "text/plain" && out.Text == "":
		out.Text = readText(body)
	case ct == "text/html" && out.HTML == "":
		out.HTML = readText(body)
	case !strings.HasPrefix(ct, "text/"):
		info := attachmentInfo(&mail.AttachmentHeader{Header: h.Header}, body)
		info.Inline = true
		out.Attachments = append(out.Attachments, info)
	}
}

func readText(r io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(r, maxTextBytes))
	return string(b)
}

func attachmentInfo(h *mail.AttachmentHeader, body io.Reader) wire.AttachmentInfo {
	name, _ := h.Filename()
	ct, _, _ := h.ContentType()
	n, _ := io.Copy(io.Discard, body)
	return wire.AttachmentInfo{
		Filename: name, ContentType: ct, Size: int(n),
		ContentID: strings.Trim(h.Get("Content-Id"), "<> "),
	}
}

// headerList returns the header fields in message order, values decoded (RFC 2047).
func headerList(h mail.Header) []wire.Header {
	var out []wire.Header
	dec := mime.WordDecoder{}
	for f := h.Fields(); f.Next(); {
		v, err := dec.DecodeHeader(f.Value())
		if err != nil {
			v = f.Value()
		}
		out = append(out, wire.Header{Name: f.Key(), Value: v})
	}
	if out == nil {
		out = []wire.Header{}
	}
	return out
}

func itoa(i int) string { return strconv.Itoa(i) }
