package e2e

import (
	"crypto/tls"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"multimail.dev/multimail/internal/dovecottest"
)

// appendCmd is an APPEND of msg (CRLF line ends) to INBOX with flags and a fixed date.
func appendCmd(flags, msg string) string {
	msg = strings.ReplaceAll(msg, "\n", "\r\n")
	return fmt.Sprintf("APPEND INBOX (%s) \"05-Dec-2026 10:00:00 +0000\" {%d}\r\n%s", flags, len(msg), msg)
}

// The messages of the differential sessions: plain, group syntax and encoded words, missing
// header fields, MIME with quoted-printable, and quoting trouble in every address part.
var diffMessages = []struct{ flags, msg string }{
	{`\Seen`, "From: Alice Example <alice@a.test>\nTo: bob@b.test\nCc: Carol <carol@c.test>\nSubject: hello world\nDate: Fri, 04 Dec 2026 09:00:00 +0000\nMessage-ID: <m1@a.test>\n\nfirst body line\nsecond line with needle\n"},
	{``, "From: \"Doe, John \\\"JD\\\"\" <john@d.test>\nTo: undisclosed-recipients:;\nBcc: hidden@h.test\nSubject: =?UTF-8?B?w6lsw6h2ZQ==?= report\nDate: Sat, 05 Dec 2026 08:00:00 -0500\nMessage-ID: <m2@d.test>\nIn-Reply-To: <m1@a.test>\n\nbody two\n"},
	{`\Flagged $Label1`, "To: x@y.test (a comment), \"Quoted Name\" <q@y.test>\nReply-To: reply@r.test\nSender: sender@s.test\n\nno from, no date, no subject\n"},
	{`\Answered`, "From: mime@m.test\nTo: Team: a@t.test, b@t.test;, solo@t.test\nSubject: a \"quoted\" \\ thing\nDate: Thu, 03 Dec 2026 12:00:00 +0100\nMIME-Version: 1.0\nContent-Type: multipart/alternative; boundary=\"b1\"\n\n--b1\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\nsoft=\n break and caf=C3=A9 needle\n--b1\nContent-Type: text/html; charset=utf-8\n\n<p>html part</p>\n--b1--\n"},
	{``, "From: <route@r.test>\nTo: plain@p.test\nCc: \"=?ISO-8859-1?Q?Andr=E9?=\" <andre@p.test>\nSubject: =?ISO-8859-1?Q?caf=E9?=\nDate: Wed, 02 Dec 2026 23:59:59 +0000\n\nsmall\n"},
}

