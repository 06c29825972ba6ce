package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"multimail.dev/multimail/mailbox"
)

// ---- folders ----

const folderCols = `f.id, f.name, f.special_use, f.uid_validity, f.uid_next, f.highest_modseq, f.subscribed,
	(SELECT count(*) FROM mm_email e WHERE e.folder_id = f.id AND NOT e.pending),
	(SELECT count(*) FROM mm_email e WHERE e.folder_id = f.id AND NOT e.pending AND NOT ('\Seen' = ANY(e.flags)))`

func scanFolder(row pgx.Row) (int64, mailbox.Folder, error) {
	var (
		id                       int64
		f                        mailbox.Folder
		validity, next, msgs, un int64
		modseq                   int64
	)
	err := row.Scan(&id, &f.Name, &f.SpecialUse, &validity, &next, &modseq, &f.Subscribed, &msgs, &un)
	f.UIDValidity, f.UIDNext, f.HighestModSeq = uint32(validity), uint32(next), uint64(modseq)
	f.Messages, f.Unseen = uint32(msgs), uint32(un)
	return id, f, err
}

func folderOrder(a, b mailbox.Folder) int {
	switch {
	case a.Name == b.Name:
		return 0
	case a.Name == mailbox.InboxName:
		return -1
	case b.Name == mailbox.InboxName:
		return 1
	}
	return strings.Compare(a.Name, b.Name)
}

// Folders implements mailbox.Store.
func (s *Store) Folders(ctx context.Context, mb string) ([]mailbox.Folder, error) {
	a, err := mailbox.NormalizeAddress(mb)
	if err != nil {
		return nil, fmt.Errorf("mailbox %q: %w", mb, mailbox.ErrNotFound)
	}
	var out []mailbox.Folder
	err = s.query(ctx, func(rows pgx.Rows) error {
		out = nil
		for rows.Next() {
			_, f, err := scanFolder(rows)
			if err != nil {
				return err
			}
			out = append(out, f)
		}
		return rows.Err()
	}, "SELECT "+folderCols+" FROM mm_folder f WHERE f.mailbox = $1", a)
	if err != nil {
		return nil, err
	}
	if len(out) == 0 { // every mailbox has INBOX
		return nil, fmt.Errorf("mailbox %s: %w", a, mailbox.ErrNotFound)
	}
	slices.SortFunc(out, folderOrder)
	return out, nil
}

// Folder implements mailbox.Store.
func (s *Store) Folder(ctx context.Context, mb, name string) (mailbox.Folder, error) {
	a, err := mailbox.NormalizeAddress(mb)
	if err != nil {
		return mailbox.Folder{}, fmt.Errorf("mailbox %q: %w", mb, mailbox.ErrNotFound)
	}
	n, err := mailbox.NormalizeFolder(name)
	if err != nil {
		return mailbox.Folder{}, err
	}
	_, f, err := scanFolder(s.row(ctx, "SELECT "+folderCols+" FROM mm_folder f WHERE f.mailbox = $1 AND f.name = $2", a, n))
	if errors.Is(err, pgx.ErrNoRows) {
		return mailbox.Folder{}, s.noFolder(ctx, retrying{s}, a, n)
	}
	return f, err
}

// noFolder returns ErrNotFound when the mailbox is missing, else ErrNoSuchFolder.
func (s *Store) noFolder(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, addr, name string) error {
	var one int
	err := q.QueryRow(ctx, "SELECT 1 FROM mm_mailbox WHERE address = $1", addr).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("mailbox %s: %w", addr, mailbox.ErrNotFound)
	}
	if err != nil {
		return err
	}
	return fmt.Errorf("folder %s of %s: %w", name, addr, mailbox.ErrNoSuchFolder)
}

// lockFolder finds a folder of a locked mailbox and locks its (counter) row.
func (s *Store) lockFolder(ctx context.Context, tx pgx.Tx, addr, name string) (int64, string, error) {
	n, err := mailbox.NormalizeFolder(name)
	if err != nil {
		return 0, "", err
	}
	var id int64
	err = tx.QueryRow(ctx, "SELECT id FROM mm_folder WHERE mailbox = $1 AND name = $2 FOR UPDATE", addr, n).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, "", fmt.Errorf("folder %s of %s: %w", n, addr, mailbox.ErrNoSuchFolder)
	}
	return id, n, err
}

