package render

import (
	"regexp"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// MaxInput bounds the HTML rendered; the rest is ignored.
const MaxInput = 2 << 20

// maxDepth bounds the nesting the renderer follows (deeper content is dropped).
const maxDepth = 200

// Markdown renders HTML as markdown without hidden content.
func Markdown(src string) string {
	if len(src) > MaxInput {
		src = src[:MaxInput]
	}
	doc, err := html.Parse(strings.NewReader(src))
	if err != nil {
		return ""
	}
	r := &renderer{}
	r.node(doc, 0)
	return tidy(r.b.String())
}

// Snippet is the first n runes of the visible text: of text when it is not empty, else of
// the HTML's rendering, white space folded.
func Snippet(text, htmlBody string, n int) string {
	s := text
	if strings.TrimSpace(s) == "" && htmlBody != "" {
		s = Markdown(htmlBody)
	}
	s = strings.Join(strings.Fields(strings.ToValidUTF8(s, "")), " ")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	rs := []rune(s)
	return string(rs[:n]) + "…"
}

type renderer struct {
	b     strings.Builder
	list  []int // per open list: 0 unordered, else the next number
	quote int
}

// hiddenStyle matches the inline styles that hide an element or its text.
var (
	displayNone = regexp.MustCompile(`(?i)(^|;)\s*(display\s*:\s*none|visibility\s*:\s*(hidden|collapse)|opacity\s*:\s*0*\.?0+\s*(%|!important)?\s*(;|$)|font-size\s*:\s*0*\.?0+\s*([a-z%]+)?\s*(!important)?\s*(;|$)|mso-hide\s*:\s*all)`)
	zeroBox     = regexp.MustCompile(`(?i)(^|;)\s*(max-)?(height|width)\s*:\s*0+\s*([a-z%]+)?\s*(!important)?\s*(;|$)`)
	overflowHid = regexp.MustCompile(`(?i)overflow\s*:\s*hidden`)
)

func attr(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Namespace == "" && strings.EqualFold(a.Key, key) {
			return a.Val, true
		}
	}
	return "", false
}

// hidden reports whether an element is not shown to a reader.
func hidden(n *html.Node) bool {
	switch n.DataAtom {
	case atom.Script, atom.Style, atom.Head, atom.Template, atom.Noscript, atom.Title, atom.Meta, atom.Link, atom.Iframe, atom.Object, atom.Svg:
		return true
	}
	if _, ok := attr(n, "hidden"); ok {
		return true
	}
	if v, _ := attr(n, "aria-hidden"); strings.EqualFold(strings.TrimSpace(v), "true") {
		return true
	}
	if n.DataAtom == atom.Input {
		return true
	}
	style, _ := attr(n, "style")
	style = strings.ReplaceAll(style, "\n", " ")
	if displayNone.MatchString(style) {
		return true
	}
	return zeroBox.MatchString(style) && overflowHid.MatchString(style)
}

func (r *renderer) write(s string) { r.b.WriteString(s) }

// newline ends the current line; blank adds an empty line (a paragraph break).
func (r *renderer) newline() { r.write("\n" + strings.Repeat("> ", r.quote)) }
func (r *renderer) blank()   { r.newline(); r.newline() }

func (r *renderer) node(n *html.Node, depth int) {
	if depth > maxDepth {
		return
	}
	switch n.Type {
	case html.CommentNode, html.DoctypeNode:
		return
	case html.TextNode:
		t := strings.Join(strings.Fields(n.Data), " ")
		if t == "" {
			if strings.ContainsAny(n.Data, " \t\n") {
				r.write(" ")
			}
			return
		}
		if n.Data[0] == ' ' || n.Data[0] == '\n' || n.Data[0] == '\t' {
			t = " " + t
		}
		if last := n.Data[len(n.Data)-1]; last == ' ' || last == '\n' || last == '\t' {
			t += " "
		}
		r.write(escape(t))
		return
	case html.ElementNode:
		if hidden(n) {
			return
		}
		r.element(n, depth)
		return
	}
	r.children(n, depth)
}

func (r *renderer) children(n *html.Node, depth int) {
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		r.node(c, depth+1)
	}
}

// inner renders n's children into a separate string.
func (r *renderer) inner(n *html.Node, depth int) string {
	sub := &renderer{list: r.list, quote: 0}
	sub.children(n, depth)
	return strings.Join(strings.Fields(sub.b.String()), " ")
}

