package imapserver

import (
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"multimail.dev/multimail/mailbox"
)

// FuzzBodyStructure stores arbitrary bytes as a message (the stored summary
// is parsed then) and fetches its ENVELOPE, BODYSTRUCTURE and first part
// through the real server's writer and go-imap's client parser: the server
// must not panic or drop the connection, and the client must parse what it
// wrote. The seed corpus (hostileMessages and testdata/fuzz) runs as an
// ordinary test.
func FuzzBodyStructure(f *testing.F) {
	f.Add(testMessage(1, "Hello", "body"))
	f.Add("From: a@b.test\r\nTo: Team: a@t.test, b@t.test;, solo@t.test\r\nCc: undisclosed-recipients:;\r\nSubject: =?UTF-8?B?w6lsw6h2ZQ==?=\r\n\r\nbody\r\n")
	for _, m := range hostileMessages {
		f.Add(m.raw)
	}
	e := newEnvStore(f, mailbox.NewMemory(), nil)
	c := e.login(f, nil)
	_, err := c.Select("INBOX", nil).Wait()
	must(f, err)
	items := &imap.FetchOptions{
		UID: true, Envelope: true, RFC822Size: true,
		BodyStructure: &imap.FetchItemBodyStructure{Extended: true},
		BodySection: []*imap.FetchItemBodySection{
			{Part: []int{1}, Peek: true},
			{Specifier: imap.PartSpecifierText, Peek: true},
		},
	}
	f.Fuzz(func(t *testing.T, raw string) {
		em := e.deliver(t, "INBOX", raw, mailbox.DeliverOptions{})
		var msgs []*imapclient.FetchMessageBuffer
		// The session learns of the delivery asynchronously: poll.
		waitFor(t, "the delivery in the session", func() bool {
			must(t, c.Noop().Wait())
			var err error
			msgs, err = c.Fetch(imap.UIDSetNum(imap.UID(em.UID)), items).Collect()
			if err != nil {
				t.Fatalf("UID FETCH: %v", err)
			}
			return len(msgs) > 0
		})
		if len(msgs) != 1 || msgs[0].BodyStructure == nil || msgs[0].Envelope == nil {
			t.Fatalf("UID FETCH = %+v", msgs)
		}
		if msgs[0].RFC822Size != int64(len(raw)) {
			t.Fatalf("RFC822.SIZE = %d, want %d", msgs[0].RFC822Size, len(raw))
		}
		nonEmptyMultiparts(t, msgs[0].BodyStructure)
	})
}

func nonEmptyMultiparts(t *testing.T, bs imap.BodyStructure) {
	switch bs := bs.(type) {
	case *imap.BodyStructureMultiPart:
		if len(bs.Children) == 0 {
			t.Fatalf("multipart/%s without children", bs.Subtype)
		}
		for _, c := range bs.Children {
			nonEmptyMultiparts(t, c)
		}
	case *imap.BodyStructureSinglePart:
		if bs.MessageRFC822 != nil {
			nonEmptyMultiparts(t, bs.MessageRFC822.BodyStructure)
		}
	}
}

// FuzzGroupAddressList feeds arbitrary header values to the group-syntax address parser:
// no panic, and every group it opens is a marker the client parses (checked end to end by
// FuzzBodyStructure, which also fetches ENVELOPE).
func FuzzGroupAddressList(f *testing.F) {
	for _, s := range []string{
		"undisclosed-recipients:;", "Team: a@t.test, b@t.test;, solo@t.test",
		`"Odd: name" <x@y>, G: "q;uote" <a@b>;`, "A:(c;omment) a@b;", "x:", ";", ":;:;",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		l, ok := groupAddressList(v)
		if !ok {
			return
		}
		open := 0
		for _, a := range l {
			switch {
			case a.Mailbox != "" && a.Host == "":
				open++
			case a.Mailbox == "" && a.Host == "" && a.Name == "":
				open--
			}
			if open < 0 || open > 1 {
				t.Fatalf("unbalanced group markers in %q: %+v", v, l)
			}
		}
	})
}