// CreateFolder implements mailbox.Store.
func (s *Store) CreateFolder(ctx context.Context, mb, name string) error {
	return s.CreateFolderUse(ctx, mb, name, "")
}

// CreateFolderUse implements mailbox.Store. The check for another holder of use and the
// insert are one transaction under the mailbox row's lock (content), so two concurrent
// CREATEs cannot both take the same use.
func (s *Store) CreateFolderUse(ctx context.Context, mb, name, use string) error {
	n, err := mailbox.NormalizeFolder(name)
	if err != nil {
		return err
	}
	if use, err = mailbox.NormalizeSpecialUse(use); err != nil {
		return err
	}
	return s.content(ctx, mb, func(tx pgx.Tx, addr string, ch *[]mailbox.Change) error {
		ok, err := s.insertFolder(ctx, tx, addr, n, use)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("create folder %s: %w", n, mailbox.ErrFolderExists)
		}
		if err := useFree(ctx, tx, addr, n, use); err != nil {
			return err // rolls the insert back
		}
		*ch = append(*ch, mailbox.Change{Folder: n, Kind: mailbox.ChangeFolder})
		return nil
	})
}

// useFree refuses a special use a folder of the mailbox other than name holds ("" is
// always free).
func useFree(ctx context.Context, tx pgx.Tx, addr, name, use string) error {
	if use == "" {
		return nil
	}
	var holder string
	err := tx.QueryRow(ctx, "SELECT name FROM mm_folder WHERE mailbox = $1 AND special_use = $2 AND name <> $3 LIMIT 1",
		addr, use, name).Scan(&holder)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("special use %s: %w", use, err)
	}
	return mailbox.SpecialUseHeld(use, holder)
}

// DeleteFolder implements mailbox.Store.
func (s *Store) DeleteFolder(ctx context.Context, mb, name string) error {
	return s.content(ctx, mb, func(tx pgx.Tx, addr string, ch *[]mailbox.Change) error {
		fid, n, err := s.lockFolder(ctx, tx, addr, name)
		if err != nil {
			return err
		}
		if n == mailbox.InboxName {
			return fmt.Errorf("delete %s: %w", mailbox.InboxName, mailbox.ErrInvalidFolder)
		}
		bodies, err := deleteEmails(ctx, tx, addr, "DELETE FROM mm_email WHERE folder_id = $1 RETURNING body_id, size", fid)
		if err != nil {
			return err
		}
		if err := dropBodies(ctx, tx, bodies); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "DELETE FROM mm_vanished WHERE folder_id = $1", fid); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "DELETE FROM mm_folder WHERE id = $1", fid); err != nil {
			return err
		}
		*ch = append(*ch, mailbox.Change{Folder: n, Kind: mailbox.ChangeFolder})
		return nil
	})
}

// RenameFolder implements mailbox.Store.
func (s *Store) RenameFolder(ctx context.Context, mb, from, to string) error {
	t, err := mailbox.NormalizeFolder(to)
	if err != nil {
		return err
	}
	return s.content(ctx, mb, func(tx pgx.Tx, addr string, ch *[]mailbox.Change) error {
		_, f, err := s.lockFolder(ctx, tx, addr, from)
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, "SELECT id, name FROM mm_folder WHERE mailbox = $1 ORDER BY name FOR UPDATE", addr)
		if err != nil {
			return err
		}
		type row struct {
			id   int64
			name string
		}
		all, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
			var x row
			return x, r.Scan(&x.id, &x.name)
		})
		if err != nil {
			return err
		}
		exists := func(n string) bool { return slices.ContainsFunc(all, func(x row) bool { return x.name == n }) }
		if err := mailbox.CheckRename(f, t, exists); err != nil {
			return err
		}
		for _, x := range all {
			nn, ok := mailbox.Renamed(x.name, f, t)
			if !ok {
				continue
			}
			tag, err := tx.Exec(ctx, `UPDATE mm_folder SET name = $2 WHERE id = $1
				AND NOT EXISTS (SELECT 1 FROM mm_folder g WHERE g.mailbox = $3 AND g.name = $2)`, x.id, nn, addr)
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 0 {
				return fmt.Errorf("rename %s to %s: %w", x.name, nn, mailbox.ErrFolderExists)
			}
			*ch = append(*ch, mailbox.Change{Folder: nn, Kind: mailbox.ChangeFolder})
		}
		return nil
	})
}

