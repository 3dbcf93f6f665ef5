package workflows

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
)

var bucketWebhooks = []byte("workflows.webhooks")

// Webhook events.
const (
	WebhookTaskOpened = "task.opened"
	WebhookTaskStatus = "task.status_changed"
)

// Webhook request headers.
const (
	// HeaderSignature is "sha256=" and the hex HMAC-SHA256, keyed with the
	// webhook secret, of the timestamp header value, a dot, and the body.
	HeaderSignature = "X-Trailhound-Signature"
	// HeaderTimestamp is the Unix time of the attempt, in seconds.
	HeaderTimestamp = "X-Trailhound-Timestamp"
	// HeaderEvent repeats the body's event.
	HeaderEvent = "X-Trailhound-Event"
	// HeaderDelivery repeats the body's id, the same on every retry, so
	// receivers can drop duplicates.
	HeaderDelivery = "X-Trailhound-Delivery"
)

// WebhookBody is the JSON body POSTed to the ticketing webhook.
type WebhookBody struct {
	// ID identifies the delivery; retries repeat it.
	ID    string    `json:"id"`
	Event string    `json:"event"`
	Time  time.Time `json:"time"`
	// Actor is who made the change ("slack:U123", "trailhound").
	Actor string `json:"actor"`
	// PreviousStatus is the status before a task.status_changed.
	PreviousStatus string       `json:"previous_status,omitempty"`
	Task           WebhookTask  `json:"task"`
	Alert          WebhookAlert `json:"alert"`
}

// WebhookTask is the task part of a webhook body.
type WebhookTask struct {
	ID             string     `json:"id"`
	Title          string     `json:"title"`
	Status         TaskStatus `json:"status"`
	Assignee       string     `json:"assignee,omitempty"`
	Due            *time.Time `json:"due,omitempty"`
	Recommendation string     `json:"recommendation,omitempty"`
	Notes          string     `json:"notes,omitempty"`
	CreatedBy      string     `json:"created_by"`
	CreatedAt      time.Time  `json:"created_at"`
	ClosedAt       *time.Time `json:"closed_at,omitempty"`
	ClosedNote     string     `json:"closed_note,omitempty"`
}

// WebhookAlert is the alert part of a webhook body.
type WebhookAlert struct {
	ID        string    `json:"id"`
	RuleID    string    `json:"rule_id"`
	Title     string    `json:"title"`
	Severity  string    `json:"severity"`
	State     State     `json:"state"`
	Account   string    `json:"account,omitempty"`
	Region    string    `json:"region,omitempty"`
	Principal string    `json:"principal,omitempty"`
	Action    string    `json:"action,omitempty"`
	FirstSeen time.Time `json:"first_seen"`
}

