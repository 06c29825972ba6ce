package pgdb_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"multimail.dev/multimail/internal/pgtest"
	"multimail.dev/multimail/pgdb"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

func open(t *testing.T, dsn string) *pgxpool.Pool {
	t.Helper()
	p, err := pgdb.Open(ctx(t), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func TestMigrationsNumbered(t *testing.T) {
	ms := pgdb.Migrations()
	if len(ms) == 0 || pgdb.Latest() != len(ms) {
		t.Fatalf("migrations %d, latest %d", len(ms), pgdb.Latest())
	}
	for _, m := range ms {
		// Portable SQL (docs/postgresql.md): nothing a PostgreSQL-protocol engine may lack.
		low := strings.ToLower(m.SQL)
		for _, banned := range []string{"create trigger", "create function", "create or replace function", "pg_advisory", "create sequence", "listen ", "notify "} {
			if strings.Contains(low, banned) {
				t.Errorf("%s uses %q", m.Name, banned)
			}
		}
	}
}

func TestMigrate(t *testing.T) {
	c, p := ctx(t), open(t, pgtest.DSN(t))
	if err := pgdb.Check(c, p); !errors.Is(err, pgdb.ErrSchemaOld) {
		t.Fatalf("Check on an empty database = %v, want ErrSchemaOld", err)
	}
	from, to, err := pgdb.Migrate(c, p)
	if err != nil || from != 0 || to != pgdb.Latest() {
		t.Fatalf("Migrate = %d, %d, %v", from, to, err)
	}
	if err := pgdb.Check(c, p); err != nil {
		t.Fatal(err)
	}
	from, to, err = pgdb.Migrate(c, p)
	if err != nil || from != to || to != pgdb.Latest() {
		t.Fatalf("second Migrate = %d, %d, %v", from, to, err)
	}
	// A newer binary migrated the database: this one refuses it, at start and at migrate.
	if _, err := p.Exec(c, "UPDATE mm_schema SET version = version + 1"); err != nil {
		t.Fatal(err)
	}
	if err := pgdb.Check(c, p); !errors.Is(err, pgdb.ErrSchemaTooNew) {
		t.Fatalf("Check = %v, want ErrSchemaTooNew", err)
	}
	if _, _, err := pgdb.Migrate(c, p); !errors.Is(err, pgdb.ErrSchemaTooNew) {
		t.Fatalf("Migrate = %v, want ErrSchemaTooNew", err)
	}
}

// TestMigrateRace starts several "nodes" migrating one empty database at once: each
// migration runs once (its CREATE TABLEs would fail a second time), every node succeeds.
func TestMigrateRace(t *testing.T) {
	dsn := pgtest.DSN(t)
	const nodes = 4
	pools := make([]*pgxpool.Pool, nodes)
	for i := range pools {
		pools[i] = open(t, dsn)
	}
	var wg sync.WaitGroup
	errs := make([]error, nodes)
	applied := make([]bool, nodes)
	for i, p := range pools {
		wg.Go(func() {
			from, to, err := pgdb.Migrate(ctx(t), p)
			errs[i], applied[i] = err, from != to
		})
	}
	wg.Wait()
	n := 0
	for i := range nodes {
		if errs[i] != nil {
			t.Errorf("node %d: %v", i, errs[i])
		}
		if applied[i] {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d nodes applied migrations, want exactly 1", n)
	}
	if err := pgdb.Check(ctx(t), pools[0]); err != nil {
		t.Fatal(err)
	}
}

func TestRefusesAsyncCommit(t *testing.T) {
	dsn := pgtest.DSN(t)
	_, err := pgdb.Open(ctx(t), dsn+"&synchronous_commit=off")
	if !errors.Is(err, pgdb.ErrNotDurable) {
		t.Fatalf("Open with synchronous_commit=off = %v, want ErrNotDurable", err)
	}
	p := open(t, dsn+"&synchronous_commit=local")
	if err := p.Ping(ctx(t)); err != nil {
		t.Fatal(err)
	}
}

// TestTxRetries: a transaction that hits a serialization failure or a deadlock runs again;
// any other error is returned at once.
func TestTxRetries(t *testing.T) {
	c, p := ctx(t), open(t, pgtest.DSN(t))
	for _, code := range []string{"40001", "40P01"} {
		runs := 0
		err := pgdb.Tx(c, p, func(tx pgx.Tx) error {
			runs++
			if runs < 3 {
				return &pgconn.PgError{Code: code}
			}
			_, err := tx.Exec(c, "SELECT 1")
			return err
		})
		if err != nil || runs != 3 {
			t.Errorf("%s: err %v after %d runs, want success on the 3rd", code, err, runs)
		}
	}
	runs := 0
	err := pgdb.Tx(c, p, func(tx pgx.Tx) error { runs++; return &pgconn.PgError{Code: "23505"} })
	if runs != 1 || pgdb.Retryable(err) || err == nil {
		t.Errorf("unique violation: %d runs, err %v", runs, err)
	}
	runs = 0
	err = pgdb.Retry(c, func() error {
		runs++
		if runs == 1 {
			return &pgconn.PgError{Code: "40001"}
		}
		return nil
	})
	if err != nil || runs != 2 {
		t.Errorf("Retry: %v after %d runs", err, runs)
	}
}
