package workflows

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// NotifyKind says why a notification is sent.
type NotifyKind string

// Notification kinds.
const (
	// NotifyNew posts a new alert.
	NotifyNew NotifyKind = "new"
	// NotifyRepeat tells that similar findings were grouped into the alert
	// (a thread reply, "12 more like this").
	NotifyRepeat NotifyKind = "repeat"
	// NotifyUpdate redraws the alert's message after a state change.
	NotifyUpdate NotifyKind = "update"
	// NotifyEscalate posts the alert again to the escalation target
	// (Channel, Mentions or DirectTo), leaving the original message.
	NotifyEscalate NotifyKind = "escalate"
	// NotifyAskActor asks the person who performed the action, by direct
	// message, whether it was them.
	NotifyAskActor NotifyKind = "ask_actor"
	// NotifyReminder is a text reminder about a task (Text, to DirectTo or
	// Channel).
	NotifyReminder NotifyKind = "reminder"
	// NotifyDigest is a review digest (Text and an optional chart
	// Attachment) for Channel.
	NotifyDigest NotifyKind = "digest"
)

// Attachment is a file sent with a message, such as a digest chart.
type Attachment struct {
	Name        string
	ContentType string
	Data        []byte
}

// Notification is one outbox item handed to a notifier.
type Notification struct {
	Kind  NotifyKind
	Alert Alert
	// Ref is the alert's existing message on this notifier, zero if none.
	Ref MessageRef
	// Key is unique to this outbox item and stable across retries and
	// restarts; notifiers use it to make posting idempotent.
	Key string

	// Channel is where to post; empty means the notifier's default
	// channel. Routing fills it.
	Channel string
	// Mentions are platform user or group ids to mention.
	Mentions []string
	// DirectTo, when set, sends the message as a direct message to this
	// platform user id instead of to a channel.
	DirectTo string
	// Text is the body of text notifications (reminders, digests, questions).
	Text string
	// Attachment is an optional file, such as a digest chart.
	Attachment *Attachment
}

// Notifier delivers notifications to one place: a terminal, a Slack
// workspace, a Discord server.
type Notifier interface {
	// Name identifies the notifier in message references and config.
	Name() string
	// Notify posts or updates the alert's message. It returns the message
	// reference (zero when nothing was posted) and, on error, whether a
	// retry may succeed.
	Notify(ctx context.Context, n Notification) (ref MessageRef, retry bool, err error)
}

type outboxItem struct {
	Seq     uint64 `json:"seq"`
	AlertID string `json:"alert_id,omitempty"`
	// TaskID is the task a reminder is about.
	TaskID    string     `json:"task_id,omitempty"`
	Kind      NotifyKind `json:"kind"`
	CreatedAt time.Time  `json:"created_at"`
	// Targets are where the item goes. Repeats and updates have none: they
	// go wherever the alert's messages are.
	Targets []Target `json:"targets,omitempty"`
	// Text and Attachment are the body of text notifications.
	Text       string      `json:"text,omitempty"`
	Attachment *Attachment `json:"attachment,omitempty"`
	// Key overrides the notification key base (digests use their name and
	// period).
	Key string `json:"key,omitempty"`
	// Delivered marks deliveries done, keyed by notifier and destination.
	Delivered map[string]bool `json:"delivered,omitempty"`
	Attempts  int             `json:"attempts,omitempty"`
	NextTry   time.Time       `json:"next_try,omitempty"`
	LastError string          `json:"last_error,omitempty"`
	// Failed lists deliveries that gave up (permanent error).
	Failed map[string]string `json:"failed,omitempty"`
}

// enqueue queues a notification about an alert that goes wherever the
// alert's messages are (repeats and updates).
func enqueue(tx *bolt.Tx, now time.Time, alertID string, kind NotifyKind) error {
	return enqueueItem(tx, outboxItem{AlertID: alertID, Kind: kind, CreatedAt: now})
}

// enqueueItem queues an outbox item in tx.
func enqueueItem(tx *bolt.Tx, it outboxItem) error {
	b := tx.Bucket(bucketOutbox)
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	it.Seq = seq
	v, err := json.Marshal(it)
	if err != nil {
		return err
	}
	return b.Put(u64(seq), v)
}