// SetSubscribed implements mailbox.Store.
func (s *Store) SetSubscribed(ctx context.Context, mb, name string, on bool) error {
	return s.content(ctx, mb, func(tx pgx.Tx, addr string, ch *[]mailbox.Change) error {
		fid, n, err := s.lockFolder(ctx, tx, addr, name)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "UPDATE mm_folder SET subscribed = $2 WHERE id = $1", fid, on); err != nil {
			return err
		}
		*ch = append(*ch, mailbox.Change{Folder: n, Kind: mailbox.ChangeFolder})
		return nil
	})
}

// ---- emails ----

// summary is the parsed part of an Email kept in mm_email.summary, as JSON whose strings are
// bytes (base64), so header text that is not UTF-8 comes back byte for byte.
type summary struct {
	From, To, Cc [][]byte `json:",omitempty"`
	Subject      []byte   `json:",omitempty"`
	MessageID    []byte   `json:",omitempty"`
	Date         time.Time
	AuthResults  []byte `json:",omitempty"`
}

func toBytes(list []string) [][]byte {
	if list == nil {
		return nil
	}
	out := make([][]byte, len(list))
	for i, s := range list {
		out[i] = []byte(s)
	}
	return out
}

func fromBytes(list [][]byte) []string {
	if list == nil {
		return nil
	}
	out := make([]string, len(list))
	for i, b := range list {
		out[i] = string(b)
	}
	return out
}

func encodeSummary(e mailbox.Email) ([]byte, error) {
	return json.Marshal(summary{toBytes(e.From), toBytes(e.To), toBytes(e.Cc), []byte(e.Subject),
		[]byte(e.MessageID), e.Date, []byte(e.AuthResults)})
}

// decodeSummary fills e's summary fields from the stored JSON.
func decodeSummary(e *mailbox.Email, data []byte) error {
	var sm summary
	if err := json.Unmarshal(data, &sm); err != nil {
		return fmt.Errorf("email %s: %w: %v", e.ID, mailbox.ErrCorrupt, err)
	}
	e.From, e.To, e.Cc = fromBytes(sm.From), fromBytes(sm.To), fromBytes(sm.Cc)
	e.Subject, e.MessageID, e.Date, e.AuthResults = string(sm.Subject), string(sm.MessageID), sm.Date, string(sm.AuthResults)
	return nil
}

const emailCols = `e.id, e.mailbox, f.name, e.uid, e.modseq, e.pending, e.flags, e.keywords,
	e.internal_date, e.date_offset, e.size, e.thread_id, e.summary`

const flagCols = `e.id, e.mailbox, f.name, e.uid, e.modseq, e.pending, e.flags, e.keywords`

func scanEmail(row pgx.Row) (mailbox.Email, error) {
	var (
		e           mailbox.Email
		uid, modseq int64
		date        int64
		offset      int32
		sum         []byte
	)
	err := row.Scan(&e.ID, &e.Mailbox, &e.Folder, &uid, &modseq, &e.Pending, &e.Flags, &e.Keywords,
		&date, &offset, &e.Size, &e.ThreadID, &sum)
	if err != nil {
		return mailbox.Email{}, err
	}
	e.UID, e.ModSeq, e.InternalDate = uint32(uid), uint64(modseq), fromNanos(date, offset)
	if err := decodeSummary(&e, sum); err != nil {
		return mailbox.Email{}, err
	}
	nonNil(&e)
	return e, nil
}

func scanFlags(row pgx.Row) (mailbox.Email, error) {
	var (
		e           mailbox.Email
		uid, modseq int64
	)
	err := row.Scan(&e.ID, &e.Mailbox, &e.Folder, &uid, &modseq, &e.Pending, &e.Flags, &e.Keywords)
	e.UID, e.ModSeq = uint32(uid), uint64(modseq)
	nonNil(&e)
	return e, err
}

func nonNil(e *mailbox.Email) {
	if e.Flags == nil {
		e.Flags = []string{}
	}
	if e.Keywords == nil {
		e.Keywords = []string{}
	}
}

func lower(list []string) []string {
	out := make([]string, len(list))
	for i, k := range list {
		out[i] = strings.ToLower(k)
	}
	return out
}

