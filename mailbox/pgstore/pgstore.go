package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"multimail.dev/multimail/mailbox"
	"multimail.dev/multimail/pgdb"
)

// Store is mailbox.Store on PostgreSQL.
type Store struct {
	kit  *mailbox.Kit
	pool *pgxpool.Pool
	// stripes serialise this node's writers of one mailbox's contents around the database
	// transaction and the publication of its changes, so local watchers see commit order.
	stripes [64]sync.Mutex
	watch   versions // what this node's watchers know of each watched mailbox (watch.go)
	stop    context.CancelFunc
	polling sync.WaitGroup
	seal    *sealer // nil: domain records stored as plain JSON (seal.go)
}

var (
	_ mailbox.Store      = (*Store)(nil)
	_ mailbox.FlagLister = (*Store)(nil)
)

// Open returns a Store on pool, refusing a database that is not at this binary's schema
// version (pgdb.Check: run pgdb.Migrate first).
func Open(ctx context.Context, pool *pgxpool.Pool, opts mailbox.Options, o ...OpenOption) (*Store, error) {
	if err := pgdb.Check(ctx, pool); err != nil {
		return nil, err
	}
	s := &Store{kit: mailbox.NewKit(opts), pool: pool}
	for _, f := range o {
		if err := f(s); err != nil {
			return nil, err
		}
	}
	if n, err := s.sealPlainDomains(ctx); err != nil {
		return nil, fmt.Errorf("seal domain records: %w", err)
	} else if n > 0 {
		s.kit.Options().Logger.Info("pgstore: domain records encrypted with the store secret key", "domains", n)
	}
	s.watch.known, s.watch.inflight = map[string]int64{}, map[string]int{}
	pctx, stop := context.WithCancel(context.Background())
	s.stop = stop
	s.polling.Go(func() { s.poll(pctx) })
	return s, nil
}

// Close stops the poller of other nodes' changes; the pool is the caller's.
func (s *Store) Close() {
	s.stop()
	s.polling.Wait()
}

func (s *Store) tx(ctx context.Context, fn func(pgx.Tx) error) error {
	return pgdb.Tx(ctx, s.pool, fn)
}

// row is pool.QueryRow whose Scan runs the query again on 40001/40P01 (pgdb.Retry).
func (s *Store) row(ctx context.Context, q string, args ...any) pgx.Row {
	return retryRow{ctx, s, q, args}
}

type retryRow struct {
	ctx  context.Context
	s    *Store
	q    string
	args []any
}

func (r retryRow) Scan(dest ...any) error {
	return pgdb.Retry(r.ctx, func() error { return r.s.pool.QueryRow(r.ctx, r.q, r.args...).Scan(dest...) })
}

// retrying is the pool as a QueryRow-er whose rows retry.
type retrying struct{ s *Store }

func (r retrying) QueryRow(ctx context.Context, q string, args ...any) pgx.Row {
	return r.s.row(ctx, q, args...)
}

// exec is pool.Exec (one autocommitted statement) retried on 40001/40P01.
func (s *Store) exec(ctx context.Context, q string, args ...any) (pgconn.CommandTag, error) {
	var tag pgconn.CommandTag
	err := pgdb.Retry(ctx, func() error {
		var err error
		tag, err = s.pool.Exec(ctx, q, args...)
		return err
	})
	return tag, err
}

// query runs q and hands its rows to each, the whole retried on 40001/40P01 (each must start
// its result afresh).
func (s *Store) query(ctx context.Context, each func(pgx.Rows) error, q string, args ...any) error {
	return pgdb.Retry(ctx, func() error {
		rows, err := s.pool.Query(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		return each(rows)
	})
}

func (s *Store) stripe(addr string) *sync.Mutex {
	h := fnv.New32a()
	h.Write([]byte(addr))
	return &s.stripes[h.Sum32()%uint32(len(s.stripes))]
}

// content runs fn in a transaction that first locks the mailbox's row (the database-wide
// writer lock of its contents; ErrNotFound if absent), and publishes the changes fn
// collected after the commit. fn may run more than once (retries); only the last run's
// changes are published.
func (s *Store) content(ctx context.Context, address string, fn func(tx pgx.Tx, addr string, ch *[]mailbox.Change) error) error {
	addr, err := mailbox.NormalizeAddress(address)
	if err != nil {
		return fmt.Errorf("mailbox %q: %w", address, mailbox.ErrNotFound)
	}
	mu := s.stripe(addr)
	mu.Lock()
	defer mu.Unlock()
	var (
		changes []mailbox.Change
		version int64
	)
	s.watch.begin(addr)
	err = s.tx(ctx, func(tx pgx.Tx) error {
		changes = changes[:0]
		// Counting the change locks the row: the mailbox's writer lock across nodes.
		err := tx.QueryRow(ctx, "UPDATE mm_mailbox SET version = version + 1 WHERE address = $1 RETURNING version", addr).Scan(&version)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("mailbox %s: %w", addr, mailbox.ErrNotFound)
		}
		if err != nil {
			return err
		}
		return fn(tx, addr, &changes)
	})
	if err != nil {
		s.watch.end(addr, 0)
		return err
	}
	s.kit.Publish(addr, changes...)
	s.watch.end(addr, version)
	return nil
}

