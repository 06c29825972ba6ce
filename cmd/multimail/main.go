// Command multimail is a complete mail system for apps and AI agents in one binary: SMTP
// submission and an HTTP API in, a durable priority queue, delivery to MX hosts, inbound mail
// into IMAP-visible mailboxes, webhooks and MCP tools. See docs/operations.md for the commands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
)

// command is one subcommand of the CLI.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, env *cliEnv, args []string) error
}

// cliEnv carries what a command may touch: its output streams, so tests can run commands
// in-process without global state.
type cliEnv struct {
	stdin          io.Reader // nil reads as empty
	stdout, stderr io.Writer
	getenv         func(string) string
}

// errUsage marks a usage error: the message is printed with the command's help and exit 2.
var errUsage = errors.New("usage")

func commands() []command {
	return []command{
		{"serve", "run every listener (no flags: the embedded dev default)", cmdServe},
		{"domain", "domain add NAME | domain dns NAME | domain list | domain delete NAME --yes", cmdDomain},
		{"mailbox", "mailbox add ADDRESS [--oversight MODE] | mailbox list | mailbox delete ADDRESS --yes", cmdMailbox},
		{"key", "key create --mailbox ADDRESS [--scope send,read,tag] | key list | key revoke KEY_ID", cmdKey},
		{"queue", "queue list [--state S] [--mailbox A] [--limit N] [--all] | show ID | retry ID | delete ID", cmdQueue},
		{"approvals", "approvals list | approve ID | reject ID", cmdApprovals},
		{"audit", "audit export [--since T] [--mailbox A] | audit verify [FILE] [--against CHECKPOINT]", cmdAudit},
		{"identity", "identity verify [--key-url URL | --keys FILE | --dns] [FILE] | rotate DOMAIN | revoke DOMAIN SELECTOR", cmdIdentity},
		{"send", "send --from A --to B --subject S (--text T | --html H) [--cc] [--bcc] [--reply-to] [--attach FILE]", cmdSend},
		{"backup", "backup DIR: a consistent copy of the running node (keys included: keep it private)", cmdBackup},
		{"restore", "restore DIR --data-dir D: a backup into an empty data directory", cmdRestore},
		{"migrate", "migrate --config FILE [--check]: apply the PostgreSQL schema migrations ([store] backend = \"postgres\")", cmdMigrate},
		{"tlsrpt", "tlsrpt report [--day YYYY-MM-DD] [--send]: TLS-RPT reports made now", cmdTLSRPT},
		{"mcp", "an MCP server on stdin/stdout, a client of the running server", cmdMCP},
		{"version", "print the version", cmdVersion},
	}
}

func main() {
	env := &cliEnv{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}
	os.Exit(run(context.Background(), env, os.Args[1:]))
}

// run dispatches to a subcommand and turns its error into an exit status.
func run(ctx context.Context, env *cliEnv, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(env.stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, env, args[1:])
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.Is(err, errUsage):
			fmt.Fprintf(env.stderr, "multimail %s: %v\n", c.name, err)
			return 2
		default:
			fmt.Fprintf(env.stderr, "multimail %s: %v\n", c.name, err)
			return 1
		}
	}
	fmt.Fprintf(env.stderr, "multimail: unknown command %q\n\n", args[0])
	usage(env.stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: multimail COMMAND [flags]\n\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'multimail COMMAND --help' for a command's flags.")
}

// newFlags makes a FlagSet whose help text names the command and its synopsis.
func newFlags(env *cliEnv, name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet("multimail "+name, flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	fs.Usage = func() {
		fmt.Fprintf(env.stderr, "usage: multimail %s\n", synopsis)
		if strings.Contains(synopsis, "[flags]") || hasFlags(fs) {
			fmt.Fprintln(env.stderr, "\nflags:")
			fs.PrintDefaults()
		}
	}
	return fs
}

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

// version is set at build time with -ldflags "-X main.version=…"; without it buildVersion
// reads the module version or the VCS revision Go stamped into the binary.
var version = ""

// buildVersion is the version the banner, `version` and multimail_build_info report: the
// -ldflags value, the module version (go install …@v1.2.3), or "devel-<revision>[-dirty]".
func buildVersion() string {
	if version != "" {
		return version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	rev, dirty := "", false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "devel"
	}
	v := "devel-" + rev[:min(12, len(rev))]
	if dirty {
		v += "-dirty"
	}
	return v
}

func cmdVersion(_ context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "version", "version")
	if err := fs.Parse(args); err != nil {
		return err
	}
	fmt.Fprintln(env.stdout, "multimail", buildVersion())
	return nil
}
