// backup.go: `multimail backup DIR` and `multimail restore DIR --data-dir D`.
//
// A backup is taken online: the running node makes a Pebble checkpoint (a consistent
// snapshot of the one database: queue, mailboxes, directory with the DKIM and identity keys,
// audit journal and its signing key) inside its own data directory, which the hardened unit
// may write, and streams it over the owner-only ctl socket as a tar with the data directory's
// other files (TLS keys and certificates, the dev keys, the store format file). The node keeps
// accepting throughout: a checkpoint hard-links the tables and copies the WAL. The CLI writes
// the stream to DIR with files 0600 in directories 0700. The manifest comes last, so a
// stream cut short is detected.
//
// A restore copies a backup into an empty data directory (never one a node holds) and leaves
// a RESTORED.json marker. The node that starts on it (restoreFixups) first gives every
// folder a new UIDVALIDITY (the old node may have handed out the same UIDs after the backup),
// holds every message still queued or deferred as a pending approval (the old node may have
// delivered it after the backup), records the restore in the audit journal, and removes the
// marker.
package main

import (
	"archive/tar"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"multimail.dev/multimail/audit"
	"multimail.dev/multimail/mailbox"
)

const (
	backupManifest = "MULTIMAIL-BACKUP.json" // the last entry of a backup stream
	restoredMarker = "RESTORED.json"         // left by restore, consumed by the first start
	backupTmp      = "backup-tmp-"           // checkpoints being streamed, inside data_dir
	ctlBackupPath  = "/ctl/backup"           // on the ctl socket only
)

// BackupManifest describes a backup.
type BackupManifest struct {
	Format      int       `json:"format"`       // 1
	StoreFormat int       `json:"store_format"` // the data directory's store format (version.go)
	Version     string    `json:"version"`      // the multimail that took it
	Hostname    string    `json:"hostname"`
	Created     time.Time `json:"created"` // when the checkpoint was taken
	Files       int       `json:"files"`   // entries before the manifest
	Bytes       int64     `json:"bytes"`
}

// skipInBackup are data_dir entries a backup leaves out: the database (sent as its
// checkpoint), the lock, the socket, the ballast, checkpoints in progress, hidden temporary
// files of atomic replacements, and the key of the
// one-click links (a restored node makes a new one: links mailed before the backup must not
// decide approvals the restore brought back).
func skipInBackup(rel string, d fs.DirEntry) bool {
	top := strings.SplitN(rel, "/", 2)[0]
	switch top {
	case "db", pidFile, ctlSocket, "ballast", restoredMarker, linkKeyFile:
		return true
	}
	if strings.HasPrefix(path.Base(rel), ".") {
		return true // a file being replaced atomically (".name.*", mta's writeFileAtomic): it may vanish mid-walk
	}
	return strings.HasPrefix(top, backupTmp) || (!d.IsDir() && !d.Type().IsRegular())
}

// serveBackup streams a consistent backup of the running node (GET /ctl/backup).
func (n *node) serveBackup(w http.ResponseWriter, r *http.Request) {
	rnd := make([]byte, 6)
	_, _ = rand.Read(rnd)
	tmp := filepath.Join(n.cfg.DataDir, backupTmp+hex.EncodeToString(rnd))
	defer os.RemoveAll(tmp)
	created := time.Now().UTC()
	if err := n.db.Checkpoint(filepath.Join(tmp, "db"), pebble.WithFlushedWAL()); err != nil {
		n.log.Error("backup: checkpoint failed", "err", err)
		http.Error(w, "checkpoint: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/x-tar")
	tw := tar.NewWriter(w)
	m := BackupManifest{Format: 1, StoreFormat: storeFormat, Version: buildVersion(), Hostname: n.cfg.Hostname, Created: created}
	add := func(root, prefix string, skip func(string, fs.DirEntry) bool) error {
		return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, err := filepath.Rel(root, p)
			if err != nil || rel == "." {
				return err
			}
			rel = filepath.ToSlash(rel)
			if skip != nil && skip(rel, d) {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			name := path.Join(prefix, rel)
			if d.IsDir() {
				m.Files++
				return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: 0o700, ModTime: created})
			}
			nb, err := copyToTar(tw, p, name, created)
			m.Files++
			m.Bytes += nb
			return err
		})
	}
	err := add(filepath.Join(tmp, "db"), "db", nil)
	if err == nil {
		err = add(n.cfg.DataDir, "", skipInBackup)
	}
	if err == nil {
		b, _ := json.MarshalIndent(m, "", "  ")
		if err = tw.WriteHeader(&tar.Header{Name: backupManifest, Mode: 0o600, Size: int64(len(b)), ModTime: created}); err == nil {
			_, err = tw.Write(b)
		}
	}
	if err == nil {
		err = tw.Close()
	}
	if err != nil {
		// The status is sent already: the stream ends without a manifest, which the CLI refuses.
		n.log.Error("backup failed", "err", err)
		return
	}
	n.log.Info("backup streamed", "files", m.Files, "bytes", m.Bytes)
	if n.audit != nil {
		rec := audit.Record{Kind: audit.KindBackup, Actor: "cli", Detail: map[string]string{
			"files": strconv.Itoa(m.Files), "bytes": strconv.FormatInt(m.Bytes, 10), "created": created.Format(time.RFC3339)}}
		if err := n.audit.Append(context.WithoutCancel(r.Context()), rec); err != nil {
			n.log.Error("audit record of a backup lost", "err", err)
		}
	}
}