// take advances a folder's counter row: the next ModSeq and, unless pending, the next UID.
// The row stays locked until the transaction ends, so UIDs commit in the order taken.
func take(ctx context.Context, tx pgx.Tx, fid int64, pending bool) (uid uint32, modseq uint64, err error) {
	step := 1
	if pending {
		step = 0
	}
	var next, ms int64
	err = tx.QueryRow(ctx, `UPDATE mm_folder SET uid_next = uid_next + $2, highest_modseq = highest_modseq + 1
		WHERE id = $1 RETURNING uid_next, highest_modseq`, fid, step).Scan(&next, &ms)
	if err != nil {
		return 0, 0, err
	}
	if !pending {
		uid = uint32(next - 1)
	}
	return uid, uint64(ms), nil
}

// bump takes n ModSeq values of a folder and returns the last.
func bump(ctx context.Context, tx pgx.Tx, fid int64, n int) (uint64, error) {
	var ms int64
	err := tx.QueryRow(ctx, "UPDATE mm_folder SET highest_modseq = highest_modseq + $2 WHERE id = $1 RETURNING highest_modseq", fid, n).Scan(&ms)
	return uint64(ms), err
}

func placed(e mailbox.Email) mailbox.Change {
	if e.Pending {
		return mailbox.Change{Folder: e.Folder, Kind: mailbox.ChangePending, EmailID: e.ID}
	}
	return mailbox.Change{Folder: e.Folder, Kind: mailbox.ChangeNew, EmailID: e.ID, UID: e.UID, ModSeq: e.ModSeq}
}

// insertEmail inserts e (placed in folder fid) with its summary.
func insertEmail(ctx context.Context, tx pgx.Tx, e mailbox.Email, fid int64, bodyID string) error {
	sum, err := encodeSummary(e)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO mm_email (id, mailbox, folder_id, uid, modseq, pending, flags, keywords, keywords_lc,
		internal_date, date_offset, size, body_id, thread_id, summary)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
		e.ID, e.Mailbox, fid, int64(e.UID), int64(e.ModSeq), e.Pending, e.Flags, e.Keywords, lower(e.Keywords),
		e.InternalDate.UnixNano(), zoneOffset(e.InternalDate), e.Size, bodyID, e.ThreadID, sum)
	return err
}

// txThreads is mailbox.ThreadIndex over a transaction.
type txThreads struct {
	ctx  context.Context
	tx   pgx.Tx
	addr string
}

func (x txThreads) ByMessageID(id string) (string, bool, error) {
	var t string
	err := x.tx.QueryRow(x.ctx, "SELECT thread_id FROM mm_thread_msgid WHERE mailbox = $1 AND message_id = $2", x.addr, []byte(id)).Scan(&t)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	return t, err == nil, err
}

func (x txThreads) BySubject(key []byte) (string, time.Time, bool, error) {
	var t string
	var at int64
	err := x.tx.QueryRow(x.ctx, "SELECT thread_id, at FROM mm_thread_subject WHERE mailbox = $1 AND subject_key = $2", x.addr, key).Scan(&t, &at)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", time.Time{}, false, nil
	}
	return t, time.Unix(0, at), err == nil, err
}

// Deliver implements mailbox.Store. The email, its body, the threading indexes and the
// folder's counters change in one transaction, committed before it returns. With
// DeliverOptions.NoSync (the Sent copy, a second commit after the queue's) the commit does not
// wait for the WAL flush (SET LOCAL synchronous_commit = off, this transaction only): it
// is in the WAL in commit order and durable a moment later, so a crash in that moment loses
// the copy, never the send, as with the Pebble store. The commit then releases the
// mailbox's row lock at once instead of after the flush, which is what limits one sender's
// send rate.
func (s *Store) Deliver(ctx context.Context, mb, folder string, raw []byte, o mailbox.DeliverOptions) (mailbox.Email, error) {
	d, err := s.kit.NewDelivery(ctx, mb, raw, o)
	if err != nil {
		return mailbox.Email{}, err
	}
	var out mailbox.Email
	err = s.content(ctx, d.Email.Mailbox, func(tx pgx.Tx, addr string, ch *[]mailbox.Change) error {
		if o.NoSync {
			if _, err := tx.Exec(ctx, "SET LOCAL synchronous_commit = off"); err != nil {
				return err
			}
		}
		fid, n, err := s.lockFolder(ctx, tx, addr, folder)
		if err != nil {
			return err
		}
		if _, err := addUsage(ctx, tx, addr, d.Email.Size, 1, o.QuotaBytes); err != nil {
			return err
		}
		th, err := d.Thread(txThreads{ctx, tx, addr})
		if err != nil {
			return err
		}
		if id, ok := d.IndexMessageID(); ok {
			if _, err := tx.Exec(ctx, `INSERT INTO mm_thread_msgid (mailbox, message_id, thread_id) VALUES ($1, $2, $3)
				ON CONFLICT DO NOTHING`, addr, []byte(id), th); err != nil {
				return err
			}
		}
		if key, ok := d.SubjectKey(); ok {
			if _, err := tx.Exec(ctx, `INSERT INTO mm_thread_subject (mailbox, subject_key, thread_id, at) VALUES ($1, $2, $3, $4)
				ON CONFLICT (mailbox, subject_key) DO UPDATE SET thread_id = excluded.thread_id, at = excluded.at`,
				addr, key, th, d.Email.InternalDate.UnixNano()); err != nil {
				return err
			}
		}
		e := d.Email
		e.Folder = n
		if e.UID, e.ModSeq, err = take(ctx, tx, fid, e.Pending); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "INSERT INTO mm_body (id, raw) VALUES ($1, $2)", e.ID, raw); err != nil {
			return err
		}
		if err := insertEmail(ctx, tx, e, fid, e.ID); err != nil {
			return err
		}
		*ch = append(*ch, placed(e))
		out = e
		return nil
	})
	if err != nil {
		return mailbox.Email{}, err
	}
	return out, nil
}