// diffSession is the scripted session run against both servers, in order.
var diffSession = []string{
	"NOOP",
	`ID ("name" "multimail-difftest" "version" "1")`,
	"ID NIL",
	"NAMESPACE",
	`LIST "" ""`,
	`LIST "" "*"`,
	`LIST "" "%"`,
	`LIST "" INBOX`,
	`LIST "" "inbox"`,
	`LSUB "" "*"`,
	// multimail creates missing parents (RFC 3501 §6.3.3 "SHOULD"), Dovecot's maildir does
	// not: the session creates them on both.
	`CREATE "a"`,
	`CREATE "a/b"`,
	`CREATE "a/b/c"`,
	`CREATE "with space"`,
	`CREATE "quo\"te"`,
	`CREATE {7}` + "\r\n" + `literal`,
	`CREATE "caf&AOk-"`,
	// multimail subscribes what CREATE makes (RFC 3501 leaves it open); Dovecot does not.
	`SUBSCRIBE "with space"`,
	`SUBSCRIBE "quo\"te"`,
	`SUBSCRIBE literal`,
	`SUBSCRIBE "caf&AOk-"`,
	`LIST "" "*"`,
	`LIST "" "a/%"`,
	`LIST "" "a*"`,
	`LIST "" "%/%"`,
	`UNSUBSCRIBE "a/b/c"`,
	`SUBSCRIBE "a/b/c"`,
	`UNSUBSCRIBE "a"`,
	`UNSUBSCRIBE "a/b"`,
	`LSUB "" "*"`,
	`LSUB "" "%"`,
	`LSUB "" "a/%"`,
	`LIST (SUBSCRIBED) "" "*"`,
	`LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"`,
	`LIST (SPECIAL-USE) "" "*"`,
	`LIST "" "*" RETURN (SPECIAL-USE)`,
	// CREATE-SPECIAL-USE (RFC 6154 §3): every creatable use is held by a default folder, so
	// the session frees \Archive and takes it again. Dovecot 2.3 ignores USE (its Archive
	// gets the attribute from its config, and stays listed while deleted), so the two only
	// agree when DELETE and CREATE come together; the refused uses are at the end.
	`DELETE "Archive"`,
	`CREATE "Archive" (USE (\Archive))`,
	`LIST "" "Archive" RETURN (SPECIAL-USE)`,
	`LIST (SPECIAL-USE) "" "*"`,
	`LIST "" "%" RETURN (CHILDREN)`,
	`LIST "" "%" RETURN (SUBSCRIBED)`,
	`LIST "" ("INBOX" "Sent")`,
	`LIST "" "Sent" RETURN (STATUS (MESSAGES UIDNEXT UNSEEN))`,
	`LIST (REMOTE) "" "Trash"`,
	`LIST (BOGUS) "" "*"`,
	`DELETE "a/b"`,
	`LIST "" "a/*"`,
	`RENAME "with space" "renamed space"`,
	`RENAME "nosuch" "x"`,
	`RENAME "renamed space" "INBOX"`,
	`DELETE "nosuch"`,
	`CREATE "INBOX"`,
	`CREATE "Sent"`,
	`STATUS INBOX (MESSAGES UIDNEXT UNSEEN)`,
	appendCmd(diffMessages[0].flags, diffMessages[0].msg),
	appendCmd(diffMessages[1].flags, diffMessages[1].msg),
	appendCmd(diffMessages[2].flags, diffMessages[2].msg),
	appendCmd(diffMessages[3].flags, diffMessages[3].msg),
	appendCmd(diffMessages[4].flags, diffMessages[4].msg),
	`APPEND nosuch {5}` + "\r\nhello",
	`STATUS INBOX (MESSAGES UIDNEXT UNSEEN SIZE)`,
	`STATUS nosuch (MESSAGES)`,
	`EXAMINE INBOX`,
	`STORE 1 +FLAGS (\Deleted)`,
	`SELECT INBOX`,
	`FETCH 1:* (UID FLAGS RFC822.SIZE INTERNALDATE)`,
	`FETCH 1:* ENVELOPE`,
	`FETCH 1:* BODYSTRUCTURE`,
	`FETCH 1:* BODY`,
	`FETCH 4 (BODY.PEEK[1] BODY.PEEK[1.MIME] BODY.PEEK[2])`,
	`FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT FROM)] BODY.PEEK[TEXT]<0.10>)`,
	`FETCH 1 (BODY.PEEK[HEADER.FIELDS.NOT (SUBJECT FROM DATE MESSAGE-ID)])`,
	`FETCH 2 RFC822.HEADER`,
	`FETCH 2 FAST`,
	`FETCH 3 ALL`,
	`FETCH 3 FULL`,
	`FETCH 9 FLAGS`,
	`UID FETCH 9 FLAGS`,
	`UID FETCH 1:* (FLAGS)`,
	`FETCH 2 BODY[]`,
	`FETCH 2 FLAGS`,
	`STORE 2 -FLAGS (\Seen)`,
	`STORE 1:2 +FLAGS (\Flagged custom)`,
	`STORE 1 -FLAGS.SILENT (\Flagged)`,
	`STORE 3 FLAGS ($Label2)`,
	`UID STORE 4 +FLAGS.SILENT (\Draft)`,
	`STORE 1 +FLAGS (\Recent)`,
	`FETCH 1:* FLAGS`,
	`SEARCH ALL`,
	`SEARCH FROM alice`,
	`SEARCH FROM "Doe, John"`,
	`SEARCH FROM "john@d.test"`,
	`SEARCH TO bob`,
	`SEARCH TO t.test`,
	`SEARCH CC carol`,
	`SEARCH CC andre`,
	`SEARCH BCC hidden`,
	`SEARCH SUBJECT hello`,
	`SEARCH SUBJECT "quoted"`,
	`SEARCH SUBJECT café`,
	`SEARCH CHARSET UTF-8 SUBJECT {5}` + "\r\ncaf\xc3\xa9",
	`SEARCH HEADER Message-ID m2`,
	`SEARCH HEADER Reply-To ""`,
	`SEARCH BODY needle`,
	`SEARCH TEXT needle`,
	`SEARCH TEXT reply@r.test`,
	`SEARCH SEEN`,
	`SEARCH UNSEEN`,
	`SEARCH FLAGGED`,
	`SEARCH KEYWORD custom`,
	`SEARCH UNKEYWORD custom`,
	`SEARCH ANSWERED DRAFT`,
	`SEARCH NOT FROM alice`,
	`SEARCH OR FROM alice TO plain`,
	`SEARCH LARGER 300`,
	`SEARCH SMALLER 300`,
	`SEARCH SENTSINCE 3-Dec-2026`,
	`SEARCH SENTBEFORE 3-Dec-2026`,
	`SEARCH SINCE 1-Jan-2020`,
	`SEARCH 2:4`,
	`SEARCH UID 3:*`,
	`UID SEARCH ALL`,
	`SEARCH RETURN (MIN MAX COUNT) ALL`,
	`SEARCH RETURN (ALL) FROM alice`,
	`SEARCH RETURN () SEEN`,
	`UID SEARCH RETURN (COUNT) NOT SEEN`,
	`SEARCH RETURN (SAVE) FROM alice`,
	`FETCH $ FLAGS`,
	`SEARCH BOGUS`,
	`COPY 1 Archive`,
	`UID COPY 2:3 Archive`,
	`COPY 1 nosuch`,
	`STATUS Archive (MESSAGES UIDNEXT)`,
	`MOVE 5 Trash`,
	`FETCH 1:* UID`,
	`UID MOVE 4 Trash`,
	`UID MOVE 99 Trash`,
	`STORE 1 +FLAGS.SILENT (\Deleted)`,
	`UID EXPUNGE 2`,
	`EXPUNGE`,
	`FETCH 1:* (UID FLAGS)`,
	`CHECK`,
	`ENABLE CONDSTORE`,
	`UNSELECT`,
	`SELECT Trash`,
	`FETCH 1:* (UID FLAGS ENVELOPE)`,
	`STORE 1 +FLAGS.SILENT (\Deleted)`,
	`CLOSE`,
	`STATUS Trash (MESSAGES)`,
	`EXAMINE Archive`,
	`STORE 1 +FLAGS (\Seen)`,
	`IDLE`,
	`UNSELECT`,
	`FETCH 1 FLAGS`,
	`SELECT nosuch`,
	`DELETE "a/b/c"`,
	`DELETE "a"`,
	`DELETE "INBOX"`,
	`LIST "" "*"`,
	// SORT, THREAD and ESORT (RFC 5256, 5957, 5267) over a folder of their own.
	`CREATE "threads"`,
	appendTo("threads", "01-Dec-2026 01:00:00 +0000", "From: Alice A <alice@x.test>\nTo: bob@x.test\nCc: Zed <zed@x.test>\nSubject: Plans\nDate: Tue, 01 Dec 2026 10:00:00 +0000\nMessage-ID: <t1@x.test>\n\nbody one\n"),
	appendTo("threads", "01-Dec-2026 04:00:00 +0000", "From: carol@x.test\nTo: zed@x.test\nSubject: Re: Plans\nDate: Thu, 03 Dec 2026 10:00:00 +0000\nMessage-ID: <t2@x.test>\nReferences: <t1@x.test>\n\nbody two, longer than the others\n"),
	appendTo("threads", "01-Dec-2026 03:00:00 +0000", "From: bob@x.test\nTo: amy@x.test\nCc: carl@x.test\nSubject: Fwd: Plans\nDate: Wed, 02 Dec 2026 10:00:00 +0000\nMessage-ID: <t3@x.test>\nReferences: <t1@x.test> <t2@x.test>\n\nb3\n"),
	appendTo("threads", "01-Dec-2026 02:00:00 +0000", "From: dave@x.test\nTo: carl@x.test\nSubject: [list] Lunch\nMessage-ID: <t4@x.test>\n\nno date\n"),
	appendTo("threads", "01-Dec-2026 05:00:00 +0000", "From: Erin <erin@x.test>\nTo: bob@x.test\nSubject: Re: Lunch\nDate: Sat, 05 Dec 2026 10:00:00 +0000\nMessage-ID: <t5@x.test>\nIn-Reply-To: <gone@x.test>\n\nb5\n"),
	appendTo("threads", "01-Dec-2026 06:00:00 +0000", "From: alice@x.test\nTo: Yann <yann@x.test>\nSubject: unrelated\nDate: Fri, 04 Dec 2026 10:00:00 +0000\nMessage-ID: <t6@x.test>\n\nb6 body\n"),
	appendTo("threads", "01-Dec-2026 07:00:00 +0000", "From: Frank <frank@x.test>\nTo: bob@x.test\nSubject: Plans\nDate: Sun, 06 Dec 2026 10:00:00 +0000\nMessage-ID: <t1@x.test>\n\nduplicate message-id\n"),
	appendTo("threads", "01-Dec-2026 08:00:00 +0000", "From: gina@x.test\nTo: bob@x.test\nSubject: Re: unrelated\nDate: Mon, 07 Dec 2026 10:00:00 +0000\n\nno message-id\n"),
	appendTo("threads", "01-Dec-2026 09:00:00 +0000", "From: hal@x.test\nTo: bob@x.test\nSubject: orphan\nDate: Tue, 08 Dec 2026 10:00:00 +0000\nMessage-ID: <t9@x.test>\nReferences: <lost@x.test>\n\nb9\n"),
	appendTo("threads", "01-Dec-2026 10:00:00 +0000", "From: ian@x.test\nTo: bob@x.test\nSubject: other orphan\nDate: Wed, 09 Dec 2026 10:00:00 +0000\nMessage-ID: <t10@x.test>\nReferences: <lost@x.test>\n\nb10\n"),
	appendTo("threads", "01-Dec-2026 11:00:00 +0000", "From: jo@x.test\nTo: bob@x.test\nSubject: [fwd: Lunch]\nDate: Thu, 10 Dec 2026 10:00:00 +0000\nMessage-ID: <t11@x.test>\n\nb11\n"),
	`SELECT "threads"`,
	`SORT (ARRIVAL) UTF-8 ALL`,
	`SORT (REVERSE ARRIVAL) UTF-8 ALL`,
	`SORT (DATE) UTF-8 ALL`,
	`SORT (REVERSE DATE) UTF-8 ALL`,
	`SORT (FROM) UTF-8 ALL`,
	`SORT (TO) UTF-8 ALL`,
	`SORT (CC) UTF-8 ALL`,
	`SORT (SUBJECT) UTF-8 ALL`,
	`SORT (SUBJECT REVERSE DATE) UTF-8 ALL`,
	`SORT (SIZE) UTF-8 ALL`,
	`SORT (DISPLAYFROM) UTF-8 ALL`,
	`SORT (DISPLAYTO) UTF-8 ALL`,
	`SORT (DATE) US-ASCII FROM bob`,
	`UID SORT (REVERSE SUBJECT ARRIVAL) UTF-8 2:*`,
	`SORT RETURN (MIN MAX COUNT) (DATE) UTF-8 ALL`,
	`SORT RETURN (ALL) (ARRIVAL) UTF-8 ALL`,
	`UID SORT RETURN (COUNT) (DATE) UTF-8 SUBJECT nothing`,
	`SORT (BOGUS) UTF-8 ALL`,
	`SORT (DATE) KOI8-R ALL`,
	`THREAD REFERENCES UTF-8 ALL`,
	`UID THREAD REFERENCES UTF-8 ALL`,
	`THREAD REFERENCES UTF-8 2:3`,
	`THREAD REFERENCES UTF-8 SUBJECT nothing`,
	`THREAD ORDEREDSUBJECT UTF-8 ALL`,
	`THREAD BOGUS UTF-8 ALL`,
	// MULTIAPPEND (RFC 3502): several messages in one APPEND, into the selected folder and
	// another one; refused whole for a missing folder.
	multiAppend("threads", "From: a@x.test\nSubject: multi one\n\n1\n", "From: b@x.test\nSubject: Re: multi one\n\n2\n"),
	multiAppend("Archive", "Subject: a1\n\n1\n", "Subject: a2\n\n2\n", "Subject: a3\n\n3\n"),
	multiAppend("nosuch", "Subject: n1\n\n1\n", "Subject: n2\n\n2\n"),
	`STATUS Archive (MESSAGES)`,
	`SORT (SUBJECT) UTF-8 SUBJECT multi`,
	`COMPRESS LZMA`,
	// Display names with encoded words, quoted or not, pass through ENVELOPE as written.
	appendTo("threads", "02-Dec-2026 01:00:00 +0000", "From: =?UTF-8?B?w6lsw6h2ZQ==?= <e@x.test>\nTo: \"=?ISO-8859-1?Q?Andr=E9?=\" <andre@p.test>, =?utf-8?q?Caf=C3=A9?= Owner <c@x.test>, \"Quoted \\\"Name\\\"\" <q@x.test>\nReply-To: \"=?utf-8?q?a?=\" <r@x.test>\nSubject: =?UTF-8?Q?encoded?=\n\nb\n"),
	`FETCH * ENVELOPE`,
	// BINARY (RFC 3516): decoded parts and their sizes, unknown encodings, literal8 APPEND.
	appendTo("threads", "02-Dec-2026 02:00:00 +0000", "From: bin@x.test\nSubject: binary parts\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"bb\"\n\n--bb\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\ncaf=C3=A9 and a soft=\n break\n--bb\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\nAAECAwQFBgcICf8=\n--bb\nContent-Type: text/plain\nContent-Transfer-Encoding: x-unknown\n\nodd\n--bb\nContent-Type: text/plain\n\nplain 7bit\n--bb--\n"),
	`FETCH * BINARY.PEEK[1]`,
	`FETCH * BINARY.PEEK[2]`,
	`FETCH * BINARY.SIZE[1]`,
	`FETCH * BINARY.SIZE[2]`,
	`FETCH * BINARY.SIZE[4]`,
	`FETCH * BINARY.PEEK[4]`,
	`FETCH * BINARY.PEEK[1]<2.5>`,
	`FETCH * BINARY.PEEK[3]`,
	`FETCH * BINARY.SIZE[3]`,
	`UNSELECT`,
	`DELETE "threads"`,
	// CONTEXT=SEARCH (RFC 5267 §4): PARTIAL, UPDATE contexts kept up to date by this
	// session's own STORE, APPEND and EXPUNGE, CANCELUPDATE.
	`CREATE "ctx"`,
	appendTo("ctx", "01-Dec-2026 01:00:00 +0000", "Subject: c1\n\n1\n"),
	appendTo("ctx", "01-Dec-2026 02:00:00 +0000", "Subject: c2\n\n2\n"),
	appendTo("ctx", "01-Dec-2026 03:00:00 +0000", "Subject: c3\n\n3\n"),
	appendTo("ctx", "01-Dec-2026 04:00:00 +0000", "Subject: c4\n\n4\n"),
	`SELECT "ctx"`,
	`STORE 2 +FLAGS.SILENT (\Seen)`,
	`SEARCH RETURN (PARTIAL 2:3) ALL`,
	`SEARCH RETURN (PARTIAL 3:2 COUNT) ALL`,
	`UID SEARCH RETURN (PARTIAL 3:9) ALL`,
	`SEARCH RETURN (PARTIAL 10:20) ALL`,
	`SEARCH RETURN (PARTIAL 1:2 ALL) ALL`,
	`SEARCH RETURN (PARTIAL 0:2) ALL`,
	`SEARCH RETURN (CONTEXT COUNT) ALL`,
	`SORT RETURN (PARTIAL 1:2) (ARRIVAL) UTF-8 ALL`,
	`SEARCH RETURN (UPDATE) UNSEEN`,
	`UID SEARCH RETURN (UPDATE COUNT) UNSEEN`,
	`SEARCH RETURN (UPDATE MIN) SEEN`,
	`STORE 3 +FLAGS (\Seen)`,
	`STORE 3 -FLAGS (\Seen)`,
	appendTo("ctx", "01-Dec-2026 05:00:00 +0000", "Subject: c5\n\n5\n"),
	`STORE 1 +FLAGS.SILENT (\Deleted)`,
	`EXPUNGE`,
	`CANCELUPDATE "nosuch"`,
	`CANCELUPDATE nosuch`,
	`UNSELECT`,
	`DELETE "ctx"`,
	// Refused special uses, last: Dovecot creates the folder (it ignores USE), which would
	// change every later LIST.
	`CREATE "all" (USE (\All))`,
	`CREATE "Sent2" (USE (\Sent))`,
}

