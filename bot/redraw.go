package bot

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/trailhound/trailhound/workflows"
)

// DefaultRedrawWindow is how long after one redraw of a message the next
// waits, collecting the changes made meanwhile into one update.
const DefaultRedrawWindow = time.Second

// Redrawer coalesces the redraws of each chat message. The first change
// after a quiet spell is drawn at once; changes arriving within Window of
// the last draw wait for the window to pass and are drawn together, once,
// with the newest state. A redraw that would show what the message already
// shows, or an older state, makes no call. Every caller returns when a draw
// showing its state (or a newer one) is done, with that draw's error.
//
// The outbox and the interaction handlers both redraw through it, so a
// burst of button presses on one alert costs one update per window per
// message, not one per press.
type Redrawer struct {
	window    time.Duration
	coalesced prometheus.Counter

	mu   sync.Mutex
	msgs map[string]*msgDraws
}

// DrawFunc draws an alert on a message (chat.update, an embed edit).
type DrawFunc func(ctx context.Context, a workflows.Alert) error

type msgDraws struct {
	// next collects the changes for the next draw; nil when none waits.
	next *pendingDraw
	// busy is closed when the draw in progress ends; nil when idle.
	// drawing is that draw.
	busy    chan struct{}
	drawing *pendingDraw
	// last is when the last draw started; shown and version describe
	// what the message shows.
	last    time.Time
	shown   [32]byte
	version time.Time
	used    time.Time
}

type pendingDraw struct {
	alert workflows.Alert
	draw  DrawFunc
	done  chan struct{}
	err   error
}

// NewRedrawer returns a Redrawer for a platform's messages; window 0
// takes DefaultRedrawWindow.
func NewRedrawer(platform string, window time.Duration) *Redrawer {
	if window <= 0 {
		window = DefaultRedrawWindow
	}
	return &Redrawer{window: window, coalesced: metricCoalesced.WithLabelValues(platform), msgs: map[string]*msgDraws{}}
}

// cardDigest identifies what a card shows.
func cardDigest(a workflows.Alert) [32]byte {
	b, _ := json.Marshal(CardFor(a)) // a struct of strings and ints always marshals
	return sha256.Sum256(b)
}

// Redraw draws a on the message key (for example "channel/ts") with draw,
// merged with other redraws of the same message as the type describes.
func (r *Redrawer) Redraw(ctx context.Context, key string, a workflows.Alert, draw DrawFunc) error {
	now := time.Now()
	r.mu.Lock()
	st := r.msgs[key]
	if st == nil {
		if len(r.msgs) >= 10000 {
			for k, m := range r.msgs {
				if m.next == nil && m.busy == nil && now.Sub(m.used) > time.Hour {
					delete(r.msgs, k)
				}
			}
		}
		st = &msgDraws{}
		r.msgs[key] = st
	}
	st.used = now
	if !st.version.IsZero() && a.UpdatedAt.Before(st.version) {
		// Older than what the message shows: drawing it would go back.
		r.mu.Unlock()
		r.coalesced.Inc()
		return nil
	}
	if d := st.drawing; d != nil && a.UpdatedAt.Before(d.alert.UpdatedAt) {
		// Older than the draw in progress: that draw stands for it.
		r.mu.Unlock()
		r.coalesced.Inc()
		return wait(ctx, d)
	}
	if p := st.next; p != nil {
		// A draw is already waiting: ride along with the newest state.
		if !a.UpdatedAt.Before(p.alert.UpdatedAt) {
			p.alert, p.draw = a, draw
		}
		r.mu.Unlock()
		r.coalesced.Inc()
		return wait(ctx, p)
	}
	p := &pendingDraw{alert: a, draw: draw, done: make(chan struct{})}
	st.next = p
	delay := time.Until(st.last.Add(r.window))
	r.mu.Unlock()
	// This caller leads the draw; it runs to the end even if its own
	// context ends, since others may be waiting on it.
	r.lead(ctx, st, p, delay)
	return wait(ctx, p)
}

func (r *Redrawer) lead(ctx context.Context, st *msgDraws, p *pendingDraw, delay time.Duration) {
	if delay > 0 {
		time.Sleep(delay)
	}
	for {
		r.mu.Lock()
		busy := st.busy
		if busy == nil {
			break
		}
		r.mu.Unlock()
		<-busy
	}
	// Detach: changes from now on gather for the draw after this one.
	st.next = nil
	a, draw := p.alert, p.draw
	digest := cardDigest(a)
	if digest == st.shown && !a.UpdatedAt.Before(st.version) && !st.version.IsZero() {
		st.version = a.UpdatedAt
		r.mu.Unlock()
		r.coalesced.Inc()
		close(p.done)
		return
	}
	busy := make(chan struct{})
	st.busy, st.drawing, st.last = busy, p, time.Now()
	r.mu.Unlock()

	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	err := draw(dctx, a)
	cancel()

	r.mu.Lock()
	if err == nil && !a.UpdatedAt.Before(st.version) {
		st.shown, st.version = digest, a.UpdatedAt
	}
	st.busy, st.drawing = nil, nil
	p.err = err
	r.mu.Unlock()
	close(busy)
	close(p.done)
}

func wait(ctx context.Context, p *pendingDraw) error {
	select {
	case <-p.done:
		return p.err
	case <-ctx.Done():
		return ctx.Err()
	}
}