// Email implements mailbox.Store.
func (s *Store) Email(ctx context.Context, id string) (mailbox.Email, error) {
	cid, err := mailbox.CanonicalEmailID(id)
	if err != nil {
		return mailbox.Email{}, err
	}
	e, err := scanEmail(s.row(ctx, "SELECT "+emailCols+" FROM mm_email e JOIN mm_folder f ON f.id = e.folder_id WHERE e.id = $1", cid))
	if errors.Is(err, pgx.ErrNoRows) {
		return mailbox.Email{}, fmt.Errorf("email %s: %w", id, mailbox.ErrNotFound)
	}
	return e, err
}

// Raw implements mailbox.Store.
func (s *Store) Raw(ctx context.Context, id string) ([]byte, error) {
	cid, err := mailbox.CanonicalEmailID(id)
	if err != nil {
		return nil, err
	}
	var raw []byte
	err = s.row(ctx, "SELECT b.raw FROM mm_email e JOIN mm_body b ON b.id = e.body_id WHERE e.id = $1", cid).Scan(&raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("email %s: %w", id, mailbox.ErrNotFound)
	}
	if raw == nil && err == nil {
		raw = []byte{}
	}
	return raw, err
}

// List implements mailbox.Store.
func (s *Store) List(ctx context.Context, mb, folder string) ([]mailbox.Email, error) {
	return s.list(ctx, mb, folder, emailCols, scanEmail)
}

// ListFlags implements mailbox.FlagLister.
func (s *Store) ListFlags(ctx context.Context, mb, folder string) ([]mailbox.Email, error) {
	return s.list(ctx, mb, folder, flagCols, scanFlags)
}

func (s *Store) list(ctx context.Context, mb, folder, cols string, scan func(pgx.Row) (mailbox.Email, error)) ([]mailbox.Email, error) {
	a, err := mailbox.NormalizeAddress(mb)
	if err != nil {
		return nil, fmt.Errorf("mailbox %q: %w", mb, mailbox.ErrNotFound)
	}
	n, err := mailbox.NormalizeFolder(folder)
	if err != nil {
		return nil, err
	}
	var out []mailbox.Email
	err = s.tx(ctx, func(tx pgx.Tx) error { // one snapshot for the folder check and the rows
		out = []mailbox.Email{}
		var fid int64
		err := tx.QueryRow(ctx, "SELECT id FROM mm_folder WHERE mailbox = $1 AND name = $2", a, n).Scan(&fid)
		if errors.Is(err, pgx.ErrNoRows) {
			return s.noFolder(ctx, tx, a, n)
		}
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, "SELECT "+cols+" FROM mm_email e JOIN mm_folder f ON f.id = e.folder_id WHERE e.folder_id = $1 AND e.uid > 0 ORDER BY e.uid", fid)
		if err != nil {
			return err
		}
		out, err = collect(rows, scan, s)
		return err
	})
	return out, err
}

