// admin.go: the admin subcommands (docs/operations.md). Each one is a client of the running
// server's admin socket (ctl.go); output is a readable table, or JSON with --json.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"multimail.dev/multimail/api/wire"
)

// parseInterleaved parses flags that may come before or after positional arguments
// (`mailbox add ADDRESS --oversight MODE`), which the flag package alone does not allow.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// adminCmd is the shared frame of an admin command: flags, a verb, a client.
type adminCmd struct {
	env  *cliEnv
	fs   *flag.FlagSet
	ctl  ctlFlags
	args []string
}

func newAdminCmd(env *cliEnv, name, synopsis string) *adminCmd {
	a := &adminCmd{env: env, fs: newFlags(env, name, synopsis)}
	a.ctl.register(a.fs)
	return a
}

// parse parses args and checks the verb is one of verbs; it returns the verb.
func (a *adminCmd) parse(args []string, verbs ...string) (string, error) {
	pos, err := parseInterleaved(a.fs, args)
	if err != nil {
		return "", err
	}
	if len(pos) == 0 {
		a.fs.Usage()
		return "", fmt.Errorf("%w: missing action (%s)", errUsage, strings.Join(verbs, ", "))
	}
	for _, v := range verbs {
		if pos[0] == v {
			a.args = pos[1:]
			return v, nil
		}
	}
	return "", fmt.Errorf("%w: unknown action %q (want %s)", errUsage, pos[0], strings.Join(verbs, ", "))
}

// arg returns the one positional argument after the verb.
func (a *adminCmd) arg(what string) (string, error) {
	if len(a.args) != 1 {
		return "", fmt.Errorf("%w: want exactly one %s", errUsage, what)
	}
	return a.args[0], nil
}

// call runs one request and prints the answer with show, or as JSON with --json.
func (a *adminCmd) call(ctx context.Context, method, path string, in, out any, show func(w io.Writer)) error {
	c, err := a.ctl.client()
	if err != nil {
		return err
	}
	raw, err := c.do(ctx, method, path, in, out)
	if err != nil {
		return err
	}
	if a.ctl.json {
		_, err = fmt.Fprintf(a.env.stdout, "%s\n", strings.TrimSpace(string(raw)))
		return err
	}
	tw := newTable(a.env.stdout)
	show(tw)
	return tw.Flush()
}

// newTable is the CLI's table writer.
func newTable(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 2, 4, 2, ' ', 0) }

func cmdDomain(ctx context.Context, env *cliEnv, args []string) error {
	a := newAdminCmd(env, "domain", "domain add NAME [--selector S] [--key-type rsa|ed25519] | domain dns NAME | domain check NAME | domain list | domain delete NAME [--yes]")
	sel := a.fs.String("selector", "mm1", "DKIM selector (add)")
	kt := a.fs.String("key-type", "rsa", "DKIM key type: rsa (2048 bits) or ed25519 (add)")
	yes := a.fs.Bool("yes", false, "confirm: really delete (delete; without it the command says what would go)")
	verb, err := a.parse(args, "add", "dns", "check", "list", "delete")
	if err != nil {
		return err
	}
	if verb == "list" {
		var out wire.DomainList
		return a.call(ctx, "GET", "/v1/admin/domains", nil, &out, func(w io.Writer) {
			fmt.Fprintln(w, "DOMAIN\tSELECTOR\tKEY\tCREATED")
			for _, d := range out.Domains {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", d.Name, d.DKIMSelector, d.KeyType, d.CreatedAt.Format(time.DateTime))
			}
		})
	}
	name, err := a.arg("domain name")
	if err != nil {
		return err
	}
	if verb == "check" {
		return a.domainCheck(ctx, name)
	}
	if verb == "delete" {
		var out wire.DomainDeleted
		return a.call(ctx, "DELETE", "/v1/admin/domains/"+url.PathEscape(name)+confirmQuery(*yes), nil, &out, func(w io.Writer) {
			fmt.Fprintf(w, "domain %s deleted with its DKIM and identity keys\nnote: %s\n", out.Name, out.Note)
		})
	}
	if verb == "dns" {
		var out wire.DNS
		return a.call(ctx, "GET", "/v1/admin/domains/"+url.PathEscape(name)+"/dns", nil, &out, func(w io.Writer) {
			fmt.Fprint(w, out.Text)
		})
	}
	var out wire.Domain
	req := wire.DomainRequest{Name: name, DKIMSelector: *sel, KeyType: *kt}
	return a.call(ctx, "POST", "/v1/admin/domains", req, &out, func(w io.Writer) {
		fmt.Fprintf(w, "domain %s added (DKIM selector %s, %s)\n", out.Name, out.DKIMSelector, out.KeyType)
		if out.DNS != nil {
			fmt.Fprintf(w, "\npublish these DNS records:\n%s", out.DNS.Text)
		}
	})
}

