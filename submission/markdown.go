package submission

import (
	"bytes"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
)

// md renders a send's markdown body. goldmark's defaults are the safe ones: raw HTML (blocks
// and inline) is replaced by a comment, and links or images with a dangerous scheme
// (javascript:, vbscript:, file:, data: but images) lose their destination. GFM adds tables,
// strikethrough, autolinks and task lists.
var md = goldmark.New(goldmark.WithExtensions(extension.GFM))

// maxMarkdown bounds the markdown body (the rendered HTML is about its size).
const maxMarkdown = 1 << 20

// renderMarkdown returns the HTML of a markdown body.
func renderMarkdown(src string) (string, error) {
	var buf bytes.Buffer
	buf.Grow(len(src) * 5 / 4)
	if err := md.Convert([]byte(src), &buf); err != nil {
		return "", err
	}
	return buf.String(), nil
}