// collect scans rows, skipping (and logging) records that do not decode.
func collect(rows pgx.Rows, scan func(pgx.Row) (mailbox.Email, error), s *Store) ([]mailbox.Email, error) {
	defer rows.Close()
	out := []mailbox.Email{}
	for rows.Next() {
		e, err := scan(rows)
		if errors.Is(err, mailbox.ErrCorrupt) {
			s.kit.Options().Logger.Warn("pgstore: corrupt email record skipped", "err", err)
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// Query implements mailbox.Store.
func (s *Store) Query(ctx context.Context, q mailbox.Query) ([]mailbox.Email, string, error) {
	var (
		afterDate int64
		afterID   string
	)
	if q.Cursor != "" {
		var err error
		if afterDate, afterID, err = mailbox.ParseQueryCursor(q.Cursor); err != nil {
			return nil, "", err
		}
	}
	a, err := mailbox.NormalizeAddress(q.Mailbox)
	if err != nil {
		return nil, "", fmt.Errorf("mailbox %q: %w", q.Mailbox, mailbox.ErrNotFound)
	}
	limit := mailbox.QueryLimit(q.Limit)
	var (
		out      []mailbox.Email
		textNext string // Text stopped before the end: where to go on
	)
	err = s.tx(ctx, func(tx pgx.Tx) error {
		var one int
		err := tx.QueryRow(ctx, "SELECT 1 FROM mm_mailbox WHERE address = $1", a).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("mailbox %s: %w", a, mailbox.ErrNotFound)
		}
		if err != nil {
			return err
		}
		where := []string{"e.mailbox = $1"}
		args := []any{a}
		arg := func(v any) string { args = append(args, v); return fmt.Sprintf("$%d", len(args)) }
		if q.Folder != "" {
			n, err := mailbox.NormalizeFolder(q.Folder)
			if err != nil {
				return err
			}
			var fid int64
			err = tx.QueryRow(ctx, "SELECT id FROM mm_folder WHERE mailbox = $1 AND name = $2", a, n).Scan(&fid)
			if errors.Is(err, pgx.ErrNoRows) {
				return fmt.Errorf("folder %s of %s: %w", n, a, mailbox.ErrNoSuchFolder)
			}
			if err != nil {
				return err
			}
			where = append(where, "e.folder_id = "+arg(fid))
		}
		if q.Tag != "" {
			where = append(where, arg(strings.ToLower(q.Tag))+" = ANY(e.keywords_lc)")
		}
		if q.ThreadID != "" {
			where = append(where, "e.thread_id = "+arg(q.ThreadID))
		}
		if !q.IncludePending {
			where = append(where, "NOT e.pending")
		}
		if q.Unread != nil {
			if *q.Unread {
				where = append(where, `NOT ('\Seen' = ANY(e.flags))`)
			} else {
				where = append(where, `'\Seen' = ANY(e.flags)`)
			}
		}
		if q.Text != "" {
			ts := textScan{s: s, tx: tx, where: where, args: args, text: q.Text, limit: limit,
				after: q.Cursor != "", afterDate: afterDate, afterID: afterID}
			out, textNext, err = ts.run(ctx)
			return err
		}
		if q.Cursor != "" {
			d, id := arg(afterDate), arg(afterID)
			where = append(where, "(e.internal_date < "+d+" OR (e.internal_date = "+d+" AND e.id < "+id+"))")
		}
		rows, err := tx.Query(ctx, "SELECT "+emailCols+" FROM mm_email e JOIN mm_folder f ON f.id = e.folder_id WHERE "+
			strings.Join(where, " AND ")+" ORDER BY e.internal_date DESC, e.id DESC LIMIT "+arg(limit+1), args...)
		if err != nil {
			return err
		}
		out, err = collect(rows, scanEmail, s)
		return err
	})
	if err != nil {
		return nil, "", err
	}
	if q.Text != "" {
		return out, textNext, nil
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		last := out[limit-1]
		next = mailbox.QueryCursor(last.InternalDate, last.ID)
	}
	return out, next, nil
}

// owner returns the mailbox of an email (ErrNotFound), read outside any lock: an email never
// changes mailbox, and the caller re-reads it under the mailbox's lock.
func (s *Store) owner(ctx context.Context, id string) (cid, addr string, err error) {
	if cid, err = mailbox.CanonicalEmailID(id); err != nil {
		return "", "", err
	}
	err = s.row(ctx, "SELECT mailbox FROM mm_email WHERE id = $1", cid).Scan(&addr)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", "", fmt.Errorf("email %s: %w", id, mailbox.ErrNotFound)
	}
	return cid, addr, err
}

// lockEmail reads an email and its folder id under the mailbox's lock.
func lockEmail(ctx context.Context, tx pgx.Tx, id string) (mailbox.Email, int64, string, error) {
	row := tx.QueryRow(ctx, "SELECT "+emailCols+", e.folder_id, e.body_id FROM mm_email e JOIN mm_folder f ON f.id = e.folder_id WHERE e.id = $1 FOR UPDATE OF e", id)
	var (
		e           mailbox.Email
		uid, modseq int64
		date        int64
		offset      int32
		sum         []byte
		fid         int64
		body        string
	)
	err := row.Scan(&e.ID, &e.Mailbox, &e.Folder, &uid, &modseq, &e.Pending, &e.Flags, &e.Keywords,
		&date, &offset, &e.Size, &e.ThreadID, &sum, &fid, &body)
	if errors.Is(err, pgx.ErrNoRows) {
		return mailbox.Email{}, 0, "", fmt.Errorf("email %s: %w", id, mailbox.ErrNotFound)
	}
	if err != nil {
		return mailbox.Email{}, 0, "", err
	}
	e.UID, e.ModSeq, e.InternalDate = uint32(uid), uint64(modseq), fromNanos(date, offset)
	if err := decodeSummary(&e, sum); err != nil {
		return mailbox.Email{}, 0, "", err
	}
	nonNil(&e)
	return e, fid, body, nil
}

// onEmail runs fn under the lock of the email's mailbox with the email read FOR UPDATE.
func (s *Store) onEmail(ctx context.Context, id string, fn func(tx pgx.Tx, e mailbox.Email, fid int64, body string, ch *[]mailbox.Change) error) error {
	cid, addr, err := s.owner(ctx, id)
	if err != nil {
		return err
	}
	return s.content(ctx, addr, func(tx pgx.Tx, _ string, ch *[]mailbox.Change) error {
		e, fid, body, err := lockEmail(ctx, tx, cid)
		if err != nil {
			return err
		}
		return fn(tx, e, fid, body, ch)
	})
}

// SetFlags implements mailbox.Store.
func (s *Store) SetFlags(ctx context.Context, id string, add, remove []string) (mailbox.Email, error) {
	return s.SetFlagsIf(ctx, id, add, remove, math.MaxUint64)
}

// SetFlagsIf implements mailbox.Store: the email is read FOR UPDATE, so the check holds.
func (s *Store) SetFlagsIf(ctx context.Context, id string, add, remove []string, unchangedSince uint64) (mailbox.Email, error) {
	var out mailbox.Email
	err := s.onEmail(ctx, id, func(tx pgx.Tx, e mailbox.Email, fid int64, _ string, ch *[]mailbox.Change) error {
		if e.ModSeq > unchangedSince {
			return fmt.Errorf("email %s: %w", id, mailbox.ErrModified)
		}
		changed, err := mailbox.ApplyFlags(&e, add, remove)
		if err != nil {
			return err
		}
		out = e
		if !changed {
			return nil
		}
		if e.ModSeq, err = bump(ctx, tx, fid, 1); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "UPDATE mm_email SET flags = $2, keywords = $3, keywords_lc = $4, modseq = $5 WHERE id = $1",
			e.ID, e.Flags, e.Keywords, lower(e.Keywords), int64(e.ModSeq))
		if err != nil {
			return err
		}
		out = e
		if !e.Pending {
			*ch = append(*ch, mailbox.Change{Folder: e.Folder, Kind: mailbox.ChangeFlags, EmailID: e.ID, UID: e.UID, ModSeq: e.ModSeq})
		}
		return nil
	})
	if err != nil {
		return mailbox.Email{}, err
	}
	return out, nil
}

