package inbound

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/emersion/go-message"
	gomail "github.com/emersion/go-message/mail"
)

// ErrNotARF: the message is not an RFC 5965 feedback report.
var ErrNotARF = errors.New("inbound: not an abuse feedback report")

// Bounds on what one report may make us read.
const (
	maxARFParts      = 10
	maxARFRcpts      = 100
	maxARFFieldBytes = 64 << 10 // the feedback-report part, and the original's header
)

// ARF is what a complaint needs of an RFC 5965 abuse feedback report (multipart/report;
// report-type=feedback-report): its machine-readable part and the original message's header.
type ARF struct {
	FeedbackType     string   // abuse | fraud | virus | other | not-spam (lower case)
	UserAgent        string   // the reporter's software
	Version          string   // "1"
	OriginalMailFrom string   // the envelope sender of the reported message, without <>
	OriginalRcptTo   []string // the envelope recipients the report is about (often absent: redacted)
	ReportedDomain   string
	SourceIP         string
	ArrivalDate      string
	// From the third part (message/rfc822 or text/rfc822-headers): the original's
	// Message-ID without angle brackets, and its To and Cc addresses.
	MessageID  string
	OriginalTo []string
}

// Complaint reports whether the feedback type says the recipient did not want the message
// (abuse, fraud): a virus report, a not-spam report and "other" are not complaints.
func (a *ARF) Complaint() bool { return a.FeedbackType == "abuse" || a.FeedbackType == "fraud" }

// Recipients is whom the report is about: Original-Rcpt-To when given, else the original's
// To and Cc when they name exactly one address (several would suppress people who did not
// complain), else none.
func (a *ARF) Recipients() []string {
	if len(a.OriginalRcptTo) > 0 {
		return a.OriginalRcptTo
	}
	if len(a.OriginalTo) == 1 {
		return a.OriginalTo
	}
	return nil
}

// ParseARF reads an RFC 5965 feedback report: a multipart/report whose report-type is
// feedback-report, with a message/feedback-report part (Feedback-Type required) and,
// optionally, the reported message or its header (message/rfc822, text/rfc822-headers).
// Anything else is ErrNotARF. Reads are bounded (parts, fields, bytes).
func ParseARF(r io.Reader) (*ARF, error) {
	e, err := message.Read(r)
	if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
		return nil, fmt.Errorf("%w: %v", ErrNotARF, err)
	}
	t, params, _ := e.Header.ContentType()
	if t != "multipart/report" || !strings.EqualFold(params["report-type"], "feedback-report") {
		return nil, fmt.Errorf("%w: content type %q report-type %q", ErrNotARF, t, params["report-type"])
	}
	mr := e.MultipartReader()
	if mr == nil {
		return nil, fmt.Errorf("%w: no parts", ErrNotARF)
	}
	var a *ARF
	var orig *gomail.Header
	for range maxARFParts {
		p, err := mr.NextPart()
		if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
			break // io.EOF, or a broken part: what was read stands
		}
		switch pt, _, _ := p.Header.ContentType(); pt {
		case "message/feedback-report":
			if a == nil {
				if a, err = parseFeedbackReport(p.Body); err != nil {
					return nil, err
				}
			}
		case "message/rfc822", "text/rfc822-headers", "message/rfc822-headers":
			if orig == nil {
				orig = readOriginalHeader(p.Body)
			}
		}
	}
	if a == nil {
		return nil, fmt.Errorf("%w: no message/feedback-report part", ErrNotARF)
	}
	if orig != nil {
		if id, err := orig.MessageID(); err == nil {
			a.MessageID = id
		}
		for _, f := range []string{"To", "Cc"} {
			list, err := orig.AddressList(f)
			if err != nil {
				continue
			}
			for _, ad := range list {
				if len(a.OriginalTo) < maxARFRcpts {
					a.OriginalTo = append(a.OriginalTo, ad.Address)
				}
			}
		}
	}
	return a, nil
}

// parseFeedbackReport reads the machine-readable part (RFC 5965 §3.1): header-like fields.
func parseFeedbackReport(r io.Reader) (*ARF, error) {
	br := bufio.NewReader(io.LimitReader(r, maxARFFieldBytes))
	h, err := readBlock(br)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: feedback-report fields: %v", ErrNotARF, err)
	}
	a := &ARF{
		FeedbackType:     strings.ToLower(strings.TrimSpace(stripComments(h.Get("Feedback-Type")))),
		UserAgent:        clean(h.Get("User-Agent")),
		Version:          strings.TrimSpace(h.Get("Version")),
		OriginalMailFrom: typedValue(h.Get("Original-Mail-From")),
		ReportedDomain:   clean(strings.TrimSpace(h.Get("Reported-Domain"))),
		SourceIP:         clean(strings.TrimSpace(h.Get("Source-IP"))),
		ArrivalDate:      clean(strings.TrimSpace(h.Get("Arrival-Date"))),
	}
	if a.FeedbackType == "" {
		return nil, fmt.Errorf("%w: no Feedback-Type", ErrNotARF)
	}
	for _, v := range h.Values("Original-Rcpt-To") {
		if v = typedValue(v); v != "" && len(a.OriginalRcptTo) < maxARFRcpts {
			a.OriginalRcptTo = append(a.OriginalRcptTo, v)
		}
	}
	return a, nil
}

// readOriginalHeader reads the header of the reported message (the body is not needed); a
// header that does not end (text/rfc822-headers often has no empty line) is taken as read.
func readOriginalHeader(r io.Reader) *gomail.Header {
	br := bufio.NewReader(io.LimitReader(r, maxARFFieldBytes))
	h, err := readBlock(br)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil
	}
	return &gomail.Header{Header: message.Header{Header: h}}
}
