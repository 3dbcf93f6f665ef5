package workflows

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
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
	Seq       uint64          `json:"seq"`
	AlertID   string          `json:"alert_id"`
	Kind      NotifyKind      `json:"kind"`
	CreatedAt time.Time       `json:"created_at"`
	Delivered map[string]bool `json:"delivered,omitempty"`
	Attempts  int             `json:"attempts,omitempty"`
	NextTry   time.Time       `json:"next_try,omitempty"`
	LastError string          `json:"last_error,omitempty"`
	// Failed lists notifiers that gave up on the item (permanent error).
	Failed map[string]string `json:"failed,omitempty"`
}

func enqueue(tx *bolt.Tx, now time.Time, alertID string, kind NotifyKind) error {
	b := tx.Bucket(bucketOutbox)
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	v, err := json.Marshal(outboxItem{Seq: seq, AlertID: alertID, Kind: kind, CreatedAt: now})
	if err != nil {
		return err
	}
	return b.Put(u64(seq), v)
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

// Dispatcher delivers the outbox to notifiers. Items are persisted before
// any post, so a crash or restart only delays them; a delivered item is
// marked per notifier, so a notifier that succeeded is not asked again.
type Dispatcher struct {
	Store     *Store
	Notifiers []Notifier
	Log       *slog.Logger
}

// Dispatch tries every due outbox item once, in order, and returns how many
// notifications were delivered. Items that fail with a retryable error are
// kept with a backoff; a permanent error is logged and that notifier skips
// the item.
func (d *Dispatcher) Dispatch(ctx context.Context) (int, error) {
	log := d.Log
	if log == nil {
		log = slog.Default()
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
	for _, it := range items {
		if ctx.Err() != nil {
			return delivered, ctx.Err()
		}
		if it.NextTry.After(now) {
			continue
		}
		alert, err := d.Store.Get(it.AlertID)
		if errors.Is(err, ErrNotFound) {
			if err := d.finish(it.Seq); err != nil {
				return delivered, err
			}
			continue
		}
		if err != nil {
			return delivered, err
		}
		var lastErr error
		retryable := false
		for _, n := range d.Notifiers {
			name := n.Name()
			if it.Delivered[name] || it.Failed[name] != "" {
				continue
			}
			ref, _ := alert.Message(name)
			kind := it.Kind
			if kind == NotifyNew && ref.MessageID != "" {
				kind = NotifyUpdate // posted before a crash: redraw instead
			}
			got, retry, err := n.Notify(ctx, Notification{Kind: kind, Alert: alert, Ref: ref, Key: fmt.Sprintf("%s-%d", alert.ID, it.Seq)})
			if err != nil {
				lastErr = err
				log.Warn("notify failed", "notifier", name, "alert", alert.ID, "kind", kind, "retry", retry, "err", err)
				if retry && it.Attempts+1 < MaxAttempts {
					retryable = true
					continue
				}
				if it.Failed == nil {
					it.Failed = map[string]string{}
				}
				it.Failed[name] = err.Error()
				continue
			}
			delivered++
			if it.Delivered == nil {
				it.Delivered = map[string]bool{}
			}
			it.Delivered[name] = true
			if got.MessageID != "" && got != ref {
				got.Notifier = name
				if err := d.Store.setMessage(alert.ID, got); err != nil {
					return delivered, err
				}
				alert, _ = d.Store.Get(alert.ID)
			}
			if err := d.save(it); err != nil {
				return delivered, err
			}
		}
		if retryable {
			it.Attempts++
			it.LastError = lastErr.Error()
			backoff := time.Duration(1<<min(it.Attempts, 10)) * time.Second
			it.NextTry = now.Add(backoff)
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

func (d *Dispatcher) save(it outboxItem) error {
	v, err := json.Marshal(it)
	if err != nil {
		return err
	}
	return d.Store.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketOutbox)
		if b.Get(u64(it.Seq)) == nil {
			return nil
		}
		return b.Put(u64(it.Seq), v)
	})
}

func (d *Dispatcher) finish(seq uint64) error {
	return d.Store.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketOutbox).Delete(u64(seq))
	})
}

// setMessage records where an alert's message was posted.
func (s *Store) setMessage(alertID string, ref MessageRef) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		a, err := getAlert(tx, alertID)
		if err != nil {
			return err
		}
		replaced := false
		for i := range a.Messages {
			if a.Messages[i].Notifier == ref.Notifier {
				a.Messages[i], replaced = ref, true
			}
		}
		if !replaced {
			a.Messages = append(a.Messages, ref)
		}
		return putAlert(tx, a)
	})
}