// Copy implements mailbox.Store.
func (s *Store) Copy(ctx context.Context, id, toFolder string) (mailbox.Email, error) {
	var out mailbox.Email
	err := s.onEmail(ctx, id, func(tx pgx.Tx, e mailbox.Email, _ int64, body string, ch *[]mailbox.Change) error {
		to, n, err := s.lockFolder(ctx, tx, e.Mailbox, toFolder)
		if err != nil {
			return err
		}
		e.ID, e.Folder = s.kit.NewEmailID(), n
		if _, err := addUsage(ctx, tx, e.Mailbox, e.Size, 1, 0); err != nil {
			return err
		}
		if e.UID, e.ModSeq, err = take(ctx, tx, to, e.Pending); err != nil {
			return err
		}
		if err := insertEmail(ctx, tx, e, to, body); err != nil {
			return err
		}
		*ch = append(*ch, placed(e))
		out = e
		return nil
	})
	if err != nil {
		return mailbox.Email{}, err
	}
	return out, nil
}

// Move implements mailbox.Store.
func (s *Store) Move(ctx context.Context, id, toFolder string) (mailbox.Email, error) {
	var out mailbox.Email
	err := s.onEmail(ctx, id, func(tx pgx.Tx, e mailbox.Email, fid int64, _ string, ch *[]mailbox.Change) error {
		to, n, err := s.lockFolder(ctx, tx, e.Mailbox, toFolder)
		if err != nil {
			return err
		}
		ms, err := bump(ctx, tx, fid, 1)
		if err != nil {
			return err
		}
		if !e.Pending {
			if err := s.tomb(ctx, tx, fid, ms, []int64{int64(e.UID)}); err != nil {
				return err
			}
			*ch = append(*ch, mailbox.Change{Folder: e.Folder, Kind: mailbox.ChangeExpunge, EmailID: e.ID, UID: e.UID, ModSeq: ms})
		}
		e.Folder = n
		if e.UID, e.ModSeq, err = take(ctx, tx, to, e.Pending); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "UPDATE mm_email SET folder_id = $2, uid = $3, modseq = $4 WHERE id = $1",
			e.ID, to, int64(e.UID), int64(e.ModSeq))
		if err != nil {
			return err
		}
		*ch = append(*ch, placed(e))
		out = e
		return nil
	})
	if err != nil {
		return mailbox.Email{}, err
	}
	return out, nil
}