// multiAppend is one APPEND of several messages (RFC 3502), the first \Seen, the others
// with a fixed INTERNALDATE.
func multiAppend(folder string, msgs ...string) string {
	cmd := "APPEND " + folder
	for i, msg := range msgs {
		msg = strings.ReplaceAll(msg, "\n", "\r\n")
		if i == 0 {
			cmd += " (\\Seen)"
		} else {
			cmd += ` "06-Dec-2026 10:00:00 +0000"`
		}
		cmd += fmt.Sprintf(" {%d}\r\n%s", len(msg), msg)
	}
	return cmd
}

// appendTo is an APPEND of msg (CRLF line ends) to folder with an INTERNALDATE.
func appendTo(folder, date, msg string) string {
	msg = strings.ReplaceAll(msg, "\n", "\r\n")
	return fmt.Sprintf("APPEND %s () %q {%d}\r\n%s", folder, date, len(msg), msg)
}

// allowedIMAPDiffs are the differences from Dovecot the RFCs allow, by command; each says why.
// docs/imap.md carries the same table.
var allowedIMAPDiffs = map[string]string{
	// RFC 3501 §6.3.4: deleting a name with inferiors removes its messages and leaves it
	// \Noselect; Dovecot's maildir keeps it selectable.
	`LIST "" "a/*"`: "DELETE of a folder with children leaves it \\Noselect (RFC 3501 §6.3.4); Dovecot's maildir keeps it",
	// RFC 9051 §6.4.6 lets a server refuse STORE in a read-only (EXAMINE) mailbox; Dovecot
	// ignores it silently.
	`STORE 1 +FLAGS (\Deleted)`: "STORE after EXAMINE is NO [CANNOT]; Dovecot answers OK and changes nothing",
	`STORE 1 +FLAGS (\Seen)`:    "STORE after EXAMINE is NO [CANNOT]; Dovecot answers OK and changes nothing",
	// 8-bit bytes in a SEARCH string without CHARSET: multimail reads them as UTF-8 (being
	// liberal in what it accepts), Dovecot refuses the syntax.
	`SEARCH SUBJECT café`: "8-bit SEARCH string without CHARSET read as UTF-8; Dovecot answers BAD",
	// RFC 3501 §6.4.4 defines SENTBEFORE on the Date: header; for a message without one
	// Dovecot falls back to a date before any other, multimail does not match it.
	`SEARCH SENTBEFORE 3-Dec-2026`: "a message without Date: matches no SENT* key; Dovecot takes it as older than any date",
	// RFC 5256 §3: a server answers NO [BADCHARSET] for a charset it does not support;
	// multimail supports UTF-8 and US-ASCII, Dovecot every charset iconv knows.
	`SORT (DATE) KOI8-R ALL`: "SORT charsets are UTF-8 and US-ASCII (NO [BADCHARSET]); Dovecot converts any iconv knows",
	// RFC 5256 §5: thread-data = "THREAD" [SP 1*thread-list]; Dovecot sends "* THREAD "
	// (a trailing space) for an empty answer.
	`THREAD REFERENCES UTF-8 SUBJECT nothing`: "an empty THREAD answer is \"* THREAD\" (RFC 5256 §5); Dovecot adds a trailing space",
	// RFC 4978 §3: BAD is "command unknown or invalid argument".
	`COMPRESS LZMA`: "an unknown COMPRESS algorithm is BAD (RFC 4978 §3: invalid argument); Dovecot answers NO",
	// RFC 3516 §4.3: UNKNOWN-CTE is about the part fetched; Dovecot 2.3 refuses BINARY.SIZE of
	// every part of a message that has one part in an unknown encoding.
	`FETCH * BINARY.SIZE[1]`: "BINARY.SIZE of a decodable part of a message with another part in an unknown encoding: answered; Dovecot NO [UNKNOWN-CTE]",
	`FETCH * BINARY.SIZE[2]`: "BINARY.SIZE of a decodable part of a message with another part in an unknown encoding: answered; Dovecot NO [UNKNOWN-CTE]",
	`FETCH * BINARY.SIZE[4]`: "BINARY.SIZE of a decodable part of a message with another part in an unknown encoding: answered; Dovecot NO [UNKNOWN-CTE]",
	// RFC 3516 §4.2: BINARY's value is nstring or literal8; multimail always sends literal8.
	`FETCH * BINARY.PEEK[4]`: "BINARY of a 7-bit part as literal8 (~{n}); Dovecot sends a quoted string (RFC 3516 allows both)",
	// RFC 6154 §3: a server that cannot give a folder the special use asked for MUST NOT
	// create it and answers NO (SHOULD with [USEATTR]). Dovecot 2.3 does not advertise
	// CREATE-SPECIAL-USE, ignores USE and creates a plain folder.
	`CREATE "all" (USE (\All))`:    "a virtual special use (\\All) is NO [USEATTR] and creates nothing (RFC 6154 §3); Dovecot ignores USE and creates the folder",
	`CREATE "Sent2" (USE (\Sent))`: "a special use another folder holds is NO [USEATTR] and creates nothing (RFC 6154 §3); Dovecot ignores USE and creates the folder",
}

