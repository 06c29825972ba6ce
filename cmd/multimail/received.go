// received.go: what a "received" event says about the email (inbound mail and local
// deliveries), so a webhook receiver can act without a second call.
package main

import (
	"bytes"
	"io"
	"regexp"
	"strings"

	_ "github.com/emersion/go-message/charset" // decode non-UTF-8 bodies
	"github.com/emersion/go-message/mail"

	"multimail.dev/multimail/api/render"
	"multimail.dev/multimail/mailbox"
	"multimail.dev/multimail/queue"
)

// snippetRunes is the length of a received event's snippet.
const snippetRunes = 200

// receivedSummary summarises a stored email for its event: addresses, subject, thread, a snippet
// of the visible text (hidden HTML dropped, see api/render) and our authentication results.
func receivedSummary(em mailbox.Email, msg []byte) *queue.ReceivedInfo {
	text, html := bodyParts(msg)
	ri := &queue.ReceivedInfo{From: em.From, To: em.To, Subject: em.Subject, ThreadID: em.ThreadID,
		AuthResults: em.AuthResults, Snippet: render.Snippet(text, html, snippetRunes)}
	for _, m := range authMethod.FindAllStringSubmatch(em.AuthResults, -1) {
		if ri.Auth == nil {
			ri.Auth = map[string]string{}
		}
		if _, seen := ri.Auth[strings.ToLower(m[1])]; !seen {
			ri.Auth[strings.ToLower(m[1])] = strings.ToLower(m[2])
		}
	}
	return ri
}

var authMethod = regexp.MustCompile(`(?i)\b(spf|dkim|dmarc)=([a-z]+)`)

// maxSnippetSource bounds how much of a body part is read for the snippet.
const maxSnippetSource = 256 << 10

// bodyParts returns the first text/plain and text/html parts (each bounded), best effort.
func bodyParts(msg []byte) (text, html string) {
	mr, err := mail.CreateReader(bytes.NewReader(msg))
	if mr == nil {
		return "", ""
	}
	defer mr.Close()
	_ = err
	for i := 0; i < 100 && (text == "" || html == ""); i++ {
		p, err := mr.NextPart()
		if err != nil && (p == nil || !strings.Contains(err.Error(), "unknown charset")) {
			break
		}
		h, ok := p.Header.(*mail.InlineHeader)
		if !ok {
			continue
		}
		ct, _, _ := h.ContentType()
		read := func() string {
			b, _ := io.ReadAll(io.LimitReader(p.Body, maxSnippetSource))
			return string(b)
		}
		switch {
		case ct == "text/plain" && text == "":
			text = read()
		case ct == "text/html" && html == "":
			html = read()
		}
	}
	return text, html
}