func copyToTar(tw *tar.Writer, file, name string, mod time.Time) (int64, error) {
	f, err := os.Open(file)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: fi.Size(), ModTime: mod}); err != nil {
		return 0, err
	}
	return io.CopyN(tw, f, fi.Size())
}

const backupWarning = "the backup holds every stored message and the node's private keys (DKIM, identity, audit signing, TLS): " +
	"keep it where only you can read it (its files are 0600 in 0700 directories)"

func cmdBackup(ctx context.Context, env *cliEnv, args []string) error {
	fset := newFlags(env, "backup", "backup DIR [--config FILE | --data-dir DIR]")
	var ctl ctlFlags
	ctl.register(fset)
	pos, err := parseInterleaved(fset, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: want the backup directory", errUsage)
	}
	dir := pos[0]
	if err := emptyDir(dir); err != nil {
		return err
	}
	sock, err := ctl.socketPath()
	if err != nil {
		return err
	}
	if _, err := os.Stat(sock); err != nil {
		return fmt.Errorf("no running server found (%s); a backup is taken from a running node", sock)
	}
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}
	req, err := http.NewRequestWithContext(ctx, "GET", "http://multimail"+ctlBackupPath, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("talk to the server at %s: %w", sock, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("backup refused: %s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	m, err := extractBackup(resp.Body, dir)
	if err != nil {
		return fmt.Errorf("backup into %s is incomplete (remove it): %w", dir, err)
	}
	fmt.Fprintf(env.stdout, "backup of %s taken at %s: %d files, %d bytes in %s\n", m.Hostname,
		m.Created.Format(time.RFC3339), m.Files, m.Bytes, dir)
	fmt.Fprintf(env.stderr, "warning: %s\n", backupWarning)
	return nil
}

// emptyDir accepts a directory that does not exist yet or is empty.
func emptyDir(dir string) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if len(ents) > 0 {
		return fmt.Errorf("%s is not empty: give a new or empty directory", dir)
	}
	return nil
}

// extractBackup writes a backup stream into dir (files 0600, directories 0700), refusing any
// name that would leave dir, and returns its manifest, which must come last.
func extractBackup(r io.Reader, dir string) (*BackupManifest, error) {
	tr := tar.NewReader(r)
	var m *BackupManifest
	files := 0
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if m != nil {
			return nil, fmt.Errorf("entry %q after the manifest", h.Name)
		}
		name := path.Clean(h.Name)
		if !fs.ValidPath(name) || name == "." {
			return nil, fmt.Errorf("bad entry name %q", h.Name)
		}
		dst := filepath.Join(dir, filepath.FromSlash(name))
		switch {
		case name == backupManifest:
			b, err := io.ReadAll(io.LimitReader(tr, 1<<20))
			if err != nil {
				return nil, err
			}
			m = new(BackupManifest)
			if err := json.Unmarshal(b, m); err != nil {
				return nil, fmt.Errorf("manifest: %w", err)
			}
			if err := writeNewFile(dst, b); err != nil {
				return nil, err
			}
		case h.Typeflag == tar.TypeDir:
			files++
			if err := os.MkdirAll(dst, 0o700); err != nil {
				return nil, err
			}
		case h.Typeflag == tar.TypeReg:
			files++
			if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
				return nil, err
			}
			f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return nil, err
			}
			_, err = io.Copy(f, tr)
			if err == nil {
				err = f.Sync()
			}
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("entry %q: type %c not allowed", h.Name, h.Typeflag)
		}
	}
	if m == nil {
		return nil, errors.New("the stream ended without its manifest")
	}
	if m.Files != files {
		return nil, fmt.Errorf("%d entries, the manifest says %d", files, m.Files)
	}
	return m, nil
}

