// Package render turns an email body into what an agent reads: a markdown rendering of its
// HTML and a short text snippet. Mail is untrusted input to an agent, so the rendering keeps
// only what a person would see: it drops comments, script/style/head/template, elements
// hidden by the hidden attribute, aria-hidden, display:none or visibility:hidden, and text
// made invisible by zero font size, zero opacity or a zero box with overflow hidden. Links
// keep their http(s)/mailto target; images become their alt text (no remote fetch). It
// parses with golang.org/x/net/html and never fails: any input renders to something.
package render
