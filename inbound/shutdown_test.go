package inbound

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"
)

func TestShutdownDrainsThenCloses(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	d := e.dial()
	d.cmd("EHLO client.test", "250")
	// An idle client holds the drain until the deadline; then it is closed hard.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := e.srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want the deadline (an idle client was connected)", err)
	}
	if line, err := d.r.ReadString('\n'); err == nil {
		t.Fatalf("connection still open after Shutdown, got %q", line)
	}
	if c, err := net.DialTimeout("tcp", e.addr, time.Second); err == nil {
		_ = c.Close()
		t.Fatal("the listener still accepts after Shutdown")
	}
	if err := e.srv.Shutdown(context.Background()); err != nil {
		t.Fatalf("second Shutdown = %v, want nil", err)
	}
}