type webhookItem struct {
	Seq       uint64          `json:"seq"`
	Event     string          `json:"event"`
	Body      json.RawMessage `json:"body"`
	Attempts  int             `json:"attempts,omitempty"`
	NextTry   time.Time       `json:"next_try,omitempty"`
	LastError string          `json:"last_error,omitempty"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// enqueueWebhook queues a task change for the ticketing webhook, when one
// is configured, in the caller's transaction.
func (s *Store) enqueueWebhook(tx *bolt.Tx, event string, t *Task, a *Alert, actor string, from TaskStatus, now time.Time) error {
	if s.config().Tasks.Webhook.URL.IsZero() {
		return nil
	}
	b, err := tx.CreateBucketIfNotExists(bucketWebhooks)
	if err != nil {
		return err
	}
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	body := WebhookBody{
		ID: fmt.Sprintf("%s-%d", t.ID, seq), Event: event, Time: now, Actor: actor, PreviousStatus: string(from),
		Task: WebhookTask{ID: t.ID, Title: t.Title, Status: t.Status, Assignee: t.Assignee, Due: timePtr(t.Due),
			Recommendation: t.Recommendation, Notes: t.Notes, CreatedBy: t.CreatedBy, CreatedAt: t.CreatedAt,
			ClosedAt: timePtr(t.ClosedAt), ClosedNote: t.ClosedNote},
		Alert: WebhookAlert{ID: a.ID, RuleID: a.Finding.RuleID, Title: a.Finding.Title, Severity: a.Severity.String(), State: a.State,
			Account: a.Finding.Account, Region: a.Finding.Region, Principal: cmpOr(a.Finding.Principal.ARN, a.Finding.Principal.Name),
			Action: a.Finding.Action, FirstSeen: a.FirstSeen},
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return err
	}
	v, err := json.Marshal(webhookItem{Seq: seq, Event: event, Body: raw})
	if err != nil {
		return err
	}
	return b.Put(u64(seq), v)
}

// WebhookPending returns how many webhook deliveries are queued.
func (s *Store) WebhookPending() (int, error) {
	n := 0
	err := s.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketWebhooks); b != nil {
			n = b.Stats().KeyN
		}
		return nil
	})
	return n, err
}

// Sign returns the signature header value for a body sent at timestamp
// (Unix seconds): "sha256=" and the hex HMAC-SHA256 of "timestamp.body".
func Sign(secret []byte, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(timestamp))
	m.Write([]byte("."))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// WebhookSender delivers the queued task changes to the ticketing webhook,
// in order, signed, retrying with backoff. The queue lives in bbolt, so a
// restart only delays deliveries.
type WebhookSender struct {
	Store  *Store
	Client *http.Client
	Log    *slog.Logger
}

// Send tries every due queued delivery once and returns how many
// succeeded. A delivery that fails with a network error, 408, 429 or 5xx
// is retried later, up to MaxAttempts; any other status drops it, with an
// audit entry.
func (w *WebhookSender) Send(ctx context.Context) (int, error) {
	s := w.Store
	hook := s.config().Tasks.Webhook
	if hook.URL.IsZero() {
		return 0, nil
	}
	log := w.Log
	if log == nil {
		log = slog.Default()
	}
	client := w.Client
	if client == nil {
		client = &http.Client{Timeout: hook.Timeout}
	}
	var items []webhookItem
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketWebhooks)
		if b == nil {
			return nil
		}
		return b.ForEach(func(_, v []byte) error {
			var it webhookItem
			if err := json.Unmarshal(v, &it); err != nil {
				return fmt.Errorf("workflows: webhook item is corrupt: %w", err)
			}
			items = append(items, it)
			return nil
		})
	})
	if err != nil {
		return 0, err
	}
	sent := 0
	for _, it := range items {
		now := s.now()
		if it.NextTry.After(now) {
			break // deliveries keep their order: wait for this one's retry
		}
		if ctx.Err() != nil {
			return sent, ctx.Err()
		}
		retry, err := w.post(ctx, client, hook, &it, now)
		if err == nil {
			sent++
			if err := w.drop(it, ""); err != nil {
				return sent, err
			}
			continue
		}
		log.Warn("ticketing webhook failed", "delivery", it.Seq, "event", it.Event, "attempt", it.Attempts+1, "retry", retry, "err", err)
		it.Attempts++
		it.LastError = err.Error()
		if !retry || it.Attempts >= MaxAttempts {
			if err := w.drop(it, fmt.Sprintf("gave up after %d attempts: %s", it.Attempts, it.LastError)); err != nil {
				return sent, err
			}
			continue
		}
		it.NextTry = now.Add(retryDelay(it.Attempts))
		if err := w.save(it); err != nil {
			return sent, err
		}
		// Keep order: later changes of the same task wait for this one.
		break
	}
	return sent, nil
}

func (w *WebhookSender) post(ctx context.Context, client *http.Client, hook Webhook, it *webhookItem, now time.Time) (retry bool, err error) {
	var body WebhookBody
	_ = json.Unmarshal(it.Body, &body)
	ts := strconv.FormatInt(now.Unix(), 10)
	ctx, cancel := context.WithTimeout(ctx, hook.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, hook.URL.Reveal(), bytes.NewReader(it.Body))
	if err != nil {
		return false, errors.New("webhook: invalid URL")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "trailhound")
	req.Header.Set(HeaderEvent, it.Event)
	req.Header.Set(HeaderDelivery, body.ID)
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, Sign([]byte(hook.Secret.Reveal()), ts, it.Body))
	resp, err := client.Do(req)
	if err != nil {
		return true, fmt.Errorf("webhook: %s", netCause(err))
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return false, nil
	case resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return true, fmt.Errorf("webhook: HTTP %d", resp.StatusCode)
	}
	return false, fmt.Errorf("webhook: HTTP %d", resp.StatusCode)
}

// netCause describes a request error without the URL or host, which may
// hold a token.
func netCause(err error) string {
	var dns *net.DNSError
	var op *net.OpError
	var ue *url.Error
	switch {
	case errors.As(err, &dns):
		return "cannot resolve the webhook's host"
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ue) && ue.Timeout():
		return "timed out"
	case errors.As(err, &op) && op.Err != nil:
		return op.Op + ": " + op.Err.Error()
	case errors.As(err, &ue):
		return ue.Err.Error()
	}
	return "request failed"
}

func (w *WebhookSender) save(it webhookItem) error {
	v, err := json.Marshal(it)
	if err != nil {
		return err
	}
	return w.Store.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketWebhooks)
		if b == nil || b.Get(u64(it.Seq)) == nil {
			return nil
		}
		return b.Put(u64(it.Seq), v)
	})
}

// drop removes a delivery; a failure reason leaves an audit entry.
func (w *WebhookSender) drop(it webhookItem, failure string) error {
	return w.Store.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketWebhooks)
		if b == nil {
			return nil
		}
		if err := b.Delete(u64(it.Seq)); err != nil {
			return err
		}
		if failure == "" {
			return nil
		}
		var body WebhookBody
		_ = json.Unmarshal(it.Body, &body)
		return appendAudit(tx, AuditEntry{Time: w.Store.now(), Actor: SystemActor, AlertID: body.Alert.ID, TaskID: body.Task.ID, Action: "webhook_failed", Note: it.Event + " " + body.ID + ": " + failure})
	})
}