// RouteBlind is implemented by notifiers without channels, such as the
// terminal: they get every notification once, whatever the routes (but no
// "was this you?" questions, which are meant for one person).
type RouteBlind interface {
	RouteBlind() bool
}

// UserLookup is implemented by notifiers that can find a chat user by
// email, for "was this you?" questions to principals known only by their
// email (SSO session names). Targets address such users as
// DirectTo "email:alice@example.com".
type UserLookup interface {
	LookupUserByEmail(ctx context.Context, email string) (userID string, err error)
}

// Pending returns the number of outbox items not yet delivered everywhere.
func (s *Store) Pending() (int, error) {
	n := 0
	err := s.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(bucketOutbox).Stats().KeyN
		return nil
	})
	return n, err
}

// MaxAttempts is how many times the dispatcher tries a retryable
// notification before it gives up on that notifier.
const MaxAttempts = 10

// retryDelay is how long a delivery waits after its nth failed attempt
// (outbox, write-back, webhooks): 2^n seconds, at most 1024s.
func retryDelay(attempts int) time.Duration {
	return time.Duration(1<<min(attempts, 10)) * time.Second
}

// Dispatcher delivers the outbox to notifiers. Items are persisted before
// any post, so a crash or restart only delays them; a delivered item is
// marked per notifier, so a notifier that succeeded is not asked again.
type Dispatcher struct {
	Store     *Store
	Notifiers []Notifier
	Log       *slog.Logger
	// Fence, when set, is called before the outbox is read and right
	// before each post; an error stops the pass at once, with nothing
	// posted or written. High availability sets it, so a replica that
	// lost its lease posts nothing (see package ha).
	Fence func() error
}

// dispatchLock keeps the dispatch passes over one store from overlapping.
type dispatchLock struct {
	mu sync.Mutex
	// again is set by a pass that found another running: the running
	// pass reads the outbox once more before it returns.
	again atomic.Bool
}

// Dispatch tries every due outbox item once, in order, and returns how many
// notifications were delivered. Items that fail with a retryable error are
// kept with a backoff; a permanent error is logged and that delivery is
// skipped.
//
// Passes over one store never overlap: a pass that starts while another
// is running (a schedule firing again while a post is slow) returns at
// once, delivering nothing itself, and the running pass reads the outbox
// again before it returns, so what was queued meanwhile is not left
// waiting. Two passes at once would post the same card twice, and each
// would save its own copy of an item over the other's.
func (d *Dispatcher) Dispatch(ctx context.Context) (int, error) {
	l := &d.Store.dispatch
	l.again.Store(true)
	total := 0
	// Re-check after unlocking: a pass that found the lock held just
	// before it was released has left its request in again.
	for l.again.Load() {
		if !l.mu.TryLock() {
			return total, nil // the running pass sees again
		}
		for l.again.Swap(false) {
			n, err := d.dispatchOnce(ctx)
			total += n
			if err != nil {
				l.mu.Unlock()
				return total, err
			}
		}
		l.mu.Unlock()
	}
	return total, nil
}