// TestIMAPDifferentialDovecot runs the same scripted session against Dovecot (dovecot-imapd,
// started on loopback with a throwaway config) and the real multimail binary, and compares the
// normalised responses of every command: any difference not in allowedIMAPDiffs fails.
func TestIMAPDifferentialDovecot(t *testing.T) {
	t.Parallel()
	dv := dovecottest.Start(t)
	n := Start(t, Options{})
	mm := DialRawIMAP(t, Addr(n.Ports.IMAPS), &tls.Config{InsecureSkipVerify: true})
	ref := DialRawIMAP(t, dv.Addr, nil)
	if r := mm.Do(fmt.Sprintf(`LOGIN %s %s`, Sender, Password)); !strings.HasSuffix(r[len(r)-1], "OK") && !strings.Contains(r[len(r)-1], " OK ") {
		t.Fatalf("multimail LOGIN: %q", r)
	}
	if r := ref.Do(fmt.Sprintf(`LOGIN %s %s`, Sender, dovecottest.Password)); !strings.HasSuffix(r[len(r)-1], "OK") && !strings.Contains(r[len(r)-1], " OK ") {
		t.Fatalf("dovecot LOGIN: %q", r)
	}
	// Every capability multimail advertises is one Dovecot has, but for the few it lacks.
	// CREATE-SPECIAL-USE: Dovecot 2.3 has none; the session checks multimail's answers.
	// CONTEXT=SORT: Dovecot 2.3 takes SORT RETURN (UPDATE) without advertising it and then
	// reports position 0, which RFC 5267 §4.3.3 allows only for SEARCH; TestContextSortUpdate
	// (mailbox/imapserver) checks multimail's sort positions.
	refCaps := capSet(ref.Do("CAPABILITY"))
	for _, c := range capSet(mm.Do("CAPABILITY")) {
		if !slices.Contains(refCaps, c) && c != "IMAP4rev2" && c != "UTF8=ACCEPT" && c != "LITERAL-" && c != "CONTEXT=SORT" && c != "CREATE-SPECIAL-USE" && !strings.HasPrefix(c, "APPENDLIMIT=") {
			t.Errorf("multimail advertises %s, which the differential test cannot check against Dovecot (%v)", c, refCaps)
		}
	}
	failed := diffIMAP(t, mm, ref, diffSession, allowedIMAPDiffs)
	if len(failed) > 0 {
		t.Errorf("%d commands answered differently from Dovecot:\n%s", len(failed), strings.Join(failed, "\n"))
	}
}

