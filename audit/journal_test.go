package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// fakeClock advances one second per reading, so records get distinct, ordered times.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

func openTest(t *testing.T) (*Journal, *pebble.DB, *fakeClock) {
	t.Helper()
	db, err := pebble.Open("", &pebble.Options{FS: vfs.NewMem(), Logger: quiet{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	clk := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	j, err := Open(db, Options{Node: "test.example", Clock: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	return j, db, clk
}

// fill appends n records of every field kind.
func fill(t *testing.T, j *Journal, n int) {
	t.Helper()
	for i := range n {
		r := Record{Kind: KindSend, Actor: "api:key_a", Mailbox: fmt.Sprintf("mb%d@example.com", i%2),
			Object: fmt.Sprintf("msg_%d", i), Rule: "rule:1", Reason: "ok",
			Rcpts: j.RcptHashes([]string{"x@example.org"}), Detail: map[string]string{"status": "queued"}}
		if err := j.Append(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
}

func export(t *testing.T, j *Journal, f Filter) []string {
	t.Helper()
	var buf bytes.Buffer
	if err := j.Export(context.Background(), &buf, f); err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
}

func verify(lines []string, o VerifyOptions) (Report, error) {
	return Verify(strings.NewReader(strings.Join(lines, "\n")+"\n"), o)
}

// recordLine returns the index of the line of record seq.
func recordLine(t *testing.T, lines []string, seq uint64) int {
	t.Helper()
	for i, l := range lines {
		var r Record
		if json.Unmarshal([]byte(l), &r) == nil && r.Kind != "" && r.Seq == seq {
			return i
		}
	}
	t.Fatalf("no record %d", seq)
	return -1
}

func wantBad(t *testing.T, err error, seq uint64) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("verify: %v, want an *Error naming record %d", err, seq)
	}
	if e.Seq != seq {
		t.Fatalf("verify named record %d (%v), want %d", e.Seq, e, seq)
	}
}

func TestAppendExportVerify(t *testing.T) {
	j, _, _ := openTest(t)
	fill(t, j, 7)
	lines := export(t, j, Filter{})
	rep, err := verify(lines, VerifyOptions{Key: j.PublicKey()})
	if err != nil {
		t.Fatal(err)
	}
	if rep.First != 1 || rep.Last != 7 || rep.Records != 7 || rep.Checkpoints != 1 || !rep.Anchored {
		t.Fatalf("report %+v", rep)
	}
	if strings.Contains(strings.Join(lines, ""), "x@example.org") {
		t.Fatal("a recipient address is in the journal")
	}
}

func TestTamperEachFieldNamesRecord(t *testing.T) {
	j, _, _ := openTest(t)
	fill(t, j, 5)
	lines := export(t, j, Filter{})
	changes := map[string]any{"seq": 99, "prev": strings.Repeat("1", 64), "time": "2020-01-01T00:00:00Z",
		"kind": "approve", "actor": "cli", "mailbox": "evil@example.com", "object": "msg_x",
		"rule": "rule:9", "reason": "because", "rcpts": []string{"00"}, "detail": map[string]string{"status": "rejected"}}
	for seq := uint64(1); seq <= 5; seq++ {
		for field, val := range changes {
			t.Run(fmt.Sprintf("%d/%s", seq, field), func(t *testing.T) {
				bad := append([]string(nil), lines...)
				i := recordLine(t, bad, seq)
				var m map[string]any
				if err := json.Unmarshal([]byte(bad[i]), &m); err != nil {
					t.Fatal(err)
				}
				m[field] = val
				b, _ := json.Marshal(m)
				bad[i] = string(b)
				_, err := verify(bad, VerifyOptions{Key: j.PublicKey()})
				wantBad(t, err, seq)
			})
		}
	}
}

func TestRemovedAndSwapped(t *testing.T) {
	j, _, _ := openTest(t)
	fill(t, j, 5)
	lines := export(t, j, Filter{})
	for seq := uint64(2); seq <= 5; seq++ {
		bad := append([]string(nil), lines...)
		i := recordLine(t, bad, seq)
		bad = append(bad[:i], bad[i+1:]...)
		_, err := verify(bad, VerifyOptions{Key: j.PublicKey()})
		wantBad(t, err, seq)
	}
	for seq := uint64(1); seq < 5; seq++ {
		bad := append([]string(nil), lines...)
		a, b := recordLine(t, bad, seq), recordLine(t, bad, seq+1)
		bad[a], bad[b] = bad[b], bad[a]
		_, err := verify(bad, VerifyOptions{Key: j.PublicKey()})
		wantBad(t, err, seq)
	}
	// The first record removed: the next one no longer starts the chain.
	bad := append([]string(nil), lines...)
	i := recordLine(t, bad, 1)
	bad = append(bad[:i], bad[i+1:]...)
	_, err := verify(bad, VerifyOptions{Key: j.PublicKey(), Against: mustCheckpointOf(t, j)})
	if err == nil {
		t.Fatal("a journal without its first record verified against a checkpoint over it")
	}
}

func mustCheckpointOf(t *testing.T, j *Journal) string {
	t.Helper()
	c, err := j.Checkpoint(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return c.Note
}

func TestCheckpointSignature(t *testing.T) {
	j, _, _ := openTest(t)
	fill(t, j, 3)
	c, err := j.Checkpoint(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if c.Size != 3 {
		t.Fatalf("size %d", c.Size)
	}
	if _, err := ParseCheckpoint(c.Note, j.PublicKey()); err != nil {
		t.Fatal(err)
	}
	forged := strings.Replace(c.Note, "\n3\n", "\n2\n", 1)
	if _, err := ParseCheckpoint(forged, j.PublicKey()); err == nil {
		t.Fatal("a changed checkpoint verified")
	}
	other, _, _ := openTest(t)
	if _, err := ParseCheckpoint(c.Note, other.PublicKey()); err == nil {
		t.Fatal("a checkpoint verified under another node's key")
	}
	lines := export(t, j, Filter{})
	// The export's checkpoint line under another key, and changed, both fail.
	if _, err := verify(lines, VerifyOptions{Key: other.PublicKey()}); err == nil {
		t.Fatal("export verified under another key")
	}
	for i, l := range lines {
		if strings.HasPrefix(l, `{"checkpoint"`) {
			bad := append([]string(nil), lines...)
			bad[i] = strings.Replace(l, `\n3\n`, `\n2\n`, 1)
			if _, err := verify(bad, VerifyOptions{Key: j.PublicKey()}); err == nil {
				t.Fatal("a changed checkpoint line verified")
			}
		}
	}
}

func TestAgainstEarlierCheckpoint(t *testing.T) {
	j, _, _ := openTest(t)
	fill(t, j, 3)
	early := mustCheckpointOf(t, j)
	fill(t, j, 3)
	lines := export(t, j, Filter{})
	if _, err := verify(lines, VerifyOptions{Key: j.PublicKey(), Against: early}); err != nil {
		t.Fatalf("an extension of the checkpoint: %v", err)
	}
	// Rewriting record 2 and every later link (a consistent forgery without the key's
	// checkpoints) is caught by the earlier checkpoint.
	forged := []string{}
	prev := zeroHash
	for seq := uint64(1); seq <= 6; seq++ {
		var r Record
		_ = json.Unmarshal([]byte(lines[recordLine(t, lines, seq)]), &r)
		if seq == 2 {
			r.Actor = "cli"
		}
		r.Prev = prev
		b := r.marshal()
		prev = Hash(b)
		forged = append(forged, string(b))
	}
	_, err := verify(forged, VerifyOptions{Key: j.PublicKey(), Against: early})
	wantBad(t, err, 3)
}

func TestPruneKeepsChainVerifiable(t *testing.T) {
	j, db, clk := openTest(t)
	fill(t, j, 4)
	cut := clk.now()
	fill(t, j, 3)
	mid := mustCheckpointOf(t, j) // size 7
	n, err := j.Prune(context.Background(), cut)
	if err != nil || n != 4 {
		t.Fatalf("pruned %d, %v", n, err)
	}
	lines := export(t, j, Filter{})
	rep, err := verify(lines, VerifyOptions{Key: j.PublicKey(), Against: mid})
	if err != nil {
		t.Fatal(err)
	}
	if rep.First != 5 || !rep.Anchored || rep.Records != 3 {
		t.Fatalf("report %+v", rep)
	}
	// Record 5 changed: the anchor's successor link names it.
	bad := append([]string(nil), lines...)
	i := recordLine(t, bad, 5)
	bad[i] = strings.Replace(bad[i], `"api:key_a"`, `"cli"`, 1)
	_, err = verify(bad, VerifyOptions{Key: j.PublicKey()})
	wantBad(t, err, 5)
	// A reopened journal continues the chain after the anchor.
	j2, err := Open(db, Options{Node: "test.example", Clock: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	fill(t, j2, 1)
	if _, err := verify(export(t, j2, Filter{}), VerifyOptions{Key: j.PublicKey()}); err != nil {
		t.Fatal(err)
	}
	// Pruning everything leaves the anchor as the head.
	if _, err := j2.Prune(context.Background(), clk.now()); err != nil {
		t.Fatal(err)
	}
	j3, err := Open(db, Options{Node: "test.example", Clock: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	if seq, _ := j3.Head(); seq != 8 {
		t.Fatalf("head after pruning all: %d", seq)
	}
	fill(t, j3, 1)
	if _, err := verify(export(t, j3, Filter{}), VerifyOptions{Key: j.PublicKey()}); err != nil {
		t.Fatal(err)
	}
}

// TestConcurrentCommitsChainInCommitOrder: batches committed from many goroutines, each
// carrying its own state change, form one gap-free chain.
func TestConcurrentCommitsChainInCommitOrder(t *testing.T) {
	j, db, _ := openTest(t)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 20 {
				b := db.NewBatch()
				_ = b.Set([]byte(fmt.Sprintf("x%d-%d", g, i)), []byte("v"), nil)
				if err := j.Commit(b, Record{Kind: KindSend, Actor: "t"}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	rep, err := verify(export(t, j, Filter{}), VerifyOptions{Key: j.PublicKey()})
	if err != nil || rep.Records != 160 {
		t.Fatalf("%+v %v", rep, err)
	}
	if _, closer, err := db.Get([]byte("x7-19")); err != nil {
		t.Fatal(err)
	} else {
		closer.Close()
	}
}

func TestFilters(t *testing.T) {
	j, _, _ := openTest(t)
	fill(t, j, 6)
	// --mailbox: other mailboxes' records become stubs; the chain still links.
	lines := export(t, j, Filter{Mailbox: "mb0@example.com"})
	rep, err := verify(lines, VerifyOptions{Key: j.PublicKey()})
	if err != nil || rep.Records != 3 || rep.Omitted != 3 {
		t.Fatalf("%+v %v", rep, err)
	}
	// A scoped view: its records only, no stubs, no checkpoints, no header.
	page, next, err := j.Page(context.Background(), Filter{Mailboxes: []string{"mb1@example.com"}, Limit: 2})
	if err != nil || len(page) != 1 || next != 2 {
		t.Fatalf("%q %d %v", page, next, err)
	}
	for _, l := range page {
		if !strings.Contains(l, "mb1@example.com") {
			t.Fatalf("scoped page holds %s", l)
		}
	}
}

func TestRcptHashKeyed(t *testing.T) {
	a, _, _ := openTest(t)
	b, _, _ := openTest(t)
	if a.RcptHash("X@Example.org") != a.RcptHash("x@example.org") {
		t.Fatal("not case-insensitive")
	}
	if a.RcptHash("x@example.org") == b.RcptHash("x@example.org") {
		t.Fatal("two keys give one hash")
	}
}

// quiet keeps Pebble's informational log out of test output.
type quiet struct{}

func (quiet) Infof(string, ...any)  {}
func (quiet) Errorf(string, ...any) {}
func (quiet) Fatalf(f string, a ...any) {
	panic(fmt.Sprintf(f, a...))
}

func TestSinceExportStartsUnanchored(t *testing.T) {
	j, _, clk := openTest(t)
	fill(t, j, 3)
	since := clk.now()
	fill(t, j, 2)
	lines := export(t, j, Filter{Since: since})
	if !strings.Contains(lines[0], `"complete":false`) {
		t.Fatalf("header %s", lines[0])
	}
	rep, err := verify(lines, VerifyOptions{Key: j.PublicKey()})
	if err != nil || rep.First != 4 || rep.Records != 2 || rep.Anchored {
		t.Fatalf("%+v %v", rep, err)
	}
	// The same records under a header claiming completeness: record 1 is missing.
	lines[0] = strings.Replace(lines[0], `"complete":false`, `"complete":true`, 1)
	_, err = verify(lines, VerifyOptions{Key: j.PublicKey()})
	wantBad(t, err, 1)
}

// TestRunRound: a round checkpoints new records, hands the checkpoint to Anchor (offering it
// again after a failure), prunes past Retention, and a full count of records kicks Run.
func TestRunRound(t *testing.T) {
	db, err := pebble.Open("", &pebble.Options{FS: vfs.NewMem(), Logger: quiet{}})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	clk := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	var got []Checkpoint
	fail := true
	j, err := Open(db, Options{Node: "n", Clock: clk.now, CheckpointEvery: 3, Retention: time.Hour,
		Anchor: func(_ context.Context, c Checkpoint) error {
			if fail {
				fail = false
				return errors.New("auditor down")
			}
			got = append(got, c)
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	fill(t, j, 3)
	select {
	case <-j.kick:
	default:
		t.Fatal("3 records with CheckpointEvery 3 did not kick Run")
	}
	sent := j.round(ctx, 0)
	if sent != 0 || len(got) != 0 {
		t.Fatalf("a failed anchor counted as sent: %d %v", sent, got)
	}
	if sent = j.round(ctx, sent); sent != 3 || len(got) != 1 || got[0].Size != 3 {
		t.Fatalf("re-offered: sent %d, got %+v", sent, got)
	}
	if sent = j.round(ctx, sent); len(got) != 1 {
		t.Fatal("a round without new records anchored again")
	}
	clk.mu.Lock()
	clk.t = clk.t.Add(2 * time.Hour)
	clk.mu.Unlock()
	fill(t, j, 1)
	j.round(ctx, sent)
	a, err := j.Anchor()
	if err != nil || a.Size != 3 {
		t.Fatalf("retention did not prune under an anchor: %+v %v", a, err)
	}
	if len(got) != 2 || got[1].Size != 4 {
		t.Fatalf("anchored %+v", got)
	}
	if _, err := verify(export(t, j, Filter{}), VerifyOptions{Key: j.PublicKey(), Against: got[1].Note}); err != nil {
		t.Fatal(err)
	}
}