func (r *renderer) element(n *html.Node, depth int) {
	switch n.DataAtom {
	case atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6:
		level := int(n.Data[1] - '0')
		r.blank()
		r.write(strings.Repeat("#", level) + " " + r.inner(n, depth))
		r.blank()
	case atom.P, atom.Div, atom.Section, atom.Article, atom.Header, atom.Footer, atom.Table, atom.Form:
		r.blank()
		r.children(n, depth)
		r.blank()
	case atom.Tr, atom.Dt, atom.Dd:
		r.newline()
		r.children(n, depth)
	case atom.Td, atom.Th:
		r.write(" ")
		r.children(n, depth)
		r.write(" ")
	case atom.Br:
		r.newline()
	case atom.Hr:
		r.blank()
		r.write("---")
		r.blank()
	case atom.B, atom.Strong:
		if t := r.inner(n, depth); t != "" {
			r.write("**" + t + "**")
		}
	case atom.I, atom.Em:
		if t := r.inner(n, depth); t != "" {
			r.write("*" + t + "*")
		}
	case atom.Code, atom.Kbd, atom.Samp:
		if t := r.inner(n, depth); t != "" {
			r.write("`" + strings.ReplaceAll(t, "`", "'") + "`")
		}
	case atom.Pre:
		r.blank()
		r.write("```\n" + strings.ReplaceAll(textOf(n, depth), "```", "'''") + "\n```")
		r.blank()
	case atom.A:
		t := r.inner(n, depth)
		href, _ := attr(n, "href")
		href = strings.TrimSpace(href)
		if safeLink(href) && t != "" {
			r.write("[" + t + "](" + strings.NewReplacer(" ", "%20", ")", "%29", "(", "%28").Replace(href) + ")")
		} else {
			r.write(t)
		}
	case atom.Img:
		if alt, _ := attr(n, "alt"); strings.TrimSpace(alt) != "" {
			r.write("[image: " + escape(strings.Join(strings.Fields(alt), " ")) + "]")
		}
	case atom.Ul, atom.Ol:
		next := 0
		if n.DataAtom == atom.Ol {
			next = 1
		}
		r.list = append(r.list, next)
		r.newline()
		r.children(n, depth)
		r.list = r.list[:len(r.list)-1]
		r.newline()
	case atom.Li:
		r.newline()
		indent := strings.Repeat("  ", max(len(r.list)-1, 0))
		if k := len(r.list) - 1; k >= 0 && r.list[k] > 0 {
			r.write(indent + itoa(r.list[k]) + ". ")
			r.list[k]++
		} else {
			r.write(indent + "- ")
		}
		r.children(n, depth)
	case atom.Blockquote:
		r.quote++
		r.blank()
		r.children(n, depth)
		r.quote--
		r.blank()
	default:
		r.children(n, depth)
	}
}

// textOf is the visible text of n with its line breaks (for pre).
func textOf(n *html.Node, depth int) string {
	var b strings.Builder
	var walk func(*html.Node, int)
	walk = func(n *html.Node, d int) {
		if d > maxDepth {
			return
		}
		switch {
		case n.Type == html.TextNode:
			b.WriteString(n.Data)
		case n.Type == html.ElementNode && hidden(n):
		case n.Type == html.ElementNode && n.DataAtom == atom.Br:
			b.WriteString("\n")
		default:
			for c := n.FirstChild; c != nil; c = c.NextSibling {
				walk(c, d+1)
			}
		}
	}
	walk(n, depth)
	return strings.Trim(b.String(), "\n")
}

func safeLink(href string) bool {
	l := strings.ToLower(href)
	return strings.HasPrefix(l, "https://") || strings.HasPrefix(l, "http://") || strings.HasPrefix(l, "mailto:")
}

// escape keeps text from being read as markdown structure.
var mdEscaper = strings.NewReplacer(`\`, `\\`, "*", `\*`, "_", `\_`, "`", "\\`", "[", `\[`, "]", `\]`, "<", `\<`, ">", `\>`, "#", `\#`)

func escape(s string) string { return mdEscaper.Replace(s) }

var blankRun = regexp.MustCompile(`\n(?:[ \t>]*\n){2,}`)

// tidy trims trailing spaces per line and folds runs of blank lines to one.
func tidy(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " \t")
	}
	s = strings.Join(lines, "\n")
	s = blankRun.ReplaceAllString(s, "\n\n")
	return strings.TrimSpace(s)
}

func itoa(i int) string {
	if i < 0 {
		return "-" + itoa(-i)
	}
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}