// Expunge implements mailbox.Store.
func (s *Store) Expunge(ctx context.Context, mb, folder string, uids []uint32) ([]uint32, error) {
	var removed []uint32
	err := s.content(ctx, mb, func(tx pgx.Tx, addr string, ch *[]mailbox.Change) error {
		removed = []uint32{}
		fid, n, err := s.lockFolder(ctx, tx, addr, folder)
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT id, uid FROM mm_email WHERE folder_id = $1 AND uid > 0
			AND '\Deleted' = ANY(flags) ORDER BY uid`, fid)
		if err != nil {
			return err
		}
		type hit struct {
			id  string
			uid uint32
		}
		hits, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (hit, error) {
			var h hit
			var u int64
			err := r.Scan(&h.id, &u)
			h.uid = uint32(u)
			return h, err
		})
		if err != nil {
			return err
		}
		var ids []string
		for _, h := range hits {
			if uids != nil && !slices.Contains(uids, h.uid) {
				continue
			}
			ids = append(ids, h.id)
			removed = append(removed, h.uid)
			*ch = append(*ch, mailbox.Change{Folder: n, Kind: mailbox.ChangeExpunge, EmailID: h.id, UID: h.uid})
		}
		if len(ids) == 0 {
			return nil
		}
		bodies, err := deleteEmails(ctx, tx, addr, "DELETE FROM mm_email WHERE id = ANY($1) RETURNING body_id, size", ids)
		if err != nil {
			return err
		}
		if err := dropBodies(ctx, tx, bodies); err != nil {
			return err
		}
		ms, err := bump(ctx, tx, fid, len(ids))
		if err != nil {
			return err
		}
		gone := make([]int64, len(removed))
		for i, u := range removed {
			gone[i] = int64(u)
		}
		for i := range *ch {
			(*ch)[i].ModSeq = ms // one bump for the lot: every expunge has the folder's new modseq
		}
		return s.tomb(ctx, tx, fid, ms, gone)
	})
	if err != nil {
		return nil, err
	}
	return removed, nil
}

// Release implements mailbox.Store.
func (s *Store) Release(ctx context.Context, id string) error {
	return s.onEmail(ctx, id, func(tx pgx.Tx, e mailbox.Email, fid int64, _ string, ch *[]mailbox.Change) error {
		if !e.Pending {
			return nil
		}
		// Lock the folder's counter row for the UID.
		if _, err := tx.Exec(ctx, "SELECT 1 FROM mm_folder WHERE id = $1 FOR UPDATE", fid); err != nil {
			return err
		}
		var err error
		e.Pending = false
		if e.UID, e.ModSeq, err = take(ctx, tx, fid, false); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "UPDATE mm_email SET pending = false, uid = $2, modseq = $3 WHERE id = $1", e.ID, int64(e.UID), int64(e.ModSeq))
		if err != nil {
			return err
		}
		*ch = append(*ch, placed(e))
		return nil
	})
}