// ---- directory ----

// AddDomain implements mailbox.Store.
func (s *Store) AddDomain(ctx context.Context, d mailbox.Domain) error {
	d, err := s.kit.PrepareDomain(d)
	if err != nil {
		return err
	}
	data, err := json.Marshal(d)
	if err != nil {
		return err
	}
	tag, err := s.exec(ctx, "INSERT INTO mm_domain (name, data) VALUES ($1, $2) ON CONFLICT DO NOTHING", d.Name, s.seal.seal(d.Name, data))
	if err != nil {
		return fmt.Errorf("add domain %s: %w", d.Name, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("add domain %s: %w", d.Name, mailbox.ErrExists)
	}
	return nil
}

// Domain implements mailbox.Store.
func (s *Store) Domain(ctx context.Context, name string) (mailbox.Domain, error) {
	n, err := mailbox.NormalizeDomain(name)
	if err != nil {
		return mailbox.Domain{}, fmt.Errorf("domain %q: %w", name, mailbox.ErrNotFound)
	}
	var data []byte
	err = s.row(ctx, "SELECT data FROM mm_domain WHERE name = $1", n).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		return mailbox.Domain{}, fmt.Errorf("domain %s: %w", n, mailbox.ErrNotFound)
	}
	if err != nil {
		return mailbox.Domain{}, err
	}
	return s.decodeDomain(n, data)
}

// SetIdentityKeys implements mailbox.Store.
func (s *Store) SetIdentityKeys(ctx context.Context, domain string, keys []mailbox.IdentityKey) error {
	n, err := mailbox.NormalizeDomain(domain)
	if err != nil {
		return fmt.Errorf("domain %q: %w", domain, mailbox.ErrNotFound)
	}
	return s.tx(ctx, func(tx pgx.Tx) error {
		var data []byte
		err := tx.QueryRow(ctx, "SELECT data FROM mm_domain WHERE name = $1 FOR UPDATE", n).Scan(&data)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("domain %s: %w", n, mailbox.ErrNotFound)
		}
		if err != nil {
			return err
		}
		d, err := s.decodeDomain(n, data)
		if err != nil {
			return err
		}
		d.IdentityKeys = keys
		if data, err = json.Marshal(d); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "UPDATE mm_domain SET data = $2 WHERE name = $1", n, s.seal.seal(n, data))
		return err
	})
}

// Domains implements mailbox.Store.
func (s *Store) Domains(ctx context.Context) ([]mailbox.Domain, error) {
	var out []mailbox.Domain
	err := s.query(ctx, func(rows pgx.Rows) error {
		out = []mailbox.Domain{}
		var name string
		var data []byte
		_, err := pgx.ForEachRow(rows, []any{&name, &data}, func() error {
			d, err := s.decodeDomain(name, data)
			if errors.Is(err, ErrSealed) {
				return err // the wrong key is the operator's to fix, not a record to skip
			}
			if err != nil {
				s.kit.Options().Logger.Warn("pgstore: corrupt domain record skipped", "err", err)
				return nil
			}
			out = append(out, d)
			return nil
		})
		return err
	}, "SELECT name, data FROM mm_domain ORDER BY name")
	return out, err
}

