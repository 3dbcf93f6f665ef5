package workflows

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

var bucketTasks = []byte("workflows.tasks")

// TaskStatus is where a remediation task is.
type TaskStatus string

// Task statuses.
const (
	TaskOpen       TaskStatus = "open"
	TaskInProgress TaskStatus = "in_progress"
	TaskDone       TaskStatus = "done"
	TaskWontFix    TaskStatus = "wont_fix"
)

// Closed reports whether no more work is expected.
func (s TaskStatus) Closed() bool { return s == TaskDone || s == TaskWontFix }

// ParseTaskStatus parses a status name; "in progress" and "won't fix" are
// accepted too.
func ParseTaskStatus(s string) (TaskStatus, error) {
	n := strings.NewReplacer(" ", "_", "-", "_", "'", "").Replace(strings.ToLower(strings.TrimSpace(s)))
	switch st := TaskStatus(n); st {
	case TaskOpen, TaskInProgress, TaskDone, TaskWontFix:
		return st, nil
	}
	return "", fmt.Errorf("unknown task status %q (want open, in_progress, done or wont_fix)", s)
}

// Task is a remediation task opened from an alert and tracked to
// completion.
type Task struct {
	ID      string `json:"id"`
	AlertID string `json:"alert_id"`
	// RuleID is the rule of the alert, so a later event can close the task.
	RuleID string `json:"rule_id,omitempty"`
	Title  string `json:"title"`
	// Recommendation is prefilled from the rule.
	Recommendation string `json:"recommendation,omitempty"`
	Notes          string `json:"notes,omitempty"`
	// Assignee is a chat identity such as "slack:U123" or a name.
	Assignee  string     `json:"assignee,omitempty"`
	CreatedBy string     `json:"created_by"`
	Due       time.Time  `json:"due,omitempty"`
	Status    TaskStatus `json:"status"`
	CreatedAt time.Time  `json:"created_at"`
	UpdatedAt time.Time  `json:"updated_at"`
	ClosedAt  time.Time  `json:"closed_at,omitempty"`
	// ClosedNote says how the task ended, e.g. "verified from the logs:
	// RevokeSecurityGroupIngress by bob at ...".
	ClosedNote string `json:"closed_note,omitempty"`
	// RemindedAt records reminders sent, so none is sent twice.
	RemindedAt map[string]time.Time `json:"reminded_at,omitempty"`
	// Messages are the chat messages showing this task.
	Messages []MessageRef `json:"messages,omitempty"`
	// Fixes are the later events that prove the task done, worked out
	// from the alert's finding when the task was opened; the first one
	// seen in the logs closes the task.
	Fixes []Fix `json:"fixes,omitempty"`
}

// Overdue reports whether the task is open past its due date.
func (t *Task) Overdue(now time.Time) bool {
	return !t.Status.Closed() && !t.Due.IsZero() && now.After(t.Due)
}

// TaskInput is what a responder fills in to open a task.
type TaskInput struct {
	AlertID  string
	Assignee string
	// Due defaults to now plus the configured time to fix for the alert's
	// severity.
	Due   time.Time
	Notes string
	// Title overrides the default title, "Fix: <alert title>".
	Title string
}

// CreateTask opens a remediation task for an alert, prefilled with the
// rule's recommendation, and records it in the audit log.
func (s *Store) CreateTask(in TaskInput, actor string) (Task, error) {
	var out Task
	err := s.db.Update(func(tx *bolt.Tx) error {
		a, err := getAlert(tx, in.AlertID)
		if err != nil {
			return err
		}
		b, err := tx.CreateBucketIfNotExists(bucketTasks)
		if err != nil {
			return err
		}
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		now := s.now()
		t := Task{
			ID:             "T-" + strconv.FormatUint(seq, 10),
			AlertID:        a.ID,
			RuleID:         a.Finding.RuleID,
			Title:          in.Title,
			Recommendation: a.Finding.Recommendation,
			Notes:          in.Notes,
			Assignee:       in.Assignee,
			CreatedBy:      actor,
			Due:            in.Due.UTC(),
			Status:         TaskOpen,
			CreatedAt:      now,
			UpdatedAt:      now,
		}
		if t.Title == "" {
			t.Title = "Fix: " + a.Finding.Title
		}
		cfg := s.config()
		if in.Due.IsZero() {
			t.Due = time.Time{}
			if d := cfg.Tasks.Due[a.Severity]; d > 0 {
				t.Due = now.Add(d)
			}
		}
		t.Fixes = cfg.fixesFor(a)
		if err := putTask(tx, &t); err != nil {
			return err
		}
		note := "assigned to " + orNone(t.Assignee)
		if !t.Due.IsZero() {
			note += ", due " + t.Due.Format("2006-01-02")
		}
		for _, f := range t.Fixes {
			note += "; closes itself on " + f.Describe()
		}
		if err := appendAudit(tx, AuditEntry{Time: now, Actor: actor, AlertID: a.ID, TaskID: t.ID, Action: "task_opened", To: string(TaskOpen), Note: note}); err != nil {
			return err
		}
		if err := s.enqueueWebhook(tx, WebhookTaskOpened, &t, a, actor, "", now); err != nil {
			return err
		}
		// The alert card shows its tasks, so redraw it.
		if err := enqueue(tx, now, a.ID, NotifyUpdate); err != nil {
			return err
		}
		out = t
		return nil
	})
	return out, err
}

func orNone(s string) string {
	if s == "" {
		return "nobody"
	}
	return s
}

