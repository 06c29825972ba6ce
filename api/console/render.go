package console

import (
	"bytes"
	"io"
	"mime"
	"net/url"
	"strings"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // decode non-UTF-8 text parts
	"github.com/emersion/go-message/mail"
	"golang.org/x/net/html"
)

// maxPart bounds what is read of one body part for display.
const maxPart = 2 << 20

// held is a message as the console shows it: headers as text, the text body, the HTML body
// (served only from its sandboxed endpoint) and the links the HTML carries, with their real
// targets.
type held struct {
	From, To, Cc, Subject, Date string
	Text                        string
	HTML                        []byte
	Links                       []link
	Attachments                 []string
}

// link is an <a href> of the HTML body. Mismatch: its text names a web address on another
// host than the one it goes to (the classic phishing link), flagged on the page.
type link struct {
	Text, Href string
	Mismatch   bool
}

// mismatch reports link text that looks like an address whose host differs from href's.
func mismatch(text, href string) bool {
	t := strings.ToLower(strings.TrimSpace(text))
	if !strings.Contains(t, ".") || strings.ContainsAny(t, " \t") {
		return false
	}
	if !strings.Contains(t, "://") {
		t = "http://" + t
	}
	tu, err1 := url.Parse(t)
	hu, err2 := url.Parse(strings.TrimSpace(href))
	if err1 != nil || tu.Hostname() == "" {
		return false
	}
	return err2 != nil || !strings.EqualFold(tu.Hostname(), hu.Hostname())
}

// parseHeld reads raw into a held. A part it cannot read is skipped; a message it cannot parse
// at all is shown as its raw text.
func parseHeld(raw []byte) held {
	var h held
	e, err := message.Read(bytes.NewReader(raw))
	if e == nil {
		h.Text = string(raw)
		return h
	}
	_ = err // an unknown charset or encoding still leaves a readable entity
	mh := mail.Header{Header: e.Header}
	h.From = headerText(mh, "From")
	h.To = headerText(mh, "To")
	h.Cc = headerText(mh, "Cc")
	h.Subject, _ = mh.Subject()
	h.Date = e.Header.Get("Date")
	_ = e.Walk(func(path []int, part *message.Entity, err error) error {
		if err != nil || part == nil {
			return nil
		}
		ct, params, _ := part.Header.ContentType()
		disp, dparams, _ := part.Header.ContentDisposition()
		if strings.HasPrefix(ct, "multipart/") {
			return nil
		}
		if disp == "attachment" || (ct != "text/plain" && ct != "text/html") {
			name := dparams["filename"]
			if name == "" {
				name = params["name"]
			}
			h.Attachments = append(h.Attachments, strings.TrimSpace(name+" ("+ct+")"))
			return nil
		}
		b, _ := io.ReadAll(io.LimitReader(part.Body, maxPart))
		switch {
		case ct == "text/plain" && h.Text == "":
			h.Text = string(b)
		case ct == "text/html" && h.HTML == nil:
			h.HTML = b
		}
		return nil
	})
	if h.HTML != nil {
		h.Links = htmlLinks(h.HTML)
	}
	return h
}

// headerText is an address header decoded for display (its raw form if it does not parse).
func headerText(h mail.Header, name string) string {
	if as, err := h.AddressList(name); err == nil && len(as) > 0 {
		out := make([]string, len(as))
		for i, a := range as {
			out[i] = a.String()
			if a.Name != "" {
				out[i] = a.Name + " <" + a.Address + ">"
			}
		}
		return strings.Join(out, ", ")
	}
	v := h.Get(name)
	if d, err := new(mime.WordDecoder).DecodeHeader(v); err == nil {
		return d
	}
	return v
}

// htmlLinks lists the <a href> of an HTML body with the text a reader would see, so a link
// that says one thing and goes elsewhere is shown for what it is.
func htmlLinks(b []byte) []link {
	doc, err := html.Parse(bytes.NewReader(b))
	if err != nil {
		return nil
	}
	var out []link
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if len(out) >= 200 {
			return
		}
		if n.Type == html.ElementNode && n.Data == "a" {
			for _, a := range n.Attr {
				if a.Key == "href" {
					text := strings.Join(strings.Fields(nodeText(n)), " ")
					out = append(out, link{Text: text, Href: a.Val, Mismatch: mismatch(text, a.Val)})
				}
			}
		}
		for ch := n.FirstChild; ch != nil; ch = ch.NextSibling {
			walk(ch)
		}
	}
	walk(doc)
	return out
}

func nodeText(n *html.Node) string {
	var b strings.Builder
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for ch := n.FirstChild; ch != nil; ch = ch.NextSibling {
			walk(ch)
		}
	}
	walk(n)
	return b.String()
}
