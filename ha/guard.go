package ha

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// Guard holds the lease for this replica: it waits to acquire it, renews
// it, and answers Fence, the cheap local check every commit and chat post
// makes. The holder stops acting when its own clock passes the moment the
// lease was last renewed (measured before the request was sent) plus the
// TTL minus Margin, even before it learns that another replica took over.
type Guard struct {
	// Lease is the lease competed for.
	Lease Lease
	// Holder names this replica in the lease.
	Holder string
	// Renew is how often the lease is renewed (and, while waiting, how
	// often a standby tries to take it).
	Renew time.Duration
	// TTL is how long the lease lasts without renewal.
	TTL time.Duration
	// Margin is how long before the lease's expiry the holder stops
	// acting, to allow for clock skew between replicas; zero means TTL/5.
	Margin time.Duration
	// Log receives role changes and renewal failures; nil logs nothing.
	Log *slog.Logger
	// Now returns the current time; tests replace it. Its monotonic
	// reading measures validity, so a paused process wakes up fenced.
	Now func() time.Time

	mu         sync.Mutex
	grant      Grant
	held       bool
	validUntil time.Time
}

// DefaultHolder names this replica: host name and process id.
func DefaultHolder() string {
	h, _ := os.Hostname()
	return fmt.Sprintf("%s/%d", h, os.Getpid())
}

func (g *Guard) now() time.Time {
	if g.Now != nil {
		return g.Now()
	}
	return time.Now()
}

func (g *Guard) margin() time.Duration {
	if g.Margin > 0 {
		return g.Margin
	}
	return g.TTL / 5
}

// Wait blocks until this replica holds the lease, trying every Renew
// interval, and returns its grant; it returns ctx's error when ctx ends
// first.
func (g *Guard) Wait(ctx context.Context) (Grant, error) {
	setRole(false)
	logged := ""
	for {
		sent := g.now()
		gr, err := g.Lease.Acquire(ctx, g.Holder, sent, g.TTL)
		if err == nil {
			g.mu.Lock()
			g.grant, g.held, g.validUntil = gr, true, sent.Add(g.TTL-g.margin())
			g.mu.Unlock()
			setRole(true)
			metricEpoch.Set(float64(gr.Epoch))
			if g.Log != nil {
				g.Log.Info("lease acquired: this instance is active", "holder", g.Holder, "epoch", gr.Epoch)
			}
			return gr, nil
		}
		var held *HeldError
		switch {
		case errors.As(err, &held):
			if g.Log != nil && held.Current.Holder != logged {
				logged = held.Current.Holder
				g.Log.Info("standby: another instance holds the lease", "holder", held.Current.Holder, "epoch", held.Current.Epoch)
			}
		case ctx.Err() != nil:
		default:
			metricLeaseFailures.Inc()
			if g.Log != nil {
				g.Log.Warn("standby: lease not reachable", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return Grant{}, ctx.Err()
		case <-time.After(g.Renew):
		}
	}
}

// Fence returns ErrFenced unless this replica holds the lease and its
// last renewal is recent enough. It reads no network.
func (g *Guard) Fence() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.held || !g.now().Before(g.validUntil) {
		return ErrFenced
	}
	return nil
}

// Epoch returns the epoch of the lease held, 0 before it is acquired.
func (g *Guard) Epoch() uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.grant.Epoch
}

// Keep renews the lease every Renew interval until ctx ends. When the
// lease is lost (another replica took it, or no renewal succeeded in
// time), it marks the replica fenced and calls lost once, then returns.
func (g *Guard) Keep(ctx context.Context, lost func(error)) {
	for {
		g.mu.Lock()
		until := g.validUntil
		g.mu.Unlock()
		wait := min(g.Renew, until.Sub(g.now()))
		select {
		case <-ctx.Done():
			return
		case <-time.After(max(wait, 0)):
		}
		if err := g.Fence(); err != nil {
			g.lose(fmt.Errorf("lease not renewed in time: %w", err), lost)
			return
		}
		err := g.renewOnce(ctx)
		switch {
		case errors.Is(err, ErrLost):
			g.lose(err, lost)
			return
		case err != nil && ctx.Err() == nil:
			metricLeaseFailures.Inc()
			if g.Log != nil {
				g.Log.Warn("lease renewal failed; retrying", "err", err, "valid_for", until.Sub(g.now()).Round(time.Millisecond))
			}
		}
	}
}

// renewOnce renews the lease, with a deadline at the end of its validity.
func (g *Guard) renewOnce(ctx context.Context) error {
	g.mu.Lock()
	cur, until := g.grant, g.validUntil
	g.mu.Unlock()
	rctx, cancel := context.WithDeadline(ctx, until)
	defer cancel()
	sent := g.now()
	next, err := g.Lease.Renew(rctx, cur, sent, g.TTL)
	if err != nil {
		return err
	}
	metricLeaseRenewals.Inc()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.held && g.grant.Epoch == cur.Epoch {
		g.grant, g.validUntil = next, sent.Add(g.TTL-g.margin())
	}
	return nil
}

func (g *Guard) lose(err error, lost func(error)) {
	g.mu.Lock()
	g.held = false
	g.mu.Unlock()
	setRole(false)
	if g.Log != nil {
		g.Log.Error("lease lost: stepping down", "holder", g.Holder, "err", err)
	}
	if lost != nil {
		lost(err)
	}
}

// Release gives the lease up, so a standby takes over at once, and fences
// this replica.
func (g *Guard) Release(ctx context.Context) error {
	g.mu.Lock()
	cur, held := g.grant, g.held
	g.held = false
	g.mu.Unlock()
	setRole(false)
	if !held {
		return nil
	}
	return g.Lease.Release(ctx, cur)
}
