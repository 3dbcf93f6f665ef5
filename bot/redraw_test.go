package bot

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/trailhound/trailhound/workflows"
)

// TestRedrawerCoalesces sends 100 redraws of one message at once, each a
// newer state: they make a handful of draws, the last one showing the
// newest state, and every caller returns after a draw that shows its
// state. A redraw of what the message already shows, or of an older
// state, makes no draw.
func TestRedrawerCoalesces(t *testing.T) {
	r := NewRedrawer("test", 50*time.Millisecond)
	before := value(metricCoalesced.WithLabelValues("test"))
	var mu sync.Mutex
	var drawn []int
	var calls atomic.Int32
	draw := func(_ context.Context, a workflows.Alert) error {
		calls.Add(1)
		mu.Lock()
		drawn = append(drawn, a.Count)
		mu.Unlock()
		time.Sleep(5 * time.Millisecond) // a slow chat API
		return nil
	}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	alert := func(n int) workflows.Alert {
		return workflows.Alert{ID: "TH-1", State: workflows.StateNew, Count: n, UpdatedAt: base.Add(time.Duration(n) * time.Second)}
	}
	var wg sync.WaitGroup
	for i := 1; i <= 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.Redraw(context.Background(), "C1/1", alert(i), draw); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := calls.Load(); n > 4 {
		t.Fatalf("%d draws for 100 redraws at once, want at most 4 (one now, then one per window)", n)
	}
	if last := drawn[len(drawn)-1]; last != 100 {
		t.Fatalf("last draw showed state %d, want the newest (100); draws %v", last, drawn)
	}
	if got := value(metricCoalesced.WithLabelValues("test")) - before; got < 96 {
		t.Fatalf("coalesced counter rose by %v, want at least 96", got)
	}
	n := calls.Load()
	for _, tc := range []struct {
		name string
		a    workflows.Alert
	}{{"same state", alert(100)}, {"older state", alert(7)}} {
		if err := r.Redraw(context.Background(), "C1/1", tc.a, draw); err != nil {
			t.Fatal(err)
		}
		if calls.Load() != n {
			t.Fatalf("%s: drawn again", tc.name)
		}
	}
	// Another message has its own window.
	if err := r.Redraw(context.Background(), "C1/2", alert(1), draw); err != nil || calls.Load() != n+1 {
		t.Fatalf("other message: err=%v draws=%d, want one more", err, calls.Load()-n)
	}
}

// TestRedrawerReturnsDrawError passes a failed draw's error to every
// caller merged into it, and draws again next time.
func TestRedrawerReturnsDrawError(t *testing.T) {
	r := NewRedrawer("test", time.Millisecond)
	fail := func(context.Context, workflows.Alert) error { return fmt.Errorf("429") }
	a := workflows.Alert{ID: "TH-1", UpdatedAt: time.Now()}
	if err := r.Redraw(context.Background(), "m", a, fail); err == nil {
		t.Fatal("no error")
	}
	drew := false
	if err := r.Redraw(context.Background(), "m", a, func(context.Context, workflows.Alert) error { drew = true; return nil }); err != nil || !drew {
		t.Fatalf("after a failure: err=%v drew=%v, want a new draw", err, drew)
	}
}

// TestBudgetQueues spends a channel's burst, then queues the next call
// for an interval, visible in trailhound_chat_api_queued; other channels
// are not held back.
func TestBudgetQueues(t *testing.T) {
	b := NewBudget("budget-test", 200*time.Millisecond, 2)
	ctx := context.Background()
	start := time.Now()
	for range 2 {
		if err := b.Wait(ctx, "C1"); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Fatalf("the burst waited %v", d)
	}
	done := make(chan time.Duration)
	go func() {
		t0 := time.Now()
		if err := b.Wait(ctx, "C1"); err != nil {
			t.Error(err)
		}
		done <- time.Since(t0)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for value(metricQueued.WithLabelValues("budget-test")) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the third call was never queued")
		}
		time.Sleep(time.Millisecond)
	}
	if err := b.Wait(ctx, "C2"); err != nil {
		t.Fatal(err)
	}
	if d := <-done; d < 150*time.Millisecond {
		t.Fatalf("third call waited %v, want about 200ms", d)
	}
	if q := value(metricQueued.WithLabelValues("budget-test")); q != 0 {
		t.Fatalf("queued=%v after the wait", q)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	for range 3 {
		_ = b.Wait(cctx, "C3")
	}
	if err := b.Wait(cctx, "C3"); err == nil {
		t.Fatal("a cancelled wait over budget returned no error")
	}
}

// value reads a counter or gauge.
func value(c prometheus.Metric) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	if m.Counter != nil {
		return m.Counter.GetValue()
	}
	return m.Gauge.GetValue()
}
