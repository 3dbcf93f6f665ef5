package ha

import (
	"context"
	"errors"
	"testing"
	"time"
)

// leases returns each kind of lease on a fresh table or bucket in moto.
func leases(t *testing.T) map[string]func(t *testing.T) Lease {
	return map[string]func(t *testing.T) Lease{
		"dynamodb": func(t *testing.T) Lease { return newTable(t) },
		"s3":       func(t *testing.T) Lease { return newS3Lease(t) },
	}
}

// TestLease takes, renews, refuses and steals the lease after expiry, each
// takeover with the next epoch, through the real conditional writes of
// DynamoDB and S3 (If-None-Match and If-Match) in moto.
func TestLease(t *testing.T) {
	for kind, mk := range leases(t) {
		t.Run(kind, func(t *testing.T) {
			l := mk(t)
			ctx := context.Background()
			t0 := time.Now()
			ttl := 30 * time.Second

			a, err := l.Acquire(ctx, "a", t0, ttl)
			if err != nil {
				t.Fatal(err)
			}
			if a.Epoch != 1 || a.Holder != "a" {
				t.Fatalf("first grant %+v, want a at epoch 1", a)
			}
			// Held: b is refused, and told who holds it.
			_, err = l.Acquire(ctx, "b", t0.Add(10*time.Second), ttl)
			var held *HeldError
			if !errors.As(err, &held) || !errors.Is(err, ErrHeld) || held.Current.Holder != "a" || held.Current.Epoch != 1 {
				t.Fatalf("err=%v, want held by a at epoch 1", err)
			}
			// a renews: the lease now lasts until t0+20s+ttl.
			if a, err = l.Renew(ctx, a, t0.Add(20*time.Second), ttl); err != nil {
				t.Fatal(err)
			}
			if _, err := l.Acquire(ctx, "b", t0.Add(40*time.Second), ttl); !errors.Is(err, ErrHeld) {
				t.Fatalf("err=%v after a renewal, want ErrHeld", err)
			}
			// a stops renewing: after the expiry b steals it at epoch 2.
			b, err := l.Acquire(ctx, "b", t0.Add(51*time.Second), ttl)
			if err != nil {
				t.Fatal(err)
			}
			if b.Epoch != 2 || b.Holder != "b" {
				t.Fatalf("takeover grant %+v, want b at epoch 2", b)
			}
			// a wakes up: its renewal and release fail, and change nothing.
			if _, err := l.Renew(ctx, a, t0.Add(52*time.Second), ttl); !errors.Is(err, ErrLost) {
				t.Fatalf("renew by the old holder: err=%v, want ErrLost", err)
			}
			if err := l.Release(ctx, a); !errors.Is(err, ErrLost) {
				t.Fatalf("release by the old holder: err=%v, want ErrLost", err)
			}
			if _, err := l.Acquire(ctx, "c", t0.Add(60*time.Second), ttl); !errors.Is(err, ErrHeld) {
				t.Fatalf("err=%v, want b to still hold it", err)
			}
			// b releases: c takes over at once, at epoch 3. A renewal b
			// sent before its release, arriving after it, changes
			// nothing: it would hold the standby off until the TTL ran out.
			if err := l.Release(ctx, b); err != nil {
				t.Fatal(err)
			}
			if _, err := l.Renew(ctx, b, t0.Add(60*time.Second), ttl); !errors.Is(err, ErrLost) {
				t.Fatalf("renewal arriving after the release: err=%v, want ErrLost", err)
			}
			c, err := l.Acquire(ctx, "c", t0.Add(61*time.Second), ttl)
			if err != nil || c.Epoch != 3 {
				t.Fatalf("after release: %+v, %v; want c at epoch 3", c, err)
			}
		})
	}
}

// TestLeaseRace has two replicas read the same expired lease and write
// their takeover: exactly one conditional write wins.
func TestLeaseRace(t *testing.T) {
	for kind, mk := range leases(t) {
		t.Run(kind, func(t *testing.T) {
			l := mk(t)
			ctx := context.Background()
			t0 := time.Now()
			if _, err := l.Acquire(ctx, "old", t0, time.Second); err != nil {
				t.Fatal(err)
			}
			wins := 0
			errs := make(chan error, 8)
			for i := 0; i < 8; i++ {
				go func() {
					_, err := l.Acquire(ctx, "standby", t0.Add(2*time.Second), time.Minute)
					errs <- err
				}()
			}
			for i := 0; i < 8; i++ {
				err := <-errs
				switch {
				case err == nil:
					wins++
				case !errors.Is(err, ErrHeld):
					t.Fatal(err)
				}
			}
			if wins != 1 {
				t.Fatalf("%d replicas took the lease, want 1", wins)
			}
		})
	}
}

// TestGuardFences stops acting once its last renewal is older than the
// TTL minus the margin, before anyone else takes the lease, and when a
// renewal finds the lease taken.
func TestGuardFences(t *testing.T) {
	l := newTable(t)
	clk := newClock(time.Now())
	g := &Guard{Lease: l, Holder: "a", Renew: 10 * time.Second, TTL: 30 * time.Second, Now: clk.Now}
	ctx := context.Background()
	if err := g.Fence(); !errors.Is(err, ErrFenced) {
		t.Fatalf("before acquiring: err=%v, want ErrFenced", err)
	}
	gr, err := g.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if g.Fence() != nil || g.Epoch() != gr.Epoch {
		t.Fatalf("holder fenced right after acquiring (epoch %d)", g.Epoch())
	}
	clk.Add(23 * time.Second)
	if err := g.Fence(); err != nil {
		t.Fatalf("23s into a 30s lease with a 6s margin: %v", err)
	}
	clk.Add(time.Second)
	if err := g.Fence(); !errors.Is(err, ErrFenced) {
		t.Fatalf("24s into a 30s lease with a 6s margin: err=%v, want ErrFenced", err)
	}
	// A renewal in time restores it.
	if err := g.renewOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if err := g.Fence(); err != nil {
		t.Fatalf("after renewal: %v", err)
	}
	// Another replica takes over after expiry; the next renewal loses.
	clk.Add(31 * time.Second)
	if _, err := l.Acquire(ctx, "b", clk.Now(), 30*time.Second); err != nil {
		t.Fatal(err)
	}
	lost := make(chan error, 1)
	g.Keep(ctx, func(err error) { lost <- err })
	if err := <-lost; err == nil {
		t.Fatal("Keep returned without reporting the loss")
	}
	if err := g.Fence(); !errors.Is(err, ErrFenced) {
		t.Fatalf("after losing: err=%v, want ErrFenced", err)
	}
}

// TestGuardStepsDownWhenRenewalFails reports the loss when renewals keep
// failing (the lease store is unreachable) past the validity.
func TestGuardStepsDownWhenRenewalFails(t *testing.T) {
	l := newTable(t)
	g := &Guard{Lease: l, Holder: "a", Renew: 100 * time.Millisecond, TTL: 500 * time.Millisecond}
	ctx := context.Background()
	if _, err := g.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	l.Table = "no-such-table" // every renewal now fails
	lost := make(chan error, 1)
	g.Keep(ctx, func(err error) { lost <- err })
	if err := <-lost; !errors.Is(err, ErrFenced) {
		t.Fatalf("loss %v, want fenced for lack of renewal", err)
	}
}
