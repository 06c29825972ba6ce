package audit

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"golang.org/x/mod/sumdb/note"
)

// Options configure a Journal.
type Options struct {
	Node               string        // host name in the origin line; default "localhost"
	CheckpointEvery    int           // records between checkpoints; default 1000
	CheckpointInterval time.Duration // at most this long between checkpoints of new records; default 1m
	Retention          time.Duration // records older are pruned by Run; 0 keeps everything
	// Anchor, when set, receives every new checkpoint (the auditor webhook); an error is logged
	// and the checkpoint is offered again with the next one.
	Anchor func(ctx context.Context, c Checkpoint) error
	Clock  func() time.Time
	Logger *slog.Logger
}

// Journal is a node's audit journal. Safe for concurrent use.
type Journal struct {
	db       *pebble.DB
	opts     Options
	origin   string
	signer   note.Signer
	vkey     string
	rcptKey  []byte
	log      *slog.Logger
	kick     chan struct{}
	mu       sync.Mutex // orders audited commits: seq, prev and the WAL position
	seq      uint64     // last record's seq
	head     string     // last record's hash
	sinceCkp int        // records since the last checkpoint
}

// Open reads the journal's head and secrets from db, making the secrets on first use.
func Open(db *pebble.DB, opts Options) (*Journal, error) {
	if opts.Node == "" {
		opts.Node = "localhost"
	}
	if opts.CheckpointEvery <= 0 {
		opts.CheckpointEvery = 1000
	}
	if opts.CheckpointInterval <= 0 {
		opts.CheckpointInterval = time.Minute
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	j := &Journal{db: db, opts: opts, origin: "multimail.dev/audit/" + opts.Node, log: opts.Logger,
		kick: make(chan struct{}, 1)}
	if err := j.loadSecrets(); err != nil {
		return nil, err
	}
	if err := j.loadHead(); err != nil {
		return nil, err
	}
	return j, nil
}

func (j *Journal) loadSecrets() error {
	skey, err := j.secret("signing", func() ([]byte, error) {
		s, v, err := note.GenerateKey(rand.Reader, j.origin)
		return []byte(s + "\n" + v), err
	})
	if err != nil {
		return err
	}
	s, v, _ := strings.Cut(string(skey), "\n")
	if j.signer, err = note.NewSigner(s); err != nil {
		return fmt.Errorf("audit: signing key: %w", err)
	}
	j.vkey = v
	j.rcptKey, err = j.secret("rcpt", func() ([]byte, error) {
		k := make([]byte, 32)
		_, err := rand.Read(k)
		return k, err
	})
	return err
}

// secret reads a named secret, making and storing it (synced) when absent.
func (j *Journal) secret(name string, make func() ([]byte, error)) ([]byte, error) {
	v, closer, err := j.db.Get(secretKey(name))
	if err == nil {
		defer closer.Close()
		return append([]byte(nil), v...), nil
	}
	if !errors.Is(err, pebble.ErrNotFound) {
		return nil, fmt.Errorf("audit: secret %s: %w", name, err)
	}
	v, err = make()
	if err != nil {
		return nil, fmt.Errorf("audit: make secret %s: %w", name, err)
	}
	if err := j.db.Set(secretKey(name), v, pebble.Sync); err != nil {
		return nil, fmt.Errorf("audit: store secret %s: %w", name, err)
	}
	return v, nil
}

// loadHead finds the last record (or the anchor of a fully pruned journal).
func (j *Journal) loadHead() error {
	j.seq, j.head = 0, zeroHash
	it, err := j.db.NewIter(&pebble.IterOptions{LowerBound: famKey(famRecord), UpperBound: prefixEnd(famKey(famRecord))})
	if err != nil {
		return fmt.Errorf("audit: open: %w", err)
	}
	defer it.Close()
	if it.Last() {
		seq, ok := seqOf(it.Key())
		if !ok {
			return fmt.Errorf("audit: bad record key %x", it.Key())
		}
		j.seq, j.head = seq, Hash(it.Value())
		return it.Close()
	}
	if a, err := j.Anchor(); err == nil {
		j.seq, j.head = a.Size, a.Hash
	} else if !errors.Is(err, ErrNoAnchor) {
		return err
	}
	return nil
}

// RcptHash returns the keyed hash under which a recipient address appears in records.
func (j *Journal) RcptHash(addr string) string { return rcptHash(j.rcptKey, addr) }

// RcptHashes hashes every address of addrs.
func (j *Journal) RcptHashes(addrs []string) []string {
	out := make([]string, len(addrs))
	for i, a := range addrs {
		out[i] = j.RcptHash(a)
	}
	return out
}

// PublicKey is the verifier key of the node's checkpoints (note.NewVerifier's format).
func (j *Journal) PublicKey() string { return j.vkey }

// Head returns the seq and hash of the last record.
func (j *Journal) Head() (uint64, string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.seq, j.head
}

// Commit adds recs to b and commits b with pebble.Sync, so the records and the change they
// record are one atomic write. The chain order is the commit order: seq and prev are assigned
// and the batch enters Pebble's write-ahead log under the journal's lock; the fsync is waited
// for outside it, so concurrent commits share fsyncs. Commit closes b.
func (j *Journal) Commit(b *pebble.Batch, recs ...Record) error {
	defer b.Close()
	if err := j.apply(b, recs); err != nil {
		return err
	}
	if err := b.SyncWait(); err != nil {
		return fmt.Errorf("audit: commit: %w", err)
	}
	j.maybeKick()
	return nil
}

func (j *Journal) apply(b *pebble.Batch, recs []Record) error {
	tails := make([][]byte, len(recs)) // marshalled outside the lock
	for i := range recs {
		tails[i] = recs[i].tail()
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	now := j.opts.Clock().UTC().Format(time.RFC3339Nano)
	seq, head := j.seq, j.head
	for i := range recs {
		r := &recs[i]
		seq++
		r.Seq, r.Prev, r.Time = seq, head, now
		v := r.withHead(tails[i])
		if err := b.Set(recordKey(seq), v, nil); err != nil {
			return fmt.Errorf("audit: batch: %w", err)
		}
		head = Hash(v)
	}
	if err := j.db.ApplyNoSyncWait(b, pebble.Sync); err != nil {
		return fmt.Errorf("audit: commit: %w", err)
	}
	j.seq, j.head = seq, head
	j.sinceCkp += len(recs)
	return nil
}

func (j *Journal) maybeKick() {
	j.mu.Lock()
	due := j.sinceCkp >= j.opts.CheckpointEvery
	j.mu.Unlock()
	if due {
		select {
		case j.kick <- struct{}{}:
		default:
		}
	}
}

// Append commits recs in a synced batch of their own (for changes another package committed).
func (j *Journal) Append(ctx context.Context, recs ...Record) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return j.Commit(j.db.NewBatch(), recs...)
}