// diffIMAP sends each command to multimail and to Dovecot and returns the differences of
// their normalised answers that neither an optional RFC 5530 code nor allowed explains.
func diffIMAP(t *testing.T, mm, ref *RawIMAP, cmds []string, allowed map[string]string) []string {
	t.Helper()
	var failed []string
	for _, cmd := range cmds {
		got, want := NormaliseIMAP(cmd, mm.Do(cmd)), NormaliseIMAP(cmd, ref.Do(cmd))
		if strings.Join(got, "\n") == strings.Join(want, "\n") {
			continue
		}
		if strings.Join(withoutFailureCodes(got), "\n") == strings.Join(withoutFailureCodes(want), "\n") {
			t.Logf("allowed difference (failure response code, RFC 5530 codes are optional): %s: dovecot %q, multimail %q", shortCmd(cmd), want[len(want)-1], got[len(got)-1])
			continue
		}
		msg := fmt.Sprintf("%s\n  dovecot:   %s\n  multimail: %s", shortCmd(cmd), strings.Join(want, "\n             "), strings.Join(got, "\n             "))
		if why, ok := allowed[cmd]; ok {
			t.Logf("allowed difference (%s): %s", why, msg)
			continue
		}
		failed = append(failed, msg)
	}
	return failed
}

func shortCmd(cmd string) string {
	if i := strings.Index(cmd, "\r\n"); i >= 0 {
		return cmd[:i] + " …"
	}
	return cmd
}

