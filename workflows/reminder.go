package workflows

import (
	"fmt"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// ChatPlatforms are the notifier names whose user ids make an assignee a
// chat identity ("slack:U123"), reminded by direct message.
var ChatPlatforms = []string{"slack", "discord"}

// assigneeTarget returns the direct-message target of a chat assignee.
func assigneeTarget(assignee string) (Target, bool) {
	platform, user, ok := strings.Cut(assignee, ":")
	if !ok || user == "" || !slices.Contains(ChatPlatforms, platform) {
		return Target{}, false
	}
	return Target{Notifier: platform, DirectTo: user}, true
}

// reminderThreshold is one moment a task reminder is due, named by a key
// recorded in Task.RemindedAt.
type reminderThreshold struct {
	key string
	at  time.Time
}

// thresholds lists a task's reminder moments, earliest first.
func (p *TaskPolicy) thresholds(t *Task) []reminderThreshold {
	if t.Due.IsZero() {
		return nil
	}
	var out []reminderThreshold
	for _, d := range p.RemindBefore {
		out = append(out, reminderThreshold{"before-" + formatDur(d), t.Due.Add(-d)})
	}
	for k := 0; k < p.MaxOverdue; k++ {
		out = append(out, reminderThreshold{fmt.Sprintf("overdue-%d", k+1), t.Due.Add(p.RemindAfter + time.Duration(k)*p.RemindEvery)})
	}
	slices.SortStableFunc(out, func(a, b reminderThreshold) int { return a.at.Compare(b.at) })
	return out
}

// Reminder sends task reminders before and after due dates. Each
// threshold is sent at most once (recorded in Task.RemindedAt), so Tick may
// run as often as wanted and survives restarts.
type Reminder struct {
	Store *Store
}

// Tick sends the reminders due at now and returns how many it queued.
func (r *Reminder) Tick(now time.Time) (int, error) {
	s := r.Store
	now = now.UTC()
	tasks, err := s.ListTasks(TaskFilter{OpenOnly: true})
	if err != nil {
		return 0, err
	}
	p := &s.config().Tasks
	n := 0
	for _, t := range tasks {
		if !dueReminder(p, &t, now) {
			continue
		}
		var sent bool
		err := s.db.Update(func(tx *bolt.Tx) error {
			var err error
			sent, err = s.remind(tx, t.ID, now)
			return err
		})
		if err != nil {
			return n, fmt.Errorf("workflows: remind task %s: %w", t.ID, err)
		}
		if sent {
			n++
		}
	}
	return n, nil
}

// dueReminder reports whether a threshold not yet recorded has passed.
func dueReminder(p *TaskPolicy, t *Task, now time.Time) bool {
	for _, th := range p.thresholds(t) {
		if !th.at.After(now) && t.RemindedAt[th.key].IsZero() {
			return true
		}
	}
	return false
}

// remind records every passed threshold of a task and, unless the latest
// one had already passed when the task was opened, queues one reminder.
func (s *Store) remind(tx *bolt.Tx, id string, now time.Time) (bool, error) {
	t, err := getTask(tx, id)
	if err != nil {
		return false, err
	}
	if t.Status.Closed() {
		return false, nil
	}
	var latest *reminderThreshold
	ths := s.config().Tasks.thresholds(t)
	for i, th := range ths {
		if th.at.After(now) || !t.RemindedAt[th.key].IsZero() {
			continue
		}
		if t.RemindedAt == nil {
			t.RemindedAt = map[string]time.Time{}
		}
		t.RemindedAt[th.key] = now
		latest = &ths[i]
	}
	if latest == nil {
		return false, nil
	}
	if err := putTask(tx, t); err != nil {
		return false, err
	}
	if !latest.at.After(t.CreatedAt) {
		return false, nil // the threshold had passed before the task existed
	}
	a, err := getAlert(tx, t.AlertID)
	if err != nil {
		return false, err
	}
	text := reminderText(t, now)
	var targets []Target
	if tg, ok := assigneeTarget(t.Assignee); ok {
		targets = []Target{tg}
	} else {
		for _, tg := range a.Targets {
			if tg.DirectTo == "" {
				targets = append(targets, tg)
			}
		}
		if len(targets) == 0 {
			targets = []Target{{}}
		}
	}
	if err := appendAudit(tx, AuditEntry{Time: now, Actor: SystemActor, AlertID: t.AlertID, TaskID: t.ID, Action: "task_reminder", Note: latest.key + " to " + orNone(t.Assignee)}); err != nil {
		return false, err
	}
	return true, enqueueItem(tx, outboxItem{AlertID: t.AlertID, TaskID: t.ID, Kind: NotifyReminder, CreatedAt: now, Targets: targets, Text: text})
}

// reminderText says what is due when.
func reminderText(t *Task, now time.Time) string {
	var when string
	switch d := t.Due.Sub(now).Round(time.Minute); {
	case d > 0:
		when = "is due in " + formatDur(d)
	case d == 0:
		when = "is due now"
	default:
		when = "is overdue by " + formatDur(-d)
	}
	who := ""
	if _, chat := assigneeTarget(t.Assignee); !chat && t.Assignee != "" {
		who = t.Assignee + ": "
	}
	return fmt.Sprintf("%sReminder: task `%s` \"%s\" (alert `%s`) %s (due %s). When it is fixed: `/trailhound task %s done`.",
		who, t.ID, t.Title, t.AlertID, when, t.Due.UTC().Format("2006-01-02 15:04 UTC"), t.ID)
}

// RemindedKeys returns the reminder thresholds recorded on a task, for
// display.
func (t *Task) RemindedKeys() []string {
	keys := make([]string, 0, len(t.RemindedAt))
	for k := range t.RemindedAt {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
