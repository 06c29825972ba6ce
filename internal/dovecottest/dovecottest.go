// Package dovecottest starts Debian's Dovecot (package dovecot-imapd) as a reference IMAP
// server for differential tests and the IMAP stress comparison: one throwaway instance per
// call, listening on 127.0.0.1 on a free port, with its own base_dir, a maildir store in a
// temporary directory, plaintext LOGIN without TLS (ssl = no) and a static password for every
// user, and COMPRESS=DEFLATE (imap_zlib). Without the dovecot binary the caller is skipped, or failed under
// MULTIMAIL_INTEROP=1 (internal/interoptest).
//
// Its folders mirror a multimail mailbox's: INBOX, Sent, Drafts, Archive, Trash and Junk, with
// their SPECIAL-USE attributes, all subscribed, "/" as the hierarchy separator.
package dovecottest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"multimail.dev/multimail/internal/interoptest"
)

// Password is every user's password.
const Password = "dovecot-pass-1"

// Server is one running Dovecot.
type Server struct {
	Addr string // 127.0.0.1:port of its plain IMAP listener
	Dir  string // its base directory (config, run dir, mail)
	cmd  *exec.Cmd
}

// Options change the instance Start makes.
type Options struct {
	// QuotaKiB, when positive, turns on Dovecot's quota plugins (quota, imap_quota) with one
	// root named "" whose STORAGE limit is that many KiB, counted over the messages' virtual
	// (CRLF) sizes as multimail counts them (the count backend, quota_vsizes).
	QuotaKiB int64
}

// Start starts Dovecot for t with the default Options.
func Start(t testing.TB) *Server {
	t.Helper()
	return StartWith(t, Options{})
}

// StartWith starts Dovecot for t and stops it when t ends. Dovecot refuses to deliver mail as
// root; when the test runs as root the mail is owned by the system user "mail" (or
// "nobody"), otherwise by the caller.
func StartWith(t testing.TB, o Options) *Server {
	t.Helper()
	bin, err := exec.LookPath("dovecot")
	if err != nil {
		for _, p := range []string{"/usr/sbin/dovecot", "/usr/local/sbin/dovecot"} {
			if _, err := os.Stat(p); err == nil {
				bin = p
				break
			}
		}
	}
	if bin == "" {
		interoptest.Missing(t, "dovecot not installed (Debian package dovecot-imapd)")
		return nil
	}
	dir, err := os.MkdirTemp("", "multimail-dovecot-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// The login and mail processes run as other users: they must reach the directories.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	mailDir := filepath.Join(dir, "mail")
	if err := os.Mkdir(mailDir, 0o755); err != nil {
		t.Fatal(err)
	}
	uid, gid, userLine := os.Getuid(), os.Getgid(), ""
	if uid == 0 {
		for _, name := range []string{"mail", "nobody"} {
			u, err := user.Lookup(name)
			if err != nil {
				continue
			}
			uid, _ = strconv.Atoi(u.Uid)
			gid, _ = strconv.Atoi(u.Gid)
			userLine = fmt.Sprintf("mail_uid = %d\nmail_gid = %d\n", uid, gid)
			break
		}
		if err := os.Chown(mailDir, uid, gid); err != nil {
			t.Fatal(err)
		}
	} else {
		// Unprivileged: every process runs as the caller.
		u, _ := user.Current()
		userLine = fmt.Sprintf("default_internal_user = %s\ndefault_login_user = %s\n", u.Username, u.Username)
	}
	port := freePort(t)
	quotaPlugin, imapQuotaPlugin, quotaConf := "", "", ""
	if o.QuotaKiB > 0 {
		quotaPlugin, imapQuotaPlugin = " quota", " imap_quota"
		quotaConf = fmt.Sprintf("plugin {\n  quota = count\n  quota_vsizes = yes\n  quota_rule = *:storage=%dk\n}\n", o.QuotaKiB)
	}
	conf := fmt.Sprintf(`base_dir = %[1]s/run
state_dir = %[1]s/state
log_path = %[1]s/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:%[1]s/mail/%%u
first_valid_uid = %[2]d
first_valid_gid = %[3]d
%[4]s
passdb {
  driver = static
  args = password=%[5]s
}
userdb {
  driver = static
  args = home=%[1]s/mail/%%u
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = %[6]d
  }
  inet_listener imaps {
    port = 0
  }
  process_min_avail = 1
}
service anvil {
  chroot =
}
# COMPRESS=DEFLATE (RFC 4978), which multimail advertises too.
mail_plugins = zlib%[7]s
protocol imap {
  mail_plugins = $mail_plugins imap_zlib%[8]s
}
%[9]sservice stats {
  inet_listener http {
    port = 0
  }
}
namespace inbox {
  inbox = yes
  separator = /
  mailbox INBOX {
    auto = subscribe
  }
  mailbox Sent {
    special_use = \Sent
    auto = subscribe
  }
  mailbox Drafts {
    special_use = \Drafts
    auto = subscribe
  }
  mailbox Archive {
    special_use = \Archive
    auto = subscribe
  }
  mailbox Trash {
    special_use = \Trash
    auto = subscribe
  }
  mailbox Junk {
    special_use = \Junk
    auto = subscribe
  }
}
`, dir, uid, gid, userLine, Password, port, quotaPlugin, imapQuotaPlugin, quotaConf)
	confPath := filepath.Join(dir, "dovecot.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	s := &Server{Addr: fmt.Sprintf("127.0.0.1:%d", port), Dir: dir}
	s.cmd = exec.Command(bin, "-F", "-c", confPath)
	out, _ := os.Create(filepath.Join(dir, "stdout.log"))
	s.cmd.Stdout, s.cmd.Stderr = out, out
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { s.cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		s.cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			s.cmd.Process.Kill()
			<-exited
		}
		out.Close()
	})
	// Ready when a greeting says so (the first may be "Waiting for authentication process").
	deadline := time.Now().Add(20 * time.Second)
	for {
		if ok := s.greets(); ok {
			return s
		}
		select {
		case <-exited:
			t.Fatalf("dovecot exited at start:\n%s", s.Log())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("dovecot not ready at %s:\n%s", s.Addr, s.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// greets reports whether a connection gets a ready greeting and a working LOGIN.
func (s *Server) greets() bool {
	c, err := net.DialTimeout("tcp", s.Addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(c)
	fmt.Fprintf(c, "a LOGIN probe %s\r\n", Password)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return false
		}
		if strings.HasPrefix(line, "a ") {
			fmt.Fprintf(c, "b LOGOUT\r\n")
			return strings.HasPrefix(line, "a OK")
		}
	}
}

// Log returns Dovecot's log and output.
func (s *Server) Log() string {
	var b strings.Builder
	for _, f := range []string{"dovecot.log", "stdout.log"} {
		data, _ := os.ReadFile(filepath.Join(s.Dir, f))
		b.Write(data)
	}
	return b.String()
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