// dispatchOnce is one pass over the outbox.
func (d *Dispatcher) dispatchOnce(ctx context.Context) (int, error) {
	defer func() {
		if n, err := d.Store.Pending(); err == nil {
			metricOutbox.Set(float64(n))
		}
	}()
	log := d.Log
	if log == nil {
		log = slog.Default()
	}
	if err := d.fence(); err != nil {
		return 0, err
	}
	var items []outboxItem
	err := d.Store.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketOutbox).ForEach(func(_, v []byte) error {
			var it outboxItem
			if err := json.Unmarshal(v, &it); err != nil {
				return fmt.Errorf("workflows: outbox item is corrupt: %w", err)
			}
			items = append(items, it)
			return nil
		})
	})
	if err != nil {
		return 0, err
	}
	delivered := 0
	now := d.Store.now()
	nctx := ctx // what notifiers get: with the fence, checked before each request
	if d.Fence != nil {
		nctx = WithFence(ctx, d.Fence)
	}
	// redrawn marks the messages an update redrew in this pass. Every item
	// was read before the first redraw fetched its alert, so a later update
	// of the same message would draw the same state again: it is dropped.
	redrawn := map[string]bool{}
	for _, it := range items {
		if ctx.Err() != nil {
			return delivered, ctx.Err()
		}
		if it.NextTry.After(now) {
			continue
		}
		var alert Alert
		if it.AlertID != "" {
			alert, err = d.Store.Get(it.AlertID)
			if errors.Is(err, ErrNotFound) {
				if err := d.finish(it.Seq); err != nil {
					return delivered, err
				}
				continue
			}
			if err != nil {
				return delivered, err
			}
		}
		var lastErr error
		retryable := false
		for _, n := range d.Notifiers {
			name := n.Name()
			rb, _ := n.(RouteBlind)
			for i, dl := range deliveries(&it, &alert, name, rb != nil && rb.RouteBlind(), d.Store.config().MaxCardCopies) {
				if it.Delivered[dl.key] || it.Failed[dl.key] != "" {
					continue
				}
				drawKey := it.AlertID + "|" + dl.key
				if it.Kind == NotifyUpdate && dl.ref.MessageID != "" && redrawn[drawKey] {
					if it.Delivered == nil {
						it.Delivered = map[string]bool{}
					}
					it.Delivered[dl.key] = true
					continue
				}
				note, err := d.notification(ctx, n, &it, &alert, dl, i)
				var got MessageRef
				retry := false
				if err == nil {
					if ferr := d.fence(); ferr != nil {
						return delivered, ferr
					}
					got, retry, err = n.Notify(nctx, note)
					// Lost the lease while posting: record nothing; the
					// next holder finds the post by its key.
					if ferr := d.fence(); ferr != nil {
						return delivered, ferr
					}
				}
				if err != nil {
					lastErr = err
					log.Warn("notify failed", "notifier", name, "alert", it.AlertID, "kind", note.Kind, "retry", retry, "err", err)
					if retry && it.Attempts+1 < MaxAttempts {
						metricNotified.WithLabelValues(name, string(note.Kind), "retry").Inc()
						retryable = true
						continue
					}
					metricNotified.WithLabelValues(name, string(note.Kind), "failed").Inc()
					if it.Failed == nil {
						it.Failed = map[string]string{}
					}
					it.Failed[dl.key] = err.Error()
					continue
				}
				delivered++
				if it.Kind == NotifyUpdate && dl.ref.MessageID != "" {
					redrawn[drawKey] = true
				}
				metricNotified.WithLabelValues(name, string(note.Kind), "ok").Inc()
				if it.Delivered == nil {
					it.Delivered = map[string]bool{}
				}
				it.Delivered[dl.key] = true
				if records(note.Kind) && it.AlertID != "" && got.MessageID != "" && got.MessageID != dl.ref.MessageID {
					got.Notifier, got.Target = name, dl.target.dest()
					// A card posted now shows the latest state too.
					redrawn[alert.ID+"|"+name+"|m:"+got.MessageID] = true
					if err := d.update(func(tx *bolt.Tx) error { return d.Store.recordMessage(tx, alert.ID, dl.ref, got) }); err != nil {
						return delivered, err
					}
					alert, _ = d.Store.Get(alert.ID)
				}
				if err := d.save(it); err != nil {
					return delivered, err
				}
			}
		}
		if retryable {
			it.Attempts++
			it.LastError = lastErr.Error()
			it.NextTry = now.Add(retryDelay(it.Attempts))
			if err := d.save(it); err != nil {
				return delivered, err
			}
			continue
		}
		if err := d.finish(it.Seq); err != nil {
			return delivered, err
		}
	}
	return delivered, nil
}

// records reports whether a notification kind posts a message that later
// updates redraw.
func records(k NotifyKind) bool {
	return k == NotifyNew || k == NotifyEscalate || k == NotifyUpdate
}

// delivery is one post of an outbox item on one notifier.
type delivery struct {
	// key marks the delivery done in the item, stable across retries.
	key    string
	target Target
	ref    MessageRef
}