// SetTaskStatus moves a task to a new status with an audit entry.
func (s *Store) SetTaskStatus(id string, status TaskStatus, actor, note string) (Task, error) {
	var out Task
	err := s.db.Update(func(tx *bolt.Tx) error {
		t, err := s.setTaskStatus(tx, id, status, actor, note)
		if err != nil {
			return err
		}
		out = *t
		return nil
	})
	return out, err
}

// SetTaskStatusTx is SetTaskStatus inside the caller's transaction, for
// tasks closed by a later matching event in the same transaction that
// stores it.
func (s *Store) SetTaskStatusTx(tx *bolt.Tx, id string, status TaskStatus, actor, note string) (Task, error) {
	t, err := s.setTaskStatus(tx, id, status, actor, note)
	if err != nil {
		return Task{}, err
	}
	return *t, nil
}

func (s *Store) setTaskStatus(tx *bolt.Tx, id string, status TaskStatus, actor, note string) (*Task, error) {
	t, err := getTask(tx, id)
	if err != nil {
		return nil, err
	}
	if t.Status == status {
		return nil, fmt.Errorf("task %s: %w: it is already %s", id, ErrInvalidTransition, status)
	}
	now := s.now()
	from := t.Status
	t.Status, t.UpdatedAt = status, now
	if status.Closed() {
		t.ClosedAt, t.ClosedNote = now, note
	} else {
		t.ClosedAt, t.ClosedNote = time.Time{}, ""
	}
	if err := putTask(tx, t); err != nil {
		return nil, err
	}
	if err := appendAudit(tx, AuditEntry{Time: now, Actor: actor, AlertID: t.AlertID, TaskID: t.ID, Action: "task_status", From: string(from), To: string(status), Note: note}); err != nil {
		return nil, err
	}
	a, err := getAlert(tx, t.AlertID)
	if err != nil {
		return nil, err
	}
	if err := s.enqueueWebhook(tx, WebhookTaskStatus, t, a, actor, from, now); err != nil {
		return nil, err
	}
	if err := enqueue(tx, now, t.AlertID, NotifyUpdate); err != nil {
		return nil, err
	}
	return t, nil
}

// UpdateTask applies fn to a stored task (reminder marks, message refs)
// without an audit entry; use SetTaskStatus for status changes.
func (s *Store) UpdateTask(id string, fn func(t *Task) error) (Task, error) {
	var out Task
	err := s.db.Update(func(tx *bolt.Tx) error {
		t, err := getTask(tx, id)
		if err != nil {
			return err
		}
		status := t.Status
		if err := fn(t); err != nil {
			return err
		}
		if t.Status != status {
			return fmt.Errorf("task %s: status changes go through SetTaskStatus", id)
		}
		t.UpdatedAt = s.now()
		out = *t
		return putTask(tx, t)
	})
	return out, err
}

// GetTask returns one task.
func (s *Store) GetTask(id string) (Task, error) {
	var out Task
	err := s.db.View(func(tx *bolt.Tx) error {
		t, err := getTask(tx, id)
		if err != nil {
			return err
		}
		out = *t
		return nil
	})
	return out, err
}

func getTask(tx *bolt.Tx, id string) (*Task, error) {
	b := tx.Bucket(bucketTasks)
	var v []byte
	if b != nil {
		v = b.Get([]byte(id))
	}
	if v == nil {
		return nil, fmt.Errorf("task %s: %w", id, ErrNotFound)
	}
	var t Task
	if err := json.Unmarshal(v, &t); err != nil {
		return nil, fmt.Errorf("workflows: task %s is corrupt: %w", id, err)
	}
	return &t, nil
}

func putTask(tx *bolt.Tx, t *Task) error {
	b, err := tx.CreateBucketIfNotExists(bucketTasks)
	if err != nil {
		return err
	}
	v, err := json.Marshal(t)
	if err != nil {
		return err
	}
	return b.Put([]byte(t.ID), v)
}

// TaskFilter selects tasks. Zero fields match everything.
type TaskFilter struct {
	AlertID  string
	Assignee string
	Statuses []TaskStatus
	// OverdueAt keeps tasks overdue at that time.
	OverdueAt time.Time
	// OpenOnly keeps tasks that are not closed.
	OpenOnly bool
}

// ListTasks returns the tasks matching f, soonest due first (tasks with no
// due date last), then oldest.
func (s *Store) ListTasks(f TaskFilter) ([]Task, error) {
	var out []Task
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTasks)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var t Task
			if err := json.Unmarshal(v, &t); err != nil {
				return fmt.Errorf("workflows: task %s is corrupt: %w", k, err)
			}
			if f.AlertID != "" && t.AlertID != f.AlertID ||
				f.Assignee != "" && t.Assignee != f.Assignee ||
				f.OpenOnly && t.Status.Closed() ||
				!f.OverdueAt.IsZero() && !t.Overdue(f.OverdueAt) {
				return nil
			}
			if len(f.Statuses) > 0 {
				ok := false
				for _, st := range f.Statuses {
					ok = ok || t.Status == st
				}
				if !ok {
					return nil
				}
			}
			out = append(out, t)
			return nil
		})
	})
	sort.SliceStable(out, func(i, j int) bool {
		di, dj := out[i].Due, out[j].Due
		if di.IsZero() != dj.IsZero() {
			return !di.IsZero()
		}
		if !di.Equal(dj) {
			return di.Before(dj)
		}
		return out[i].CreatedAt.Before(out[j].CreatedAt)
	})
	return out, err
}
