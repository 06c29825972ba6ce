package audit

// checkpoint.go makes, stores, parses and anchors signed checkpoints.

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"golang.org/x/mod/sumdb/note"
)

// ErrNoAnchor: the journal was never pruned.
var ErrNoAnchor = errors.New("audit: no anchor")

// Checkpoint is a signed statement that the journal's record Size hashes to Hash.
type Checkpoint struct {
	Origin string
	Size   uint64 // seq of the last record covered
	Hash   string // hex SHA-256 of that record (64 zeros for size 0)
	Time   time.Time
	Note   string // the signed note text (what is stored, exported and sent)
}

// checkpointText is the note text: origin, size, base64 hash, then the extension "time …".
func checkpointText(origin string, size uint64, hash string, t time.Time) (string, error) {
	raw, err := hex.DecodeString(hash)
	if err != nil || len(raw) != 32 {
		return "", fmt.Errorf("audit: bad head hash %q", hash)
	}
	return fmt.Sprintf("%s\n%d\n%s\ntime %s\n", origin, size, base64.StdEncoding.EncodeToString(raw),
		t.UTC().Format(time.RFC3339)), nil
}

// Checkpoint signs and stores a checkpoint of the current head (none when there is no new
// record since the last one, in which case the last is returned).
func (j *Journal) Checkpoint(ctx context.Context) (Checkpoint, error) {
	if err := ctx.Err(); err != nil {
		return Checkpoint{}, err
	}
	j.mu.Lock()
	seq, head := j.seq, j.head
	j.sinceCkp = 0
	j.mu.Unlock()
	if c, err := j.storedCheckpoint(ckptKey(seq)); err == nil {
		return c, nil
	}
	c, err := j.sign(seq, head)
	if err != nil {
		return Checkpoint{}, err
	}
	if err := j.db.Set(ckptKey(seq), []byte(c.Note), pebble.Sync); err != nil {
		return Checkpoint{}, fmt.Errorf("audit: store checkpoint: %w", err)
	}
	return c, nil
}

func (j *Journal) sign(seq uint64, head string) (Checkpoint, error) {
	now := j.opts.Clock().UTC().Truncate(time.Second)
	text, err := checkpointText(j.origin, seq, head, now)
	if err != nil {
		return Checkpoint{}, err
	}
	msg, err := note.Sign(&note.Note{Text: text}, j.signer)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("audit: sign checkpoint: %w", err)
	}
	return Checkpoint{Origin: j.origin, Size: seq, Hash: head, Time: now, Note: string(msg)}, nil
}

func (j *Journal) storedCheckpoint(key []byte) (Checkpoint, error) {
	v, closer, err := j.db.Get(key)
	if err != nil {
		return Checkpoint{}, err
	}
	defer closer.Close()
	return ParseCheckpoint(string(v), j.vkey)
}

// LatestCheckpoint returns the newest stored checkpoint (pebble.ErrNotFound when none).
func (j *Journal) LatestCheckpoint() (Checkpoint, error) {
	it, err := j.db.NewIter(&pebble.IterOptions{LowerBound: famKey(famCkpt), UpperBound: prefixEnd(famKey(famCkpt))})
	if err != nil {
		return Checkpoint{}, err
	}
	defer it.Close()
	if !it.Last() {
		return Checkpoint{}, pebble.ErrNotFound
	}
	return ParseCheckpoint(string(it.Value()), j.vkey)
}

// Anchor returns the checkpoint over the pruned prefix (ErrNoAnchor when never pruned).
func (j *Journal) Anchor() (Checkpoint, error) {
	c, err := j.storedCheckpoint(anchorKey())
	if errors.Is(err, pebble.ErrNotFound) {
		return Checkpoint{}, ErrNoAnchor
	}
	return c, err
}

// ParseCheckpoint checks a signed checkpoint against the verifier key vkey and parses it.
func ParseCheckpoint(msg, vkey string) (Checkpoint, error) {
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("audit: verifier key: %w", err)
	}
	n, err := note.Open([]byte(msg), note.VerifierList(v))
	if err != nil {
		return Checkpoint{}, fmt.Errorf("audit: checkpoint signature: %w", err)
	}
	c, err := parseCheckpointText(n.Text)
	if err != nil {
		return Checkpoint{}, err
	}
	c.Note = msg
	return c, nil
}

func parseCheckpointText(text string) (Checkpoint, error) {
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) < 3 {
		return Checkpoint{}, fmt.Errorf("audit: checkpoint: %d lines", len(lines))
	}
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("audit: checkpoint size: %w", err)
	}
	raw, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(raw) != 32 {
		return Checkpoint{}, fmt.Errorf("audit: checkpoint hash %q", lines[2])
	}
	c := Checkpoint{Origin: lines[0], Size: size, Hash: hex.EncodeToString(raw)}
	for _, l := range lines[3:] {
		if t, ok := strings.CutPrefix(l, "time "); ok {
			c.Time, _ = time.Parse(time.RFC3339, t)
		}
	}
	return c, nil
}

// Run makes checkpoints (every CheckpointEvery records or CheckpointInterval when there are
// new records), hands them to Options.Anchor, and prunes past Retention, until ctx ends.
func (j *Journal) Run(ctx context.Context) error {
	t := time.NewTicker(j.opts.CheckpointInterval)
	defer t.Stop()
	var sent uint64
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-j.kick:
		}
		sent = j.round(ctx, sent)
	}
}

// round is one pass of Run; it returns the size of the last checkpoint anchored.
func (j *Journal) round(ctx context.Context, sent uint64) uint64 {
	if j.opts.Retention > 0 {
		if _, err := j.Prune(ctx, j.opts.Clock().Add(-j.opts.Retention)); err != nil {
			j.log.Error("audit: prune failed", "err", err)
		}
	}
	seq, _ := j.Head()
	if seq == sent || seq == 0 {
		return sent
	}
	c, err := j.Checkpoint(ctx)
	if err != nil {
		j.log.Error("audit: checkpoint failed", "err", err)
		return sent
	}
	if j.opts.Anchor == nil {
		return c.Size
	}
	if err := j.opts.Anchor(ctx, c); err != nil {
		j.log.Warn("audit: checkpoint not anchored; offered again with the next", "size", c.Size, "err", err)
		return sent
	}
	return c.Size
}