// AddMailbox implements mailbox.Store.
func (s *Store) AddMailbox(ctx context.Context, m mailbox.Mailbox) error {
	m, err := s.kit.PrepareMailbox(m)
	if err != nil {
		return err
	}
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "INSERT INTO mm_mailbox (address, data) VALUES ($1, $2) ON CONFLICT DO NOTHING", m.Address, data)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("add mailbox %s: %w", m.Address, mailbox.ErrExists)
		}
		// Folders left by an earlier mailbox of this address are gone with it (DeleteMailbox).
		for _, f := range mailbox.DefaultFolders() {
			if _, err := s.insertFolder(ctx, tx, m.Address, f.Name, f.SpecialUse); err != nil {
				return err
			}
		}
		return nil
	})
}

// insertFolder creates a folder with a fresh UIDVALIDITY; false if the name exists.
func (s *Store) insertFolder(ctx context.Context, tx pgx.Tx, addr, name, specialUse string) (bool, error) {
	var validity int64
	err := tx.QueryRow(ctx, "UPDATE mm_counter SET value = GREATEST(value + 1, $1) WHERE name = 'uidvalidity' RETURNING value",
		int64(s.kit.ValidityFloor())).Scan(&validity)
	if err != nil {
		return false, fmt.Errorf("UIDVALIDITY: %w", err)
	}
	tag, err := tx.Exec(ctx, `INSERT INTO mm_folder (mailbox, name, special_use, uid_validity, uid_next, highest_modseq, subscribed)
		VALUES ($1, $2, $3, $4, 1, 1, true) ON CONFLICT DO NOTHING`, addr, name, specialUse, validity)
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() == 1, nil
}

// UpdateMailbox implements mailbox.Store.
func (s *Store) UpdateMailbox(ctx context.Context, m mailbox.Mailbox) error {
	m, err := s.kit.PrepareMailbox(m)
	if err != nil {
		return err
	}
	err = s.tx(ctx, func(tx pgx.Tx) error {
		old, err := lockMailbox(ctx, tx, m.Address)
		if err != nil {
			return err
		}
		nm := m
		nm.Created = old.Created
		data, err := json.Marshal(nm)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "UPDATE mm_mailbox SET data = $2 WHERE address = $1", m.Address, data)
		return err
	})
	if err != nil {
		return fmt.Errorf("update mailbox %s: %w", m.Address, err)
	}
	s.kit.FlushAuth(m.Address) // a changed password logs in with bcrypt at once
	return nil
}

// lockMailbox reads a mailbox's record FOR UPDATE.
func lockMailbox(ctx context.Context, tx pgx.Tx, addr string) (mailbox.Mailbox, error) {
	var data []byte
	err := tx.QueryRow(ctx, "SELECT data FROM mm_mailbox WHERE address = $1 FOR UPDATE", addr).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		return mailbox.Mailbox{}, fmt.Errorf("mailbox %s: %w", addr, mailbox.ErrNotFound)
	}
	if err != nil {
		return mailbox.Mailbox{}, err
	}
	return decodeMailbox(data)
}

func decodeMailbox(data []byte) (mailbox.Mailbox, error) {
	var m mailbox.Mailbox
	if err := json.Unmarshal(data, &m); err != nil {
		return mailbox.Mailbox{}, fmt.Errorf("mailbox record: %w: %v", mailbox.ErrCorrupt, err)
	}
	return m, nil
}

// Mailbox implements mailbox.Store.
func (s *Store) Mailbox(ctx context.Context, address string) (mailbox.Mailbox, error) {
	a, err := mailbox.NormalizeAddress(address)
	if err != nil {
		return mailbox.Mailbox{}, fmt.Errorf("mailbox %q: %w", address, mailbox.ErrNotFound)
	}
	var data []byte
	err = s.row(ctx, "SELECT data FROM mm_mailbox WHERE address = $1", a).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		return mailbox.Mailbox{}, fmt.Errorf("mailbox %s: %w", a, mailbox.ErrNotFound)
	}
	if err != nil {
		return mailbox.Mailbox{}, err
	}
	return decodeMailbox(data)
}

// Mailboxes implements mailbox.Store.
func (s *Store) Mailboxes(ctx context.Context) ([]mailbox.Mailbox, error) {
	var out []mailbox.Mailbox
	err := s.query(ctx, func(rows pgx.Rows) error {
		out = []mailbox.Mailbox{}
		var data []byte
		_, err := pgx.ForEachRow(rows, []any{&data}, func() error {
			m, err := decodeMailbox(data)
			if err != nil {
				s.kit.Options().Logger.Warn("pgstore: corrupt mailbox record skipped", "err", err)
				return nil
			}
			out = append(out, m)
			return nil
		})
		return err
	}, "SELECT data FROM mm_mailbox ORDER BY address")
	return out, err
}