// deliveries lists the posts an item makes on a notifier: one per target
// meant for it, or for repeats and updates one per message the alert has
// there. A route-blind notifier gets one of each, unaddressed. An
// escalation to a new place posts another card while the alert has fewer
// than maxCopies there; beyond that it replies in the thread of the
// alert's first message instead, mentioning whom the card would have gone
// to.
func deliveries(it *outboxItem, a *Alert, name string, blind bool, maxCopies int) []delivery {
	if blind {
		if it.Kind == NotifyAskActor {
			return nil
		}
		return []delivery{{key: name}}
	}
	var out []delivery
	switch it.Kind {
	case NotifyUpdate, NotifyRepeat:
		for _, m := range a.MessagesOn(name) {
			if it.Kind == NotifyRepeat && strings.HasPrefix(m.Target, "@") {
				continue // thread replies go to channels, not to direct messages
			}
			out = append(out, delivery{key: name + "|m:" + m.MessageID, target: Target{Notifier: name, Channel: m.Channel}, ref: m})
		}
		if len(out) > 0 || len(a.MessagesOn(name)) > 0 {
			return out
		}
		// Nothing posted here (a terminal keeps no message): tell the
		// notifier anyway if the alert is routed to it.
		if a.DigestOnly {
			return nil
		}
		if len(a.Targets) == 0 {
			return []delivery{{key: name}}
		}
		for _, t := range a.Targets {
			if t.applies(name) && t.DirectTo == "" {
				return []delivery{{key: name, target: t}}
			}
		}
		return nil
	}
	targets := it.Targets
	if len(targets) == 0 && it.Kind != NotifyAskActor && it.Kind != NotifyEscalate {
		targets = []Target{{}}
	}
	if len(targets) == 0 && it.Kind == NotifyEscalate {
		targets = a.Targets
	}
	seen := map[string]int{}
	cards := 0 // escalation cards this item posts here
	for _, t := range targets {
		if !t.applies(name) {
			continue
		}
		t.Notifier = name
		if i, dup := seen[t.dest()]; dup {
			out[i].target.Mentions = append(out[i].target.Mentions, t.Mentions...)
			continue
		}
		seen[t.dest()] = len(out)
		dl := delivery{key: name + "|" + t.dest(), target: t}
		switch it.Kind {
		case NotifyNew:
			dl.ref, _ = a.messageFor(name, t)
		case NotifyEscalate:
			copies := a.MessagesOn(name)
			if len(copies) == 0 || maxCopies <= 0 || len(copies)+cards < maxCopies {
				cards++
				break
			}
			// Beyond the bound: reply under the card already at this
			// target, else under the first.
			dl.ref = copies[0]
			if m, ok := a.messageFor(name, t); ok {
				dl.ref = m
			}
			if user := dl.target.DirectTo; user != "" && !strings.HasPrefix(user, "email:") {
				dl.target.Mentions = append(dl.target.Mentions, strings.TrimPrefix(user, name+":"))
			}
			dl.target.DirectTo = ""
		}
		out = append(out, dl)
	}
	return out
}

// fenceKey carries a Dispatcher's Fence in the context it gives Notify.
type fenceKey struct{}

// WithFence returns ctx carrying fence, for CheckFence; the dispatcher
// gives notifiers such a context when it has a Fence.
func WithFence(ctx context.Context, fence func() error) context.Context {
	return context.WithValue(ctx, fenceKey{}, fence)
}

// CheckFence returns the error of the fence the dispatcher put in ctx (see
// Dispatcher.Fence), nil when there is none. A notifier calls it right
// before each request that posts or edits, after any wait of its own, so
// that a replica paused in the middle of a notification, and woken after
// another took the lease over, sends nothing.
func CheckFence(ctx context.Context) error {
	if f, ok := ctx.Value(fenceKey{}).(func() error); ok {
		return f()
	}
	return nil
}

// fence returns the Fence's error, nil without a Fence.
func (d *Dispatcher) fence() error {
	if d.Fence == nil {
		return nil
	}
	return d.Fence()
}

