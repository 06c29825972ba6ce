package budget

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestReserve(t *testing.T) {
	t.Parallel()
	b := New(100, 50*time.Millisecond)
	ctx := context.Background()
	r1, err := b.Reserve(ctx, 60)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Reserve(ctx, 60); !errors.Is(err, ErrExhausted) {
		t.Fatalf("second reservation over the budget: %v, want ErrExhausted", err)
	}
	r2, err := b.Reserve(ctx, 40)
	if err != nil {
		t.Fatalf("reservation within the budget: %v", err)
	}
	r1()
	r2()
	// Larger than the whole budget: takes all of it.
	r3, err := b.Reserve(ctx, 1000)
	if err != nil {
		t.Fatalf("oversize reservation on an idle budget: %v", err)
	}
	if _, err := b.Reserve(ctx, 1); !errors.Is(err, ErrExhausted) {
		t.Fatalf("reservation while an oversize one holds everything: %v", err)
	}
	r3()
}

func TestReserveWaits(t *testing.T) {
	t.Parallel()
	b := New(10, time.Minute)
	r, err := b.Reserve(context.Background(), 10)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		r2, err := b.Reserve(context.Background(), 5)
		if err == nil {
			r2()
		}
		got <- err
	}()
	r() // the waiter gets its share once this is given back
	if err := <-got; err != nil {
		t.Fatalf("waiting reservation: %v", err)
	}
}

func TestUnlimited(t *testing.T) {
	t.Parallel()
	var b *Bytes = New(0, 0)
	r, err := b.Reserve(context.Background(), 1<<40)
	if err != nil || b.Total() != 0 {
		t.Fatalf("unlimited budget: %v", err)
	}
	r()
}