// Policy implements mailbox.Store.
func (s *Store) Policy(ctx context.Context, address string) (mailbox.Policy, error) {
	a, err := mailbox.NormalizeAddress(address)
	if err != nil {
		return mailbox.Policy{}, fmt.Errorf("mailbox %q: %w", address, mailbox.ErrNotFound)
	}
	var data []byte
	err = s.row(ctx, "SELECT policy FROM mm_mailbox WHERE address = $1", a).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		return mailbox.Policy{}, fmt.Errorf("mailbox %s: %w", a, mailbox.ErrNotFound)
	}
	if err != nil {
		return mailbox.Policy{}, err
	}
	return decodePolicy(data)
}

func decodePolicy(data []byte) (mailbox.Policy, error) {
	var p mailbox.Policy
	if data == nil {
		return p, nil
	}
	if err := json.Unmarshal(data, &p); err != nil {
		return mailbox.Policy{}, fmt.Errorf("policy record: %w: %v", mailbox.ErrCorrupt, err)
	}
	return p, nil
}

// UpdateOversight implements mailbox.Store: the mailbox row is locked for the read, fn and
// the write of both records, in one transaction.
func (s *Store) UpdateOversight(ctx context.Context, address string, fn mailbox.PolicyFunc) (mailbox.Mailbox, mailbox.Policy, error) {
	a, err := mailbox.NormalizeAddress(address)
	if err != nil {
		return mailbox.Mailbox{}, mailbox.Policy{}, fmt.Errorf("mailbox %q: %w", address, mailbox.ErrNotFound)
	}
	var nm mailbox.Mailbox
	var np mailbox.Policy
	err = s.tx(ctx, func(tx pgx.Tx) error {
		var data, pdata []byte
		err := tx.QueryRow(ctx, "SELECT data, policy FROM mm_mailbox WHERE address = $1 FOR UPDATE", a).Scan(&data, &pdata)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("mailbox %s: %w", a, mailbox.ErrNotFound)
		}
		if err != nil {
			return err
		}
		m, err := decodeMailbox(data)
		if err != nil {
			return err
		}
		p, err := decodePolicy(pdata)
		if err != nil {
			return err
		}
		edit, ep := m, mailbox.ClonePolicy(p)
		if err := fn(&edit, &ep); err != nil {
			return err
		}
		if nm, np, err = mailbox.PreparePolicy(m, edit, ep); err != nil {
			return err
		}
		if data, err = json.Marshal(nm); err != nil {
			return err
		}
		if pdata, err = json.Marshal(np); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "UPDATE mm_mailbox SET data = $2, policy = $3 WHERE address = $1", a, data, pdata)
		return err
	})
	if err != nil {
		return mailbox.Mailbox{}, mailbox.Policy{}, err
	}
	return nm, mailbox.ClonePolicy(np), nil
}

// AddAPIKey implements mailbox.Store.
func (s *Store) AddAPIKey(ctx context.Context, k mailbox.APIKey) error {
	k, err := s.kit.PrepareAPIKey(k)
	if err != nil {
		return err
	}
	data, err := json.Marshal(k)
	if err != nil {
		return err
	}
	tag, err := s.exec(ctx, "INSERT INTO mm_api_key (id, hash, data) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING", k.ID, k.Hash, data)
	if err != nil {
		return fmt.Errorf("add API key %s: %w", k.ID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("add API key %s: id or hash %w", k.ID, mailbox.ErrExists)
	}
	return nil
}

func decodeKey(data []byte) (mailbox.APIKey, error) {
	var k mailbox.APIKey
	if err := json.Unmarshal(data, &k); err != nil {
		return mailbox.APIKey{}, fmt.Errorf("API key record: %w: %v", mailbox.ErrCorrupt, err)
	}
	return k, nil
}

// APIKeyByHash implements mailbox.Store.
func (s *Store) APIKeyByHash(ctx context.Context, hash string) (mailbox.APIKey, error) {
	var data []byte
	err := s.row(ctx, "SELECT data FROM mm_api_key WHERE hash = $1", strings.ToLower(hash)).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		return mailbox.APIKey{}, fmt.Errorf("API key: %w", mailbox.ErrNotFound)
	}
	if err != nil {
		return mailbox.APIKey{}, err
	}
	return decodeKey(data)
}