// notification builds what a notifier is handed for one delivery.
func (d *Dispatcher) notification(ctx context.Context, n Notifier, it *outboxItem, a *Alert, dl delivery, i int) (Notification, error) {
	key := it.Key
	if key == "" {
		key = fmt.Sprintf("%s-%d", cmpOr(it.AlertID, string(it.Kind)), it.Seq)
	}
	if it.Key == "" && it.Kind == NotifyNew && it.AlertID != "" && a.Finding.Fingerprint != "" {
		// An alert's card in one place is keyed by its first finding and
		// the destination, not by the alert id and outbox sequence: after
		// a restore from an older snapshot, the events read again may
		// make the same alert under another id or sequence, and its card,
		// posted before, must still be found (and another alert's never
		// taken for it).
		key = "new-" + a.Finding.Fingerprint + "@" + dl.target.dest()
	}
	if i > 0 {
		key += fmt.Sprintf(".%d", i)
	}
	kind := it.Kind
	if kind == NotifyNew && dl.ref.MessageID != "" {
		kind = NotifyUpdate // posted before a crash: redraw instead
	}
	note := Notification{Kind: kind, Alert: *a, Ref: dl.ref, Key: key, Channel: dl.target.Channel,
		Mentions: dl.target.Mentions, DirectTo: dl.target.DirectTo, Text: it.Text, Attachment: it.Attachment}
	if email, ok := strings.CutPrefix(note.DirectTo, "email:"); ok {
		ul, can := n.(UserLookup)
		if !can {
			return note, fmt.Errorf("notifier %s cannot look up users by email", n.Name())
		}
		id, err := ul.LookupUserByEmail(ctx, email)
		if err != nil {
			return note, fmt.Errorf("look up chat user by email: %w", err)
		}
		note.DirectTo = id
		if it.Kind == NotifyAskActor && it.AlertID != "" {
			if err := d.Store.resolveAsked(it.AlertID, n.Name()+":"+dl.target.DirectTo, n.Name()+":"+id); err != nil {
				return note, err
			}
		}
	}
	return note, nil
}

func (d *Dispatcher) save(it outboxItem) error {
	v, err := json.Marshal(it)
	if err != nil {
		return err
	}
	return d.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketOutbox)
		if b.Get(u64(it.Seq)) == nil {
			return nil
		}
		return b.Put(u64(it.Seq), v)
	})
}

func (d *Dispatcher) finish(seq uint64) error {
	return d.update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketOutbox).Delete(u64(seq))
	})
}

// update runs fn in a write transaction that checks the fence first,
// inside it: a replica that lost its lease commits nothing it begins,
// even when it lost it (paused, say) between a post and its record.
func (d *Dispatcher) update(fn func(tx *bolt.Tx) error) error {
	return d.Store.db.Update(func(tx *bolt.Tx) error {
		if err := d.fence(); err != nil {
			return err
		}
		return fn(tx)
	})
}

// recordMessage records where an alert's message was posted: it replaces
// old (when the notifier re-posted) or a reference with the same message
// id, or adds a new one.
func (s *Store) recordMessage(tx *bolt.Tx, alertID string, old, ref MessageRef) error {
	a, err := getAlert(tx, alertID)
	if err != nil {
		return err
	}
	replaced := false
	for i, m := range a.Messages {
		same := m.Notifier == ref.Notifier && m.MessageID == ref.MessageID
		if old.MessageID != "" {
			same = same || m.Notifier == old.Notifier && m.MessageID == old.MessageID
		}
		if same && !replaced {
			a.Messages[i], replaced = ref, true
		}
	}
	first := len(a.Messages) == 0
	if !replaced {
		a.Messages = append(a.Messages, ref)
	}
	if err := putAlert(tx, a); err != nil {
		return err
	}
	if !first {
		return nil
	}
	// The first card of the alert: tell AWS, once, in the same
	// transaction that records it.
	where := ref.Notifier + " #" + cmpOr(cmpOr(ref.Channel, ref.Target), "default channel")
	return s.enqueueWriteBack(tx, a, actionPosted, SystemActor, "posted to "+where+" as "+a.ID, s.now())
}

// resolveAsked replaces an asked identity looked up by email with the
// chat user id found, so that user may answer.
func (s *Store) resolveAsked(alertID, from, to string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		a, err := getAlert(tx, alertID)
		if err != nil {
			return err
		}
		for i, id := range a.AskedActors {
			if id == from {
				a.AskedActors[i] = to
				return putAlert(tx, a)
			}
		}
		return nil
	})
}
