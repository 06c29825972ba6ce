package submission

import (
	"fmt"
	"mime"
	"net/textproto"
	"sort"
	"strings"
	"time"

	"github.com/emersion/go-message/mail"

	"multimail.dev/multimail/queue"
)

// Field limits of an API send.
const (
	maxHeaderValue = 998 // RFC 5322 §2.1.1 line limit; we do not fold user headers
	maxTags        = 32
	maxTagLen      = 64
	maxKeyLen      = 255
	maxFilename    = 255
	maxHeaders     = 50
	maxFromName    = 200
)

// MaxScheduleAhead is how far ahead send_at may be.
const MaxScheduleAhead = 30 * 24 * time.Hour

// draft is a validated SendRequest: parsed addresses, the envelope, lane and tags.
type draft struct {
	mailbox string
	to, cc  []*mail.Address
	replyTo *mail.Address
	rcpts   []string // envelope recipients: to, cc, bcc
	fields  []string // the request field of each of rcpts: to[0], cc[1], ...
	lane    queue.Lane
	tags    []string
}

// validate checks every field of req. A bad field is a *FieldError naming it.
func (s *Submitter) validate(req *SendRequest, now time.Time) (*draft, error) {
	d := &draft{}
	var err error
	if d.mailbox, err = checkMailboxID(req.MailboxID); err != nil {
		return nil, err
	}
	if err := d.addresses(req, s.opts.MaxRecipients); err != nil {
		return nil, err
	}
	if d.lane, err = queue.ParseLane(req.Priority); err != nil {
		return nil, fieldErr("priority", "must be high, normal or low")
	}
	if d.tags, err = checkTags(req.Tags); err != nil {
		return nil, err
	}
	return d, checkContent(req, now)
}

// checkMailboxID validates mailbox_id, the sender address.
func checkMailboxID(id string) (string, error) {
	if id == "" {
		return "", fieldErr("mailbox_id", "is required")
	}
	if strings.ContainsAny(id, "\r\n") {
		return "", fieldErr("mailbox_id", "must not contain CR or LF")
	}
	addr, msg := checkAddress(id)
	if msg != "" {
		return "", fieldErr("mailbox_id", msg)
	}
	return strings.ToLower(addr), nil
}

// addresses parses to, cc, bcc and reply_to and collects the envelope recipients.
func (d *draft) addresses(req *SendRequest, max int) error {
	var err error
	if len(req.To)+len(req.Cc)+len(req.Bcc) == 0 {
		return fieldErr("to", "at least one recipient is required")
	}
	if n := len(req.To) + len(req.Cc) + len(req.Bcc); n > max {
		return tooMany(n, max)
	}
	if d.to, err = parseList("to", req.To); err != nil {
		return err
	}
	if d.cc, err = parseList("cc", req.Cc); err != nil {
		return err
	}
	bcc, err := parseList("bcc", req.Bcc)
	if err != nil {
		return err
	}
	if req.ReplyTo != "" {
		if d.replyTo, err = parseHeaderAddress("reply_to", req.ReplyTo); err != nil {
			return err
		}
	}
	for li, l := range [][]*mail.Address{d.to, d.cc, bcc} {
		for i, a := range l {
			d.rcpts = append(d.rcpts, a.Address)
			d.fields = append(d.fields, fmt.Sprintf("%s[%d]", [3]string{"to", "cc", "bcc"}[li], i))
		}
	}
	return nil
}

