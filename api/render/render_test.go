package render

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestMarkdownDropsHidden(t *testing.T) {
	t.Parallel()
	src := `<html><head><title>T-SECRET</title><style>.x{}</style></head><body>
<h1>Hello</h1>
<p>Visible <b>bold</b> and <a href="https://example.org/x">a link</a>.</p>
<!-- COMMENT-SECRET -->
<div style="display:none">DISPLAY-SECRET</div>
<span style="visibility: hidden">VIS-SECRET</span>
<span style="font-size:0px">FONT-SECRET</span>
<span style="FONT-SIZE: 0">FONT2-SECRET</span>
<span style="opacity:0">OPACITY-SECRET</span>
<div style="max-height:0;overflow:hidden">BOX-SECRET</div>
<div hidden>ATTR-SECRET</div>
<p aria-hidden="true">ARIA-SECRET</p>
<script>SCRIPT-SECRET</script>
<a href="javascript:alert(1)">js link</a>
<img src="https://track.example/p.gif" alt="logo">
<ul><li>one</li><li>two</li></ul>
<span style="font-size:12px">small but shown</span>
</body></html>`
	md := Markdown(src)
	if strings.Contains(md, "SECRET") {
		t.Fatalf("hidden content rendered:\n%s", md)
	}
	for _, want := range []string{"# Hello", "**bold**", "[a link](https://example.org/x)", "js link", "[image: logo]", "- one", "- two", "small but shown"} {
		if !strings.Contains(md, want) {
			t.Errorf("missing %q in:\n%s", want, md)
		}
	}
	if strings.Contains(md, "javascript:") || strings.Contains(md, "track.example") {
		t.Errorf("unsafe link or tracker kept:\n%s", md)
	}
}

func TestSnippet(t *testing.T) {
	t.Parallel()
	if s := Snippet("", `<p>Hi <span style="display:none">SECRET</span>there</p>`, 100); s != "Hi there" {
		t.Fatalf("snippet %q", s)
	}
	if s := Snippet("abcdef", "", 3); s != "abc…" {
		t.Fatalf("snippet %q", s)
	}
}

func FuzzMarkdown(f *testing.F) {
	f.Add(`<p>a<b>b</b><div style="display:none">x</div></p>`)
	f.Add(`<ol><li><pre>x` + "```" + `</pre></li></ol><a href="http://x">y</a>`)
	f.Add(strings.Repeat("<div>", 1000))
	f.Fuzz(func(t *testing.T, src string) {
		md := Markdown(src)
		if !utf8.ValidString(md) && utf8.ValidString(src) {
			t.Fatalf("invalid UTF-8 out of valid input")
		}
		// a marker inside an element hidden by style never shows
		hiddenMD := Markdown(`<div style="display:none">` + "\x00ZZHIDDENZZ" + `</div>` + src)
		if strings.Count(hiddenMD, "ZZHIDDENZZ") > strings.Count(src, "ZZHIDDENZZ") {
			t.Fatalf("hidden marker rendered: %q", hiddenMD)
		}
		_ = Snippet("", src, 50)
	})
}
