// Package pgdb owns multimail's PostgreSQL database: opening a connection pool that refuses a
// server which would acknowledge commits before they are durable, the schema migrations built
// into the binary (migrations/NNNN_name.sql, applied in order, recorded in mm_schema), the
// schema version check, and the transaction runner that retries serialization failures and
// deadlocks. The stores on PostgreSQL (mailbox/pgstore) build on it; it knows nothing of mail.
//
// The SQL stays portable where it costs little, for PostgreSQL-protocol engines: no triggers,
// no server-side functions, no advisory locks, no LISTEN/NOTIFY on a path that must be
// correct. Explicit row locks (SELECT … FOR UPDATE) only where read-then-write needs them.
//
// # Schema version
//
// mm_schema holds one row (id 1) with the version of the last migration applied. Migrate
// creates it if missing (CREATE TABLE IF NOT EXISTS; a concurrent creator's duplicate error
// is retried), then, in one transaction, locks that row with SELECT … FOR UPDATE, applies the
// migrations above the version it holds and updates it: two nodes starting together
// serialise on the row and the second finds nothing left to do. A database whose version is
// above the binary's (a newer binary migrated it) is refused with ErrSchemaTooNew, at
// migrate and at start.
package pgdb

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Migration is one schema step.
type Migration struct {
	Version int    // from the file name's number
	Name    string // the file name
	SQL     string
}

// Errors of the schema check.
var (
	// ErrSchemaTooNew: the database was migrated by a newer binary; this one must not touch it.
	ErrSchemaTooNew = errors.New("pgdb: the database schema is newer than this binary")
	// ErrSchemaOld: the database needs `multimail migrate` (or migrate at start).
	ErrSchemaOld = errors.New("pgdb: the database schema is older than this binary")
	// ErrNotDurable: the server would acknowledge a commit before it is durable.
	ErrNotDurable = errors.New("pgdb: synchronous_commit = off: commits would be acknowledged before they are durable")
)

// Migrations returns the built-in migrations in order.
func Migrations() []Migration {
	entries, err := fs.ReadDir(migrationFS, "migrations")
	if err != nil {
		panic(err) // embedded: cannot fail
	}
	var out []Migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			panic("pgdb: migration file without a number: " + e.Name())
		}
		b, err := migrationFS.ReadFile(path.Join("migrations", e.Name()))
		if err != nil {
			panic(err)
		}
		out = append(out, Migration{Version: v, Name: e.Name(), SQL: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	for i, m := range out {
		if m.Version != i+1 {
			panic(fmt.Sprintf("pgdb: migrations must be numbered 1, 2, …: %s is #%d", m.Name, i+1))
		}
	}
	return out
}

// Latest is the schema version this binary speaks.
func Latest() int { return len(Migrations()) }

// Open returns a pool on dsn (a libpq URL or key=value string; pgxpool's pool_max_conns and
// friends apply). It connects once before returning and refuses a server (or role, or
// database) with synchronous_commit = off, on that connection and on every later one.
func Open(ctx context.Context, dsn string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("pgdb: DSN: %w", err)
	}
	cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error { return CheckDurable(ctx, c) }
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgdb: %w", err)
	}
	c, err := pool.Acquire(ctx)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("pgdb: connect: %w", err)
	}
	c.Release()
	return pool, nil
}

// CheckDurable refuses a connection whose commits would not wait for the WAL flush.
func CheckDurable(ctx context.Context, c *pgx.Conn) error {
	var v string
	if err := c.QueryRow(ctx, "SHOW synchronous_commit").Scan(&v); err != nil {
		return fmt.Errorf("pgdb: SHOW synchronous_commit: %w", err)
	}
	if strings.EqualFold(v, "off") {
		return ErrNotDurable
	}
	return nil
}

// Version returns the schema version of the database (0 for an empty one).
func Version(ctx context.Context, pool *pgxpool.Pool) (int, error) {
	var v int
	err := pool.QueryRow(ctx, "SELECT version FROM mm_schema WHERE id = 1").Scan(&v)
	if err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "42P01" || errors.Is(err, pgx.ErrNoRows) { // undefined_table
			return 0, nil
		}
		return 0, fmt.Errorf("pgdb: schema version: %w", err)
	}
	return v, nil
}