// parseList parses one address list field; entries are named field[i].
func parseList(field string, l []string) ([]*mail.Address, error) {
	out := make([]*mail.Address, 0, len(l))
	for i, s := range l {
		a, err := parseHeaderAddress(fmt.Sprintf("%s[%d]", field, i), s)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// checkTags validates tags as IMAP keywords (RFC 9051 §9 atom, no leading '\'), since a tag
// is a keyword of the stored copies.
func checkTags(tags []string) ([]string, error) {
	if len(tags) > maxTags {
		return nil, fieldErr("tags", fmt.Sprintf("at most %d tags", maxTags))
	}
	for i, t := range tags {
		if msg := checkTag(t); msg != "" {
			return nil, fieldErr(fmt.Sprintf("tags[%d]", i), msg)
		}
	}
	return tags, nil
}

// checkTag validates one tag.
func checkTag(t string) string {
	if t == "" || len(t) > maxTagLen {
		return fmt.Sprintf("must be 1 to %d characters", maxTagLen)
	}
	if t[0] == '\\' {
		return "must not start with '\\'"
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`(){%*"\]`, c) >= 0 {
			return "must be printable ASCII without spaces or ( ) { % * \" \\ ]"
		}
	}
	return ""
}

// checkContent validates subject, bodies, headers, attachments, expires_at and the key.
func checkContent(req *SendRequest, now time.Time) error {
	if err := checkHeaderValue("subject", req.Subject); err != nil {
		return err
	}
	if err := checkHeaderValue("from_name", req.FromName); err != nil {
		return err
	}
	if len(req.FromName) > maxFromName {
		return fieldErr("from_name", fmt.Sprintf("longer than %d bytes", maxFromName))
	}
	switch {
	case req.Markdown != "" && (req.Text != "" || req.HTML != ""):
		return fieldErr("markdown", "give markdown, or text and/or html, not both")
	case len(req.Markdown) > maxMarkdown:
		return fieldErr("markdown", fmt.Sprintf("longer than %d bytes", maxMarkdown))
	case req.Text == "" && req.HTML == "" && req.Markdown == "":
		return fieldErr("text", "text, html or markdown is required")
	}
	if err := checkHeaders(req.Headers); err != nil {
		return err
	}
	if err := checkAttachments(req.Attachments); err != nil {
		return err
	}
	if !req.ExpiresAt.IsZero() && !req.ExpiresAt.After(now) {
		return fieldErr("expires_at", "is in the past")
	}
	if req.SendAt.After(now.Add(MaxScheduleAhead)) {
		return fieldErr("send_at", fmt.Sprintf("more than %s ahead", "30 days"))
	}
	if !req.ExpiresAt.IsZero() && !req.SendAt.IsZero() && !req.SendAt.Before(req.ExpiresAt) {
		return fieldErr("send_at", "is not before expires_at")
	}
	return checkIdempotencyKey(req.IdempotencyKey)
}

// checkHeaderValue refuses CR, LF and other controls in a value bound for a header line.
func checkHeaderValue(field, v string) error {
	if strings.ContainsAny(v, "\r\n") {
		return fieldErr(field, "must not contain CR or LF")
	}
	if hasControl(v) {
		return fieldErr(field, "must not contain control characters")
	}
	if len(v) > maxHeaderValue {
		return fieldErr(field, fmt.Sprintf("longer than %d bytes", maxHeaderValue))
	}
	return nil
}

// reservedHeaders are set by multimail alone; a request may not supply them. (Sender is not
// reserved: it may name the sending mailbox, as over SMTP; checkOriginators is the rule.)
func reservedHeader(name string) bool {
	switch textproto.CanonicalMIMEHeaderKey(name) {
	case "From", "To", "Cc", "Bcc", "Reply-To", "Subject", "Date", "Message-Id",
		"Mime-Version", "Content-Type", "Content-Transfer-Encoding", "Content-Disposition",
		"Dkim-Signature", "Return-Path", "Received", "Authentication-Results", "Arc-Seal",
		"Arc-Message-Signature", "Arc-Authentication-Results":
		return true
	}
	return false
}

// checkHeaders validates custom headers: RFC 5322 §2.2 field names, not reserved, clean values.
func checkHeaders(h map[string]string) error {
	if len(h) > maxHeaders {
		return fieldErr("headers", fmt.Sprintf("at most %d headers", maxHeaders))
	}
	for _, k := range sortedKeys(h) {
		field := "headers." + k
		if !validFieldName(k) {
			return fieldErr(field, "not a valid header name")
		}
		if reservedHeader(k) {
			return fieldErr(field, "is set by multimail and cannot be supplied")
		}
		if err := checkHeaderValue(field, h[k]); err != nil {
			return err
		}
	}
	return nil
}

// sortedKeys gives a map's keys in order, so the first bad header reported is stable.
func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// validFieldName: RFC 5322 §2.2 ftext, printable ASCII but ':'.
func validFieldName(k string) bool {
	if k == "" || len(k) > 76 {
		return false
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; c < 33 || c > 126 || c == ':' {
			return false
		}
	}
	return true
}

// checkAttachments validates filenames and content types.
func checkAttachments(atts []Attachment) error {
	for i, a := range atts {
		field := fmt.Sprintf("attachments[%d]", i)
		if a.Filename == "" || len(a.Filename) > maxFilename {
			return fieldErr(field+".filename", fmt.Sprintf("must be 1 to %d bytes", maxFilename))
		}
		if err := checkHeaderValue(field+".filename", a.Filename); err != nil {
			return err
		}
		if a.ContentType == "" {
			continue
		}
		if err := checkHeaderValue(field+".content_type", a.ContentType); err != nil {
			return err
		}
		mt, _, err := mime.ParseMediaType(a.ContentType)
		if err != nil {
			return fieldErr(field+".content_type", "not a valid media type")
		}
		if err := checkAttachmentType(field+".content_type", mt); err != nil {
			return err
		}
	}
	return nil
}

// checkIdempotencyKey: printable ASCII, bounded.
func checkIdempotencyKey(k string) error {
	if len(k) > maxKeyLen {
		return fieldErr("idempotency_key", fmt.Sprintf("longer than %d bytes", maxKeyLen))
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; c < 33 || c > 126 {
			return fieldErr("idempotency_key", "must be printable ASCII without spaces")
		}
	}
	return nil
}

// checkAttachmentType refuses the media types an attachment cannot have. Attachments are
// always base64 (so no bare CR, LF or NUL of theirs reaches the wire), and RFC 2045 §6.4
// forbids any encoding but 7bit, 8bit or binary for multipart/* and message/*: written
// unencoded, their bytes would reach the next hop as they came (SMTP smuggling). Send such
// content as application/octet-stream.
func checkAttachmentType(field, mediaType string) error {
	top, _, _ := strings.Cut(mediaType, "/")
	if top == "multipart" || top == "message" {
		return &FieldError{Field: field, cause: ErrAttachmentType,
			Msg: mediaType + " cannot be an attachment's type (RFC 2045 §6.4 forbids base64 for it); use application/octet-stream"}
	}
	return nil
}
