// postgres.go: [store] backend = "postgres": the mailbox store (mailbox/pgstore) and the queue
// (queue/pgqueue) on PostgreSQL, and `multimail migrate`. The audit journal stays in the
// node's Pebble.
package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/jackc/pgx/v5/pgxpool"

	"multimail.dev/multimail/mailbox"
	"multimail.dev/multimail/mailbox/pgstore"
	"multimail.dev/multimail/pgdb"
	"multimail.dev/multimail/queue"
	"multimail.dev/multimail/queue/pgqueue"
)

// pgStartTimeout bounds connecting and migrating at start.
const pgStartTimeout = 2 * time.Minute

// openMailboxStore opens the mailbox store of the configured backend: Pebble in db, or
// PostgreSQL (connected, migrated unless auto_migrate = false, version checked).
func (n *node) openMailboxStore(db *pebble.DB) (mailbox.Store, error) {
	opts := mailbox.Options{Logger: n.log.With("component", "mailbox")}
	if n.cfg.Store.Backend != backendPostgres {
		return mailbox.OpenPebble(db, opts)
	}
	ctx, cancel := context.WithTimeout(context.Background(), pgStartTimeout)
	defer cancel()
	pool, err := openPostgres(ctx, n.cfg.Store)
	if err != nil {
		return nil, err
	}
	n.pg = pool
	if n.cfg.Store.autoMigrate() {
		from, to, err := pgdb.Migrate(ctx, pool)
		if err != nil {
			return nil, err
		}
		if from != to {
			n.log.Info("postgres schema migrated", "from", from, "to", to)
		}
	}
	var o []pgstore.OpenOption
	if key := n.cfg.Store.secretKey; key != nil {
		o = append(o, pgstore.SecretKey(key))
	} else {
		n.log.Warn("store.secret_key_file is not set: the domains' DKIM and identity private keys are stored in PostgreSQL unencrypted")
	}
	return pgstore.Open(ctx, pool, opts, o...)
}

// openQueue opens the delivery queue: the node's Pebble queue, or with backend = "postgres"
// the queue every node on the database shares (package queue/pgqueue), whose leases last
// store.lease_ttl and are renewed every third of it while this node holds them.
func (n *node) openQueue(db *pebble.DB) (queue.Backend, error) {
	if n.cfg.Store.Backend != backendPostgres {
		return queue.Open(db, n.queueOptions())
	}
	o := n.queueOptions()
	o.LeaseTTL = n.cfg.Store.LeaseTTL.D()
	ctx, cancel := context.WithTimeout(context.Background(), pgStartTimeout)
	defer cancel()
	return pgqueue.Open(ctx, n.pg, pgqueue.Options{Queue: o, Heartbeat: o.LeaseTTL / 3})
}

func openPostgres(ctx context.Context, sc StoreConfig) (*pgxpool.Pool, error) {
	pool, err := pgdb.Open(ctx, sc.DSN)
	if err != nil {
		return nil, fmt.Errorf("store.dsn: %w", err)
	}
	return pool, nil
}

// cmdMigrate applies the binary's schema migrations to the configured PostgreSQL database.
func cmdMigrate(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "migrate", "migrate --config FILE [--check]")
	config := fs.String("config", "", "TOML config file with [store] backend = \"postgres\"")
	check := fs.Bool("check", false, "only report the schema version; exit 1 unless it is this binary's")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	if *config == "" {
		return fmt.Errorf("%w: --config is required", errUsage)
	}
	cfg, err := LoadConfig(*config)
	if err != nil {
		return err
	}
	if cfg.Store.Backend != backendPostgres {
		return fmt.Errorf("%s: store.backend is %q: there is nothing to migrate (the Pebble store migrates itself at start)", *config, cfg.Store.Backend)
	}
	ctx, cancel := context.WithTimeout(ctx, pgStartTimeout)
	defer cancel()
	pool, err := openPostgres(ctx, cfg.Store)
	if err != nil {
		return err
	}
	defer pool.Close()
	if *check {
		v, err := pgdb.Version(ctx, pool)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "schema version %d; this binary's is %d\n", v, pgdb.Latest())
		return pgdb.Check(ctx, pool)
	}
	from, to, err := pgdb.Migrate(ctx, pool)
	if err != nil {
		return err
	}
	if from == to {
		fmt.Fprintf(env.stdout, "schema at version %d: nothing to do\n", to)
		return nil
	}
	fmt.Fprintf(env.stdout, "schema migrated from version %d to %d\n", from, to)
	return nil
}

// errNoPebbleMailboxes: the restore fixup has no mailbox store in the backup to renew.
var errNoPebbleMailboxes = errors.New("the mailboxes are in PostgreSQL, not in the backup")