// Check returns nil if the database is at this binary's schema version, ErrSchemaOld below
// it and ErrSchemaTooNew above it.
func Check(ctx context.Context, pool *pgxpool.Pool) error {
	v, err := Version(ctx, pool)
	if err != nil {
		return err
	}
	switch latest := Latest(); {
	case v > latest:
		return fmt.Errorf("%w: database at version %d, this binary knows %d", ErrSchemaTooNew, v, latest)
	case v < latest:
		return fmt.Errorf("%w: database at version %d, this binary needs %d (run multimail migrate)", ErrSchemaOld, v, latest)
	}
	return nil
}

// Migrate brings the database to this binary's schema version and returns the versions
// before and after. Safe to run from several nodes at once (see the package comment).
func Migrate(ctx context.Context, pool *pgxpool.Pool) (from, to int, err error) {
	err = retry(ctx, func() error {
		_, err := pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS mm_schema (
			id integer PRIMARY KEY, version integer NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())`)
		if err != nil {
			return err
		}
		_, err = pool.Exec(ctx, `INSERT INTO mm_schema (id, version) VALUES (1, 0) ON CONFLICT (id) DO NOTHING`)
		return err
	}, "23505", "42P07") // a concurrent CREATE TABLE IF NOT EXISTS can still collide
	if err != nil {
		return 0, 0, fmt.Errorf("pgdb: create mm_schema: %w", err)
	}
	ms := Migrations()
	err = Tx(ctx, pool, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, "SELECT version FROM mm_schema WHERE id = 1 FOR UPDATE").Scan(&from); err != nil {
			return err
		}
		to = from
		if from > len(ms) {
			return fmt.Errorf("%w: database at version %d, this binary knows %d", ErrSchemaTooNew, from, len(ms))
		}
		for _, m := range ms[from:] {
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return fmt.Errorf("migration %s: %w", m.Name, err)
			}
			to = m.Version
		}
		if to == from {
			return nil
		}
		_, err := tx.Exec(ctx, "UPDATE mm_schema SET version = $1, updated_at = now() WHERE id = 1", to)
		return err
	})
	if err != nil {
		return 0, 0, fmt.Errorf("pgdb: migrate: %w", err)
	}
	return from, to, nil
}

// MaxAttempts bounds Tx's retries of one transaction.
const MaxAttempts = 20

// Retryable reports whether err is a serialization failure (40001) or a deadlock (40P01):
// the transaction was rolled back and may simply be run again.
func Retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

// Tx runs fn in a transaction and commits it, running it again (with a short random pause)
// when the database reports a serialization failure or a deadlock, at most MaxAttempts times.
// fn must not have effects outside the transaction that a second run would repeat.
func Tx(ctx context.Context, pool *pgxpool.Pool, fn func(pgx.Tx) error) error {
	return retry(ctx, func() error { return pgx.BeginFunc(ctx, pool, fn) })
}

// Retry runs f (one statement outside a transaction, or a read) again, like Tx, when the
// database reports a serialization failure or a deadlock.
func Retry(ctx context.Context, f func() error) error { return retry(ctx, f) }

// retry runs f until it succeeds, fails with an error that is not retryable (Retryable or one
// of the extra SQLSTATE codes), ctx ends, or MaxAttempts runs.
func retry(ctx context.Context, f func() error, extra ...string) error {
	var err error
	for attempt := range MaxAttempts {
		if err = f(); err == nil {
			return nil
		}
		var pe *pgconn.PgError
		if !Retryable(err) && !(errors.As(err, &pe) && contains(extra, pe.Code)) {
			return err
		}
		pause := time.Duration(1+rand.IntN(5<<min(attempt, 6))) * time.Millisecond
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pause):
		}
	}
	return fmt.Errorf("gave up after %d attempts: %w", MaxAttempts, err)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
