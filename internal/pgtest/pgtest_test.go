package pgtest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

// TestSchemaIsolation checks that each DSN is a fresh schema of a server that commits
// durably (fsync and synchronous_commit on when the cluster is this package's).
func TestSchemaIsolation(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, b := DSN(t), DSN(t)
	ca, err := pgx.Connect(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	defer ca.Close(ctx)
	cb, err := pgx.Connect(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	defer cb.Close(ctx)
	if _, err := ca.Exec(ctx, "CREATE TABLE x (v int)"); err != nil {
		t.Fatal(err)
	}
	if _, err := cb.Exec(ctx, "CREATE TABLE x (v int)"); err != nil {
		t.Fatalf("schemas not isolated: %v", err)
	}
	if os.Getenv(EnvDSN) == "" {
		for _, setting := range []string{"fsync", "synchronous_commit"} {
			var v string
			if err := ca.QueryRow(ctx, "SHOW "+setting).Scan(&v); err != nil {
				t.Fatal(err)
			}
			if v != "on" {
				t.Errorf("%s = %s, want on", setting, v)
			}
		}
		var addr string
		if err := ca.QueryRow(ctx, "SELECT host(inet_server_addr())").Scan(&addr); err != nil {
			t.Fatal(err)
		}
		if addr != "127.0.0.1" {
			t.Errorf("server address %s, want 127.0.0.1", addr)
		}
	}
}