func cmdMailbox(ctx context.Context, env *cliEnv, args []string) error {
	a := newAdminCmd(env, "mailbox", "mailbox add ADDRESS [--oversight MODE] [--password P] | mailbox list | mailbox delete ADDRESS [--yes]")
	mode := a.fs.String("oversight", "", "autonomous, monitored, gated_send (default), gated_all or read_only (add)")
	pw := a.fs.String("password", "", "the password for IMAP and SMTP AUTH (add; default: generated)")
	yes := a.fs.Bool("yes", false, "confirm: really delete the mailbox and its stored mail (delete; without it the command says what would go)")
	verb, err := a.parse(args, "add", "list", "delete")
	if err != nil {
		return err
	}
	if verb == "list" {
		var out wire.MailboxList
		return a.call(ctx, "GET", "/v1/admin/mailboxes", nil, &out, func(w io.Writer) {
			fmt.Fprintln(w, "MAILBOX\tOVERSIGHT\tCREATED")
			for _, m := range out.Mailboxes {
				fmt.Fprintf(w, "%s\t%s\t%s\n", m.Address, m.Oversight, m.CreatedAt.Format(time.DateTime))
			}
		})
	}
	addr, err := a.arg("address")
	if err != nil {
		return err
	}
	if verb == "delete" {
		var out wire.MailboxDeleted
		return a.call(ctx, "DELETE", "/v1/admin/mailboxes/"+url.PathEscape(addr)+confirmQuery(*yes), nil, &out, func(w io.Writer) {
			fmt.Fprintf(w, "mailbox %s deleted: %d emails in %d folders removed\n", out.Address, out.EmailsDeleted, out.FoldersDeleted)
			if len(out.KeysRevoked) > 0 {
				fmt.Fprintf(w, "API keys revoked: %s\n", strings.Join(out.KeysRevoked, ", "))
			}
			if out.QueuedOutbound > 0 {
				fmt.Fprintf(w, "%d outbound messages of it are still queued (multimail queue list --mailbox %s; queue delete ID drops one)\n", out.QueuedOutbound, out.Address)
			}
			fmt.Fprintf(w, "note: %s\n", out.Note)
		})
	}
	var out wire.Mailbox
	req := wire.MailboxRequest{Address: addr, Oversight: *mode, Password: *pw}
	return a.call(ctx, "POST", "/v1/admin/mailboxes", req, &out, func(w io.Writer) {
		fmt.Fprintf(w, "mailbox %s added (oversight %s)\n", out.Address, out.Oversight)
		if out.Password != "" {
			fmt.Fprintf(w, "username:\t%s\npassword:\t%s\t(shown once)\n", out.Address, out.Password)
		}
	})
}