// writeNewFile creates p (it must not exist) with b, mode 0600, synced.
func writeNewFile(p string, b []byte) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func cmdRestore(ctx context.Context, env *cliEnv, args []string) error {
	fset := newFlags(env, "restore", "restore DIR (--data-dir D | --config FILE)")
	dataDir := fset.String("data-dir", "", "the data directory to restore into: new or empty, and no node running on it")
	config := fset.String("config", "", "the config file whose data_dir to restore into (when --data-dir is not given)")
	pos, err := parseInterleaved(fset, args)
	if err != nil {
		return err
	}
	if *dataDir == "" && *config != "" {
		c, err := LoadConfig(*config)
		if err != nil {
			return err
		}
		*dataDir = c.DataDir
	}
	if len(pos) != 1 || *dataDir == "" {
		return fmt.Errorf("%w: want the backup directory and --data-dir (or --config)", errUsage)
	}
	src, dst := pos[0], *dataDir
	raw, err := os.ReadFile(filepath.Join(src, backupManifest))
	if err != nil {
		return fmt.Errorf("%s is not a multimail backup (no %s): %w", src, backupManifest, err)
	}
	var m BackupManifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return fmt.Errorf("%s: %w", backupManifest, err)
	}
	if m.StoreFormat > storeFormat {
		return fmt.Errorf("the backup's store format is %d, newer than this multimail's %d: restore it with multimail %s or later", m.StoreFormat, storeFormat, m.Version)
	}
	if err := notLive(dst); err != nil {
		return err
	}
	if err := emptyDir(dst); err != nil {
		return fmt.Errorf("refusing to restore over existing data: %w", err)
	}
	if err := os.MkdirAll(dst, 0o700); err != nil {
		return err
	}
	if err := os.Chmod(dst, 0o700); err != nil {
		return err
	}
	err = filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil || rel == "." {
			return err
		}
		out := filepath.Join(dst, rel)
		if rel == backupManifest {
			out = filepath.Join(dst, restoredMarker)
		}
		if d.IsDir() {
			return os.MkdirAll(out, 0o700)
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s: not a regular file", p)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return writeNewFile(out, b)
	})
	if err != nil {
		return fmt.Errorf("restore into %s failed part-way (empty it before trying again): %w", dst, err)
	}
	fmt.Fprintf(env.stdout, "restored the backup of %s taken at %s into %s\n", m.Hostname, m.Created.Format(time.RFC3339), dst)
	fmt.Fprintln(env.stdout, "at its first start the node gives every IMAP folder a new UIDVALIDITY, holds every message still queued or deferred "+
		"for review (multimail approvals list: the old node may have sent them after the backup) and records the restore in the audit journal")
	return nil
}

// notLive refuses a data directory a running node holds (its pid file is locked).
func notLive(dir string) error {
	f, err := os.Open(filepath.Join(dir, pidFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return fmt.Errorf("refusing to restore: another multimail is running on %s%s", dir, holder(f))
		}
		return err
	}
	return syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}

// removeStaleCheckpoints deletes checkpoints left by a backup the process did not finish
// (a crash mid-stream): they hold hard links that would keep old tables on disk.
func (n *node) removeStaleCheckpoints() {
	ents, err := os.ReadDir(n.cfg.DataDir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if e.IsDir() && strings.HasPrefix(e.Name(), backupTmp) {
			if err := os.RemoveAll(filepath.Join(n.cfg.DataDir, e.Name())); err != nil {
				n.log.Warn("cannot remove a stale backup checkpoint", "dir", e.Name(), "err", err)
			}
		}
	}
}

// restoreFixups runs at the start of a node whose data directory was just restored.
func (n *node) restoreFixups(ctx context.Context) error {
	n.removeStaleCheckpoints()
	marker := filepath.Join(n.cfg.DataDir, restoredMarker)
	raw, err := os.ReadFile(marker)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var m BackupManifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return fmt.Errorf("%s: %w", marker, err)
	}
	folders := 0
	if ps, ok := n.store.(*mailbox.PebbleStore); ok {
		if folders, err = ps.RenewUIDValidity(ctx); err != nil {
			return err
		}
	} else if n.cfg.Store.Backend != backendPostgres {
		return fmt.Errorf("restore: the store cannot renew UIDVALIDITY")
	} else {
		n.log.Warn("restore: UIDVALIDITY not renewed", "why", errNoPebbleMailboxes)
	}
	var held []string
	if n.cfg.Store.Backend == backendPostgres {
		// The queue is in PostgreSQL, shared and not in this backup: nothing in it came back
		// from the past, so nothing is held.
		n.log.Warn("restore: the queue is in PostgreSQL, not in the backup; no message held")
	} else if held, err = n.queue.HoldInFlight(ctx, "restored from the backup of "+m.Created.Format(time.RFC3339)+
		": the node it came from may have sent it after the backup"); err != nil {
		return fmt.Errorf("restore: hold in-flight messages: %w", err)
	}
	rec := audit.Record{Kind: audit.KindRestore, Actor: "cli", Detail: map[string]string{
		"backup_created": m.Created.Format(time.RFC3339), "backup_host": m.Hostname, "backup_version": m.Version,
		"folders_renewed": strconv.Itoa(folders), "messages_held": strconv.Itoa(len(held))}}
	if err := n.audit.Append(ctx, rec); err != nil {
		return fmt.Errorf("restore: audit: %w", err)
	}
	n.log.Warn("started from a restored backup: every folder has a new UIDVALIDITY; in-flight messages are held for review (multimail approvals list)",
		"backup_created", m.Created, "folders", folders, "held", len(held))
	return os.Remove(marker)
}
