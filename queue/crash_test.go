package queue

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// crashChildEnv names the database directory when the test binary runs as the crash child.
const crashChildEnv = "MULTIMAIL_QUEUE_CRASH_CHILD"

// TestCrashChild is not a test on its own: run by TestCrashKeepsAcknowledged with
// crashChildEnv set, it enqueues from many goroutines until it is killed, printing
// "ack <id>" after each Enqueue returns.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashChildEnv)
	if dir == "" {
		t.Skip("only run as the child of TestCrashKeepsAcknowledged")
	}
	db := openDB(t, dir)
	q, err := Open(db, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var out sync.Mutex
	body := bytes.Repeat([]byte("x"), 5000)
	for g := range 32 {
		go func() {
			for i := 0; ; i++ {
				m := &Message{Mailbox: "m@x", To: []string{fmt.Sprintf("r%d@d%d.example", i, g%7)}, Body: body, Lane: Lane(i % 3)}
				if i%5 == 0 {
					m.IdempotencyKey, m.RequestHash = fmt.Sprintf("g%d-%d", g, i), "h"
				}
				if _, err := q.Enqueue(context.Background(), m); err != nil {
					fmt.Fprintf(os.Stderr, "enqueue: %v\n", err)
					os.Exit(3)
				}
				out.Lock()
				os.Stdout.WriteString("ack " + m.ID + " " + m.IdempotencyKey + "\n") // one write: atomic on a pipe
				out.Unlock()
			}
		}()
	}
	select {} // until SIGKILL
}

// TestCrashKeepsAcknowledged kills an enqueuing child with SIGKILL at a random moment,
// reopens its database and checks that every acknowledged message is there. It repeats
// with a fresh database until the round limit or the time budget runs out.
func TestCrashKeepsAcknowledged(t *testing.T) {
	if os.Getenv(crashChildEnv) != "" {
		t.Skip("child")
	}
	rounds, budget := 8, 25*time.Second
	if testing.Short() {
		rounds, budget = 2, 10*time.Second
	}
	deadline := time.Now().Add(budget)
	total := 0
	for r := 0; r < rounds && time.Now().Before(deadline); r++ {
		total += crashRound(t, r)
	}
	if total == 0 {
		t.Fatal("no enqueue was acknowledged in any round")
	}
	t.Logf("%d acknowledged enqueues survived SIGKILL", total)
}

func crashRound(t *testing.T, round int) int {
	dir := t.TempDir()
	acks, idem := runCrashChild(t, dir, time.Duration(20+rand.IntN(300))*time.Millisecond)
	db := openDB(t, dir)
	defer db.Close()
	q, err := Open(db, Options{})
	if err != nil {
		t.Fatalf("round %d: reopen: %v", round, err)
	}
	defer q.Close()
	ctx := context.Background()
	for _, id := range acks {
		st, err := q.Status(ctx, id)
		if err != nil {
			t.Fatalf("round %d: acknowledged %s lost: %v", round, id, err)
		}
		if body, err := q.Body(ctx, id); err != nil || len(body) != 5000 || st.State != RcptQueued {
			t.Fatalf("round %d: %s: state %s, body %d bytes, %v", round, id, st.State, len(body), err)
		}
	}
	for key, id := range idem {
		r, ok, err := q.Idempotent(ctx, "m@x", key, "h")
		if err != nil || !ok || r.ID != id {
			t.Fatalf("round %d: idempotency key %s -> %+v %v %v, want %s", round, key, r, ok, err, id)
		}
	}
	depth := q.Depth(LaneHigh) + q.Depth(LaneNormal) + q.Depth(LaneLow)
	if depth < len(acks) {
		t.Fatalf("round %d: depth %d < %d acknowledged", round, depth, len(acks))
	}
	return len(acks)
}

// runCrashChild runs the child, SIGKILLs it after the delay (counted from its first ack)
// and returns the acknowledged ids and idempotency keys.
func runCrashChild(t *testing.T, dir string, after time.Duration) ([]string, map[string]string) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.timeout=2m")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	first := make(chan struct{})
	go func() {
		select {
		case <-first:
			time.Sleep(after) // the random moment of the crash; not a synchronisation wait
		case <-time.After(30 * time.Second):
		}
		_ = cmd.Process.Signal(syscall.SIGKILL)
	}()
	var acks []string
	idem := map[string]string{}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || f[0] != "ack" {
			continue
		}
		if len(acks) == 0 {
			close(first)
		}
		acks = append(acks, f[1])
		if len(f) == 3 {
			idem[f[2]] = f[1]
		}
	}
	err = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child did not die of SIGKILL: %v", err)
	}
	return acks, idem
}
