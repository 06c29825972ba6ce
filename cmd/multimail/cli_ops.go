// cli_ops.go: the parts of the admin CLI that page, confirm and build a send: `queue list`
// with its filters and paging, the confirmation query of deletes, and `send`'s flags
// (--cc, --bcc, --reply-to, --attach), parsed here into a local struct first so the wire
// type can change without touching the parsing.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"mime"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"multimail.dev/multimail/api/wire"
)

// confirmQuery is the query string of a delete: confirm=true only with --yes (without it the
// server answers what the delete would remove, and nothing happens).
func confirmQuery(yes bool) string {
	if yes {
		return "?confirm=true"
	}
	return ""
}

// queueList prints one page (or, with all, every page) of the queue. A further page is
// announced on stderr with the --cursor that fetches it.
func (a *adminCmd) queueList(ctx context.Context, state, mb string, limit int, cursor string, all bool) error {
	if limit < 1 || limit > 200 {
		return fmt.Errorf("%w: --limit must be 1–200 (the API's page size)", errUsage)
	}
	if all && cursor != "" {
		return fmt.Errorf("%w: --all and --cursor do not go together", errUsage)
	}
	c, err := a.ctl.client()
	if err != nil {
		return err
	}
	header := false
	for pages := 0; ; pages++ {
		q := url.Values{}
		q.Set("limit", strconv.Itoa(limit))
		if state != "" {
			q.Set("state", state)
		}
		if mb != "" {
			q.Set("mailbox", mb)
		}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var out wire.MessageList
		raw, err := c.do(ctx, "GET", "/v1/admin/queue?"+q.Encode(), nil, &out)
		if err != nil {
			return err
		}
		if a.ctl.json {
			fmt.Fprintf(a.env.stdout, "%s\n", strings.TrimSpace(string(raw)))
		} else {
			printQueuePage(a.env.stdout, &out, !header)
			header = true
		}
		if out.NextCursor == "" {
			return nil
		}
		if !all {
			fmt.Fprintf(a.env.stderr, "more: multimail queue list --cursor %s (or --all)\n", out.NextCursor)
			return nil
		}
		if pages > 1_000_000 {
			return fmt.Errorf("queue list: more than a million pages")
		}
		cursor = out.NextCursor
	}
}

func printQueuePage(out io.Writer, l *wire.MessageList, header bool) {
	w := newTable(out)
	if header {
		fmt.Fprintln(w, "MESSAGE\tSTATUS\tPRIORITY\tFROM\tRCPTS\tQUEUED\tSUBJECT")
	}
	for _, m := range l.Messages {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", m.MessageID, m.Status, m.Priority, m.MailboxID,
			len(m.Recipients), m.QueuedAt.Format(time.DateTime), m.Subject)
	}
	w.Flush()
}

const sendSynopsis = "send --from A --to B[,C] --subject S (--text T | --html H) [--cc C,…] [--bcc B,…] [--reply-to R] [--attach FILE]… [--priority P] [--tag T,…]"

// sendFlags are `send`'s flags as given.
type sendFlags struct {
	from, to, cc, bcc, replyTo, subject, text, html, prio, tags *string
	attach                                                      multiFlag
}

// multiFlag is a flag that may be repeated (--attach a.pdf --attach b.png).
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func registerSendFlags(fs *flag.FlagSet) *sendFlags {
	f := &sendFlags{
		from:    fs.String("from", "", "the sending mailbox"),
		to:      fs.String("to", "", "comma-separated recipients"),
		cc:      fs.String("cc", "", "comma-separated Cc recipients"),
		bcc:     fs.String("bcc", "", "comma-separated Bcc recipients (delivered, never shown in the headers)"),
		replyTo: fs.String("reply-to", "", "the Reply-To address"),
		subject: fs.String("subject", "", "subject"),
		text:    fs.String("text", "", "plain-text body"),
		html:    fs.String("html", "", "HTML body"),
		prio:    fs.String("priority", "normal", "high, normal or low"),
		tags:    fs.String("tag", "", "comma-separated tags"),
	}
	fs.Var(&f.attach, "attach", "a file to attach (repeatable); its type comes from its extension")
	return f
}

// maxAttach is what the CLI reads of one file; the server has its own, lower, body limit.
const maxAttach = 64 << 20

func (f *sendFlags) request() (wire.SendRequest, error) {
	if *f.from == "" || *f.to == "" || (*f.text == "" && *f.html == "") {
		return wire.SendRequest{}, fmt.Errorf("%w: --from, --to and --text or --html are required", errUsage)
	}
	req := wire.SendRequest{MailboxID: *f.from, To: splitList(*f.to), Cc: splitList(*f.cc), Bcc: splitList(*f.bcc),
		ReplyTo: *f.replyTo, Subject: *f.subject, Text: *f.text, HTML: *f.html, Priority: *f.prio, Tags: splitList(*f.tags)}
	for _, p := range f.attach {
		a, err := readAttachment(p)
		if err != nil {
			return wire.SendRequest{}, err
		}
		req.Attachments = append(req.Attachments, a)
	}
	return req, nil
}

func readAttachment(path string) (wire.Attachment, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return wire.Attachment{}, fmt.Errorf("--attach: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return wire.Attachment{}, fmt.Errorf("--attach %s: not a regular file", path)
	}
	if fi.Size() > maxAttach {
		return wire.Attachment{}, fmt.Errorf("--attach %s: %d bytes, over %d", path, fi.Size(), maxAttach)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return wire.Attachment{}, fmt.Errorf("--attach: %w", err)
	}
	ct := mime.TypeByExtension(filepath.Ext(path))
	if ct == "" {
		ct = "application/octet-stream"
	}
	return wire.Attachment{Filename: filepath.Base(path), ContentType: ct, Content: b}, nil
}

// errCheckFailed is domain check's exit 1 when a record is not ok (the table says which).
var errCheckFailed = errors.New("some records are missing or wrong")

// domainCheck prints each record's live state: ok, missing, wrong (or error), with the
// expected value for every one that is not ok. Exit 1 unless all are ok.
func (a *adminCmd) domainCheck(ctx context.Context, name string) error {
	var out wire.DomainCheck
	err := a.call(ctx, "GET", "/v1/admin/domains/"+url.PathEscape(name)+"/check", nil, &out, func(w io.Writer) {
		fmt.Fprintf(w, "domain %s, resolver %s\n\n", out.Domain, strings.Join(out.Resolver, ", "))
		fmt.Fprintln(w, "RESULT\tPURPOSE\tTYPE\tNAME\tDETAIL")
		for _, c := range out.Records {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", c.Result, c.Purpose, c.Type, c.Name, c.Detail)
		}
	})
	if err != nil {
		return err
	}
	if a.ctl.json {
		if !out.OK {
			return errCheckFailed
		}
		return nil
	}
	for _, c := range out.Records {
		if c.Result == "ok" {
			continue
		}
		fmt.Fprintf(a.env.stdout, "\n%s %s %s: %s\n  expected: %s\n", c.Purpose, c.Type, c.Name, c.Result, c.Expected)
		for _, f := range c.Found {
			fmt.Fprintf(a.env.stdout, "  found:    %s\n", f)
		}
	}
	if !out.OK {
		return errCheckFailed
	}
	fmt.Fprintln(a.env.stdout, "\nevery record is right")
	return nil
}
