package storetest

import (
	"context"
	"fmt"
	"testing"

	"multimail.dev/multimail/mailbox"
)

// textMsg builds a message with extra header lines and a body already in its
// transfer encoding (cte, "" for 7bit) or, with a boundary, whole MIME parts.
func textMsg(subject, extra, ctype, cte, body string) []byte {
	h := "From: Alice <alice@example.org>\r\nTo: bob@example.com\r\nSubject: " + subject +
		"\r\nMessage-ID: <" + subject + "@example.org>\r\nDate: Mon, 02 Jan 2006 15:04:05 +0000\r\n" +
		"MIME-Version: 1.0\r\n" + extra + "Content-Type: " + ctype + "\r\n"
	if cte != "" {
		h += "Content-Transfer-Encoding: " + cte + "\r\n"
	}
	return []byte(h + "\r\n" + body)
}

// testQueryText checks Query.Text: IMAP SEARCH TEXT over the decoded
// message, case-insensitive, with the usual order, filters and cursor. A store
// with a full-text index is checked before and after it has indexed.
func testQueryText(t *testing.T, s mailbox.Store) {
	c, mb := ctx(t), "a@example.com"
	addMailbox(t, s, mb)
	addMailbox(t, s, "other@example.com")
	d := func(folder string, i int, raw []byte, kws ...string) {
		t.Helper()
		_, err := s.Deliver(c, mb, folder, raw, mailbox.DeliverOptions{InternalDate: at(i), Keywords: kws})
		must(t, err)
	}
	plain := "text/plain; charset=utf-8"
	d("INBOX", 1, textMsg("qp", "", plain, "quoted-printable", "caf=C3=A9 Zebra=\r\nfish here\r\n"))
	d("INBOX", 2, textMsg("b64", "", plain, "base64", "dGhlIGhpZGRlbiBQYW5nb2xpbiB3b3Jk\r\n")) // "the hidden Pangolin word"
	d("Archive", 3, textMsg("hdr", "X-Note: Okapi sighting\r\nX-Code: q7\r\n", plain, "", "Nothing to see.\r\n"))
	d("INBOX", 4, textMsg("attach", "", `multipart/mixed; boundary="b"`, "",
		"--b\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n--b\r\nContent-Type: application/octet-stream\r\n"+
			"Content-Transfer-Encoding: base64\r\n\r\ncGFuZ29saW4=\r\n--b--\r\n")) // "pangolin", not text: not searched
	for i := range 5 {
		var kws []string
		if i%2 == 1 {
			kws = []string{"Odd"}
		}
		d("INBOX", 10+2*i, textMsg(fmt.Sprint("marmot", i), "", plain, "", "a Marmot appears\r\n"), kws...)
		d("INBOX", 11+2*i, textMsg(fmt.Sprint("filler", i), "", plain, "", "just filler\r\n"), "odd")
	}
	_, err := s.Deliver(c, "other@example.com", "INBOX", textMsg("theirs", "", plain, "", "zebrafish pangolin\r\n"),
		mailbox.DeliverOptions{InternalDate: at(50)})
	must(t, err)

	checkQueryText(t, s, mb)
	if w, ok := s.(interface{ WaitIndexed(context.Context) error }); ok {
		must(t, w.WaitIndexed(c))
		t.Run("indexed", func(t *testing.T) { checkQueryText(t, s, mb) })
	}
}

func checkQueryText(t *testing.T, s mailbox.Store, mb string) {
	marmots := []string{"marmot4", "marmot3", "marmot2", "marmot1", "marmot0"}
	cases := []struct {
		name string
		q    mailbox.Query
		want []string
	}{
		{"quoted-printable soft break", mailbox.Query{Text: "zebrafish"}, []string{"qp"}},
		{"decoded charset", mailbox.Query{Text: "CAFÉ"}, []string{"qp"}},
		{"base64 any case", mailbox.Query{Text: "pAnGoLiN"}, []string{"b64"}},
		{"header value", mailbox.Query{Text: "OKAPI SIGHTING"}, []string{"hdr"}},
		{"short needle", mailbox.Query{Text: "Q7"}, []string{"hdr"}},
		{"subject header", mailbox.Query{Text: "b64"}, []string{"b64"}},
		{"no match", mailbox.Query{Text: "wombat"}, nil},
		{"raw encoding not searched", mailbox.Query{Text: "cGFuZ29saW4"}, nil},
		{"with folder", mailbox.Query{Text: "okapi", Folder: "INBOX"}, nil},
		{"all matches", mailbox.Query{Text: "marmot"}, marmots},
		{"with tag", mailbox.Query{Text: "marmot", Tag: "ODD"}, []string{"marmot3", "marmot1"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.q.Mailbox = mb
			got, next, err := s.Query(ctx(t), tc.q)
			must(t, err)
			equal(t, "subjects", subjects(got), tc.want)
			if next != "" {
				t.Fatalf("a partial page under the scan budget has a cursor %q", next)
			}
		})
	}
	t.Run("paged", func(t *testing.T) {
		var got []string
		cursor := ""
		for pages := 0; ; pages++ {
			if pages > 5 {
				t.Fatal("cursor does not advance")
			}
			page, next, err := s.Query(ctx(t), mailbox.Query{Mailbox: mb, Text: "MARMOT", Limit: 2, Cursor: cursor})
			must(t, err)
			if len(page) > 2 || (next != "" && len(page) != 2) {
				t.Fatalf("page of %d with cursor %q", len(page), next)
			}
			got = append(got, subjects(page)...)
			if next == "" {
				break
			}
			cursor = next
		}
		equal(t, "pages", got, marmots)
	})
}