// APIKeys implements mailbox.Store.
func (s *Store) APIKeys(ctx context.Context) ([]mailbox.APIKey, error) {
	var out []mailbox.APIKey
	err := s.query(ctx, func(rows pgx.Rows) error {
		out = []mailbox.APIKey{}
		var data []byte
		_, err := pgx.ForEachRow(rows, []any{&data}, func() error {
			k, err := decodeKey(data)
			if err != nil {
				s.kit.Options().Logger.Warn("pgstore: corrupt API key record skipped", "err", err)
				return nil
			}
			out = append(out, k)
			return nil
		})
		return err
	}, "SELECT data FROM mm_api_key ORDER BY id")
	return out, err
}

// DeleteAPIKey implements mailbox.Store.
func (s *Store) DeleteAPIKey(ctx context.Context, id string) error {
	tag, err := s.exec(ctx, "DELETE FROM mm_api_key WHERE id = $1", id)
	if err != nil {
		return fmt.Errorf("delete API key %s: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("delete API key %s: %w", id, mailbox.ErrNotFound)
	}
	s.kit.FlushAuth("") // a revoke flushes the login cache
	return nil
}

// Authenticate implements mailbox.Store.
func (s *Store) Authenticate(ctx context.Context, address, secret string, need []string) (mailbox.Mailbox, error) {
	m, err := s.Mailbox(ctx, address)
	if err != nil {
		if !errors.Is(err, mailbox.ErrNotFound) {
			return mailbox.Mailbox{}, err
		}
		mailbox.CheckAuthMissing(secret) // same cost as a wrong password
		return mailbox.Mailbox{}, fmt.Errorf("authenticate: %w", mailbox.ErrBadCredentials)
	}
	var kp *mailbox.APIKey
	if k, err := s.APIKeyByHash(ctx, mailbox.HashAPIKey(secret)); err == nil {
		kp = &k
	} else if !errors.Is(err, mailbox.ErrNotFound) {
		return mailbox.Mailbox{}, err
	}
	if !s.kit.CheckAuth(m, secret, kp, need) {
		return mailbox.Mailbox{}, fmt.Errorf("authenticate %s: %w", m.Address, mailbox.ErrBadCredentials)
	}
	return m, nil
}

// DeleteMailbox implements mailbox.Remover.
func (s *Store) DeleteMailbox(ctx context.Context, address string) (mailbox.Removal, error) {
	var res mailbox.Removal
	err := s.content(ctx, address, func(tx pgx.Tx, addr string, ch *[]mailbox.Change) error {
		res = mailbox.Removal{}
		if err := tx.QueryRow(ctx, "SELECT count(*) FROM mm_email WHERE mailbox = $1", addr).Scan(&res.Emails); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, "SELECT name FROM mm_folder WHERE mailbox = $1 ORDER BY name", addr)
		if err != nil {
			return err
		}
		names, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		res.Folders = len(names)
		for _, n := range names {
			*ch = append(*ch, mailbox.Change{Folder: n, Kind: mailbox.ChangeFolder})
		}
		bodies, err := deleteEmails(ctx, tx, addr, "DELETE FROM mm_email WHERE mailbox = $1 RETURNING body_id, size", addr)
		if err != nil {
			return err
		}
		if err := dropBodies(ctx, tx, bodies); err != nil {
			return err
		}
		for _, q := range []string{
			"DELETE FROM mm_vanished WHERE folder_id IN (SELECT id FROM mm_folder WHERE mailbox = $1)",
			"DELETE FROM mm_folder WHERE mailbox = $1",
			"DELETE FROM mm_thread_msgid WHERE mailbox = $1",
			"DELETE FROM mm_thread_subject WHERE mailbox = $1",
			"DELETE FROM mm_mailbox WHERE address = $1", // with its policy
		} {
			if _, err := tx.Exec(ctx, q, addr); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return mailbox.Removal{}, fmt.Errorf("delete mailbox %s: %w", address, err)
	}
	return res, nil
}

// DeleteDomain implements mailbox.Remover.
func (s *Store) DeleteDomain(ctx context.Context, name string) error {
	n, err := mailbox.NormalizeDomain(name)
	if err != nil {
		return fmt.Errorf("domain %q: %w", name, mailbox.ErrNotFound)
	}
	return s.tx(ctx, func(tx pgx.Tx) error {
		var one int
		err := tx.QueryRow(ctx, "SELECT 1 FROM mm_domain WHERE name = $1 FOR UPDATE", n).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("domain %s: %w", n, mailbox.ErrNotFound)
		}
		if err != nil {
			return err
		}
		var addr string
		err = tx.QueryRow(ctx, "SELECT address FROM mm_mailbox WHERE right(address, $2) = $1 ORDER BY address LIMIT 1",
			"@"+n, len("@"+n)).Scan(&addr)
		if err == nil {
			return fmt.Errorf("delete domain %s: mailbox %s: %w", n, addr, mailbox.ErrExists)
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		_, err = tx.Exec(ctx, "DELETE FROM mm_domain WHERE name = $1", n)
		return err
	})
}

// deleteEmails runs a DELETE … RETURNING body_id, size on mailbox addr's emails, takes them
// off its usage, and returns the distinct bodies.
func deleteEmails(ctx context.Context, tx pgx.Tx, addr, q string, args ...any) ([]string, error) {
	rows, err := tx.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	var bytes int64
	ids, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (string, error) {
		var id string
		var size int64
		err := r.Scan(&id, &size)
		bytes += size
		return id, err
	})
	if err != nil {
		return nil, err
	}
	if len(ids) > 0 {
		if _, err := addUsage(ctx, tx, addr, -bytes, -int64(len(ids)), 0); err != nil {
			return nil, err
		}
	}
	slices.Sort(ids)
	return slices.Compact(ids), nil
}

// addUsage adds to mailbox addr's usage in the transaction (the row is already locked by
// content) and returns the new usage; with quota > 0, a byte total above it is
// mailbox.ErrOverQuota (and the caller's transaction rolls back).
func addUsage(ctx context.Context, tx pgx.Tx, addr string, bytes, messages, quota int64) (mailbox.Usage, error) {
	var u mailbox.Usage
	err := tx.QueryRow(ctx, `UPDATE mm_mailbox SET usage_bytes = usage_bytes + $2, usage_messages = usage_messages + $3
		WHERE address = $1 RETURNING usage_bytes, usage_messages`, addr, bytes, messages).Scan(&u.Bytes, &u.Messages)
	if errors.Is(err, pgx.ErrNoRows) {
		return u, fmt.Errorf("mailbox %s: %w", addr, mailbox.ErrNotFound)
	}
	if err != nil {
		return u, fmt.Errorf("usage of %s: %w", addr, err)
	}
	if quota > 0 && u.Bytes > quota {
		return u, fmt.Errorf("%d bytes in use, %d more, quota %d: %w", u.Bytes-bytes, bytes, quota, mailbox.ErrOverQuota)
	}
	return u, nil
}

// Usage implements mailbox.Store.
func (s *Store) Usage(ctx context.Context, address string) (mailbox.Usage, error) {
	addr, err := mailbox.NormalizeAddress(address)
	if err != nil {
		return mailbox.Usage{}, fmt.Errorf("mailbox %q: %w", address, mailbox.ErrNotFound)
	}
	var u mailbox.Usage
	err = s.row(ctx, "SELECT usage_bytes, usage_messages FROM mm_mailbox WHERE address = $1", addr).Scan(&u.Bytes, &u.Messages)
	if errors.Is(err, pgx.ErrNoRows) {
		return u, fmt.Errorf("mailbox %s: %w", addr, mailbox.ErrNotFound)
	}
	return u, err
}

// dropBodies deletes the bodies no email references any more.
func dropBodies(ctx context.Context, tx pgx.Tx, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, `DELETE FROM mm_body b WHERE b.id = ANY($1)
		AND NOT EXISTS (SELECT 1 FROM mm_email e WHERE e.body_id = b.id)`, ids)
	return err
}

// nanos and fromNanos convert InternalDate (offset kept apart, as the Pebble record does).
func fromNanos(ns int64, offset int32) time.Time {
	if offset == 0 {
		return time.Unix(0, ns).UTC()
	}
	return time.Unix(0, ns).In(time.FixedZone("", int(offset)))
}

func zoneOffset(t time.Time) int32 {
	_, off := t.Zone()
	return int32(off)
}