// capSet parses a CAPABILITY response into its names.
func capSet(units []string) []string {
	var caps []string
	for _, u := range units {
		if strings.HasPrefix(u, "* CAPABILITY ") {
			caps = append(caps, strings.Fields(strings.TrimPrefix(u, "* CAPABILITY "))...)
		}
	}
	sort.Strings(caps)
	return caps
}

// TestIMAPExpungedByOtherSessionDovecot checks RFC 2180 §4 against Dovecot: session B keeps
// numbering a message session A expunged until B may hear of it, and FETCH, STORE, COPY and
// SEARCH on it in B answer as Dovecot does (no NO [NONEXISTENT], which is about mailboxes).
func TestIMAPExpungedByOtherSessionDovecot(t *testing.T) {
	t.Parallel()
	dv := dovecottest.Start(t)
	n := Start(t, Options{})
	tc := &tls.Config{InsecureSkipVerify: true}
	type pair struct{ a, b *RawIMAP }
	servers := []struct {
		name string
		p    pair
	}{
		{"dovecot", pair{DialRawIMAP(t, dv.Addr, nil), DialRawIMAP(t, dv.Addr, nil)}},
		{"multimail", pair{DialRawIMAP(t, Addr(n.Ports.IMAPS), tc), DialRawIMAP(t, Addr(n.Ports.IMAPS), tc)}},
	}
	for _, s := range servers {
		pw := Password
		if s.name == "dovecot" {
			pw = dovecottest.Password
		}
		for _, c := range []*RawIMAP{s.p.a, s.p.b} {
			if r := c.Do(fmt.Sprintf("LOGIN %s %s", Sender, pw)); !strings.Contains(r[len(r)-1], " OK") {
				t.Fatalf("%s LOGIN: %q", s.name, r)
			}
		}
		s.p.a.Do(`CREATE rfc2180`)
		for i := 1; i <= 3; i++ {
			s.p.a.Do(strings.Replace(appendCmd("", fmt.Sprintf("Subject: m%d\n\nbody %d\n", i, i)), "INBOX", "rfc2180", 1))
		}
		s.p.a.Do(`SELECT rfc2180`)
		s.p.b.Do(`SELECT rfc2180`)
		s.p.a.Do(`STORE 2 +FLAGS.SILENT (\Deleted)`)
		s.p.a.Do(`EXPUNGE`)
	}
	// For the first four, Dovecot sends the last flags it knew of the expunged message (and
	// BODY[] NIL); multimail sends nothing for it: RFC 2180 §4.1.3 allows both, so only the
	// tagged answers are compared there.
	tagOnly := map[string]bool{`FETCH 2 FLAGS`: true, `FETCH 2 BODY.PEEK[]`: true, `FETCH 1:3 (UID FLAGS)`: true, `STORE 2 +FLAGS (\Seen)`: true}
	steps := []string{
		`FETCH 2 FLAGS`,
		`FETCH 2 BODY.PEEK[]`,
		`FETCH 1:3 (UID FLAGS)`,
		`STORE 2 +FLAGS (\Seen)`,
		`STORE 1:3 +FLAGS.SILENT (\Flagged)`,
		`UID STORE 2 +FLAGS (\Answered)`,
		`COPY 2 Archive`,
		`SEARCH ALL`,
		`NOOP`,
		`FETCH 1:* (UID FLAGS)`,
	}
	var failed []string
	for _, cmd := range steps {
		want := NormaliseIMAP(cmd, servers[0].p.b.Do(cmd))
		got := NormaliseIMAP(cmd, servers[1].p.b.Do(cmd))
		t.Logf("%s\n  dovecot:   %s\n  multimail: %s", cmd, strings.Join(want, " | "), strings.Join(got, " | "))
		if tagOnly[cmd] {
			got, want = got[len(got)-1:], want[len(want)-1:]
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") && strings.Join(withoutFailureCodes(got), "\n") != strings.Join(withoutFailureCodes(want), "\n") {
			failed = append(failed, cmd)
		}
		for _, l := range got {
			if strings.Contains(l, "NONEXISTENT") {
				t.Errorf("%s: %s (NONEXISTENT is for mailboxes)", cmd, l)
			}
		}
	}
	if len(failed) > 0 {
		t.Errorf("answered differently from Dovecot: %q", failed)
	}
}