func cmdKey(ctx context.Context, env *cliEnv, args []string) error {
	a := newAdminCmd(env, "key", "key create --mailbox ADDRESS [--scope send,read,tag] [--test] | key list | key revoke KEY_ID")
	mb := a.fs.String("mailbox", "", "the mailbox the key acts for (\"*\" for all) (create)")
	scope := a.fs.String("scope", "send,read,tag", "comma-separated scopes: send, read, tag, approve, admin (create); send never with approve or admin")
	test := a.fs.Bool("test", false, "a test key (mm_test_…): its sends go through everything and are never delivered; send, read, tag only (create)")
	verb, err := a.parse(args, "create", "list", "revoke")
	if err != nil {
		return err
	}
	if verb == "revoke" {
		id, err := a.arg("key id (key_…, from key list)")
		if err != nil {
			return err
		}
		var out wire.Done
		return a.call(ctx, "DELETE", "/v1/admin/keys/"+url.PathEscape(id), nil, &out, func(w io.Writer) {
			fmt.Fprintf(w, "key %s revoked: it no longer authenticates on the API, IMAP or SMTP\n", out.KeyID)
		})
	}
	if verb == "list" {
		var out wire.KeyList
		return a.call(ctx, "GET", "/v1/admin/keys", nil, &out, func(w io.Writer) {
			fmt.Fprintln(w, "KEY\tMAILBOXES\tSCOPES\tCREATED\tKIND")
			for _, k := range out.Keys {
				kind := "live"
				if k.Test {
					kind = "test"
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", k.KeyID, strings.Join(k.Mailboxes, ","), strings.Join(k.Scopes, ","), k.CreatedAt.Format(time.DateTime), kind)
			}
		})
	}
	if *mb == "" {
		return fmt.Errorf("%w: --mailbox is required", errUsage)
	}
	var out wire.Key
	req := wire.KeyRequest{Mailbox: *mb, Scopes: splitList(*scope), Test: *test}
	return a.call(ctx, "POST", "/v1/admin/keys", req, &out, func(w io.Writer) {
		fmt.Fprintf(w, "%s\n", out.APIKey)
		fmt.Fprintf(a.env.stderr, "key %s for %s (%s); it is shown once, only its hash is stored\n",
			out.KeyID, strings.Join(out.Mailboxes, ","), strings.Join(out.Scopes, ","))
	})
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func cmdQueue(ctx context.Context, env *cliEnv, args []string) error {
	a := newAdminCmd(env, "queue", "queue list [--state S] [--mailbox A] [--limit N] [--cursor C | --all] | show ID | retry ID | delete ID")
	state := a.fs.String("state", "", "only messages in this state: queued, deferred, pending_approval, delivered, bounced, failed, expired, rejected, completed (list)")
	mb := a.fs.String("mailbox", "", "only messages sent by this mailbox (list)")
	limit := a.fs.Int("limit", 50, "messages per page, 1–200 (list)")
	cursor := a.fs.String("cursor", "", "the page after this one (the next_cursor a previous list printed) (list)")
	all := a.fs.Bool("all", false, "follow the pages to the end (list)")
	verb, err := a.parse(args, "list", "show", "retry", "delete")
	if err != nil {
		return err
	}
	if verb == "list" {
		return a.queueList(ctx, *state, *mb, *limit, *cursor, *all)
	}
	id, err := a.arg("message id")
	if err != nil {
		return err
	}
	path := "/v1/admin/queue/" + url.PathEscape(id)
	switch verb {
	case "show":
		var out wire.Message
		return a.call(ctx, "GET", path, nil, &out, func(w io.Writer) { showMessage(w, &out) })
	case "retry":
		var out wire.Done
		return a.call(ctx, "POST", path+"/retry", nil, &out, func(w io.Writer) {
			fmt.Fprintf(w, "%s: %s (its waiting recipients are due now)\n", id, out.Status)
		})
	default:
		var out wire.Done
		return a.call(ctx, "DELETE", path, nil, &out, func(w io.Writer) {
			fmt.Fprintf(w, "%s: %s (recipients not yet delivered are reported failed)\n", id, out.Status)
		})
	}
}

func showMessage(w io.Writer, m *wire.Message) {
	fmt.Fprintf(w, "message\t%s\nstatus\t%s\npriority\t%s\nmailbox\t%s\nsubject\t%s\nqueued\t%s\nsize\t%d\n",
		m.MessageID, m.Status, m.Priority, m.MailboxID, m.Subject, m.QueuedAt.Format(time.RFC3339), m.Size)
	fmt.Fprintln(w, "\nRECIPIENT\tSTATUS\tATTEMPTS\tLAST")
	for _, r := range m.Recipients {
		last := strings.TrimSpace(fmt.Sprintf("%s %s", r.EnhancedCode, r.ErrorDetail))
		fmt.Fprintf(w, "%s\t%s\t%d\t%s\n", r.Address, r.Status, r.Attempts, last)
	}
	fmt.Fprintln(w, "\nSEQ\tTIME\tEVENT\tRECIPIENT\tDETAIL")
	for _, e := range m.Events {
		detail := strings.TrimSpace(fmt.Sprintf("%s %s %s", e.MXHost, e.EnhancedCode, e.ErrorDetail+e.By+" "+e.Reason))
		if e.SourceIP != "" { // left through an [[ip_pool]] (docs/deliverability.md)
			detail += fmt.Sprintf(" (from %s, pool %s)", e.SourceIP, e.IPPool)
		}
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\n", e.Seq, e.Time.Format(time.RFC3339), e.Event, e.Recipient, detail)
	}
}

func cmdApprovals(ctx context.Context, env *cliEnv, args []string) error {
	a := newAdminCmd(env, "approvals", "approvals list [--state pending|approved|rejected|all] | approve ID [--reason R] | reject ID [--reason R]")
	state := a.fs.String("state", "pending", "which approvals to list (list)")
	reason := a.fs.String("reason", "", "why (approve, reject)")
	verb, err := a.parse(args, "list", "approve", "reject")
	if err != nil {
		return err
	}
	if verb == "list" {
		var out wire.ApprovalList
		q := "/v1/approvals?state=" + url.QueryEscape(*state)
		return a.call(ctx, "GET", q, nil, &out, func(w io.Writer) {
			fmt.Fprintln(w, "APPROVAL\tSTATE\tMESSAGE\tMAILBOX\tTO\tSUBJECT")
			for _, ap := range out.Approvals {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", ap.ApprovalID, ap.State, ap.MessageID, ap.MailboxID,
					strings.Join(ap.To, ","), ap.Subject)
			}
		})
	}
	id, err := a.arg("approval id")
	if err != nil {
		return err
	}
	var out wire.Approval
	path := "/v1/approvals/" + url.PathEscape(id) + "/" + verb
	return a.call(ctx, "POST", path, wire.DecisionRequest{Reason: *reason}, &out, func(w io.Writer) {
		fmt.Fprintf(w, "%s: %s (message %s)\n", out.ApprovalID, out.State, out.MessageID)
	})
}

func cmdSend(ctx context.Context, env *cliEnv, args []string) error {
	a := newAdminCmd(env, "send", sendSynopsis)
	sf := registerSendFlags(a.fs)
	pos, err := parseInterleaved(a.fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, pos[0])
	}
	req, err := sf.request()
	if err != nil {
		return err
	}
	var out wire.SendResponse
	return a.call(ctx, "POST", "/v1/send_email", req, &out, func(w io.Writer) {
		fmt.Fprintf(w, "%s\t%s\t%s\n", out.MessageID, out.Status, out.QueuedAt.Format(time.RFC3339))
	})
}
