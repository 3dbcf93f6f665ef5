package workflows

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/trailhound/trailhound/detectors"
	"github.com/trailhound/trailhound/sources"
)

// Fix is a later event that proves a task done: one of Actions, in
// Account, after After, whose fields have the values in Match (taken from
// the finding when the task was opened) and Where.
type Fix struct {
	// Name is the verification that produced it.
	Name    string            `json:"name"`
	Actions []string          `json:"actions"`
	Account string            `json:"account,omitempty"`
	After   time.Time         `json:"after"`
	Match   map[string]string `json:"match"`
	Where   map[string]string `json:"where,omitempty"`
}

// Describe says in words what closes the task.
func (f Fix) Describe() string {
	var conds []string
	for _, k := range sortedKeys(f.Match) {
		conds = append(conds, k+"="+f.Match[k])
	}
	for _, k := range sortedKeys(f.Where) {
		conds = append(conds, k+"="+f.Where[k])
	}
	return strings.Join(f.Actions, " or ") + " with " + strings.Join(conds, ", ")
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// matches reports whether a (successful, later) event fixes the task.
func (f *Fix) matches(ev *sources.Event) bool {
	if ev.ErrorCode != "" || !ev.Time.After(f.After) {
		return false
	}
	if f.Account != "" && ev.Account != "" && ev.Account != f.Account {
		return false
	}
	for path, want := range f.Match {
		if got, ok := fieldString(ev, path); !ok || got != want {
			return false
		}
	}
	for path, want := range f.Where {
		if got, ok := fieldString(ev, path); !ok || !strings.EqualFold(got, want) {
			return false
		}
	}
	return true
}

// fieldString reads a scalar field of an event as a string.
func fieldString(ev *sources.Event, path string) (string, bool) {
	v, ok := ev.Field(path)
	if !ok {
		return "", false
	}
	switch x := v.(type) {
	case string:
		return x, x != ""
	case bool, float64, json.Number:
		return fmt.Sprint(x), true
	}
	return "", false // objects and lists are not compared
}

// findingEvent rebuilds the event behind a finding, for reading fields:
// the normalised fields from the finding and the rest from its first
// piece of evidence.
func findingEvent(f *detectors.Finding) *sources.Event {
	ev := &sources.Event{Time: f.Time, Source: f.Source, Account: f.Account, Region: f.Region, Principal: f.Principal,
		Service: f.Service, Action: f.Action, SourceIP: f.SourceIP, UserAgent: f.UserAgent, ErrorCode: f.ErrorCode}
	if len(f.EventIDs) > 0 {
		ev.ID = f.EventIDs[0]
	}
	if len(f.Evidence) > 0 {
		ev.Raw = f.Evidence[0]
	}
	return ev
}

// fixesFor returns the fixes that would prove a task on the alert done;
// verifications whose fields the finding lacks are left out.
func (c *Config) fixesFor(a *Alert) []Fix {
	f := &a.Finding
	ev := findingEvent(f)
	var out []Fix
	for _, v := range c.Verifications {
		if !v.applies(f) {
			continue
		}
		fix := Fix{Name: v.Name, Actions: v.FixedBy, Account: f.Account, After: f.Time, Match: map[string]string{}, Where: v.Where}
		ok := true
		for _, sf := range v.Same {
			val, found := fieldString(ev, sf.Finding)
			if !found {
				ok = false
				break
			}
			fix.Match[sf.Event] = val
		}
		if ok {
			out = append(out, fix)
		}
	}
	return out
}

// fixIndex holds the fixes of open tasks by action name, so each event
// costs one map lookup unless its action can fix something.
type fixIndex struct {
	byAction map[string][]taskFix
	// found are the tasks fixed by events observed, in order.
	found []verified
	done  map[string]bool
}

type taskFix struct {
	taskID string
	fix    Fix
}

type verified struct {
	taskID string
	note   string
}

// openFixes indexes the fixes of every open task.
func (s *Store) openFixes() (*fixIndex, error) {
	ix := &fixIndex{byAction: map[string][]taskFix{}, done: map[string]bool{}}
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTasks)
		if b == nil {
			return nil
		}
		return b.ForEach(func(_, v []byte) error {
			var t Task
			if err := json.Unmarshal(v, &t); err != nil {
				return nil // a corrupt task is reported by ListTasks
			}
			if t.Status.Closed() {
				return nil
			}
			for _, f := range t.Fixes {
				for _, act := range f.Actions {
					ix.byAction[act] = append(ix.byAction[act], taskFix{t.ID, f})
				}
			}
			return nil
		})
	})
	return ix, err
}

// observe checks one event against the open tasks' fixes.
func (ix *fixIndex) observe(ev *sources.Event) {
	if ix == nil {
		return
	}
	for _, tf := range ix.byAction[ev.Action] {
		if ix.done[tf.taskID] || !tf.fix.matches(ev) {
			continue
		}
		ix.done[tf.taskID] = true
		who := cmpOr(ev.Principal.Name, cmpOr(ev.Principal.ARN, "an unknown principal"))
		ix.found = append(ix.found, verified{tf.taskID, fmt.Sprintf("verified from the logs: %s by %s at %s (event %s)", ev.Action, who, ev.Time.UTC().Format(time.RFC3339), ev.ID)})
	}
}

// closeVerified marks the tasks fixed by observed events done, in the
// caller's transaction.
func (s *Store) closeVerified(tx *bolt.Tx, ix *fixIndex) ([]Task, error) {
	if ix == nil {
		return nil, nil
	}
	var out []Task
	for _, v := range ix.found {
		t, err := getTask(tx, v.taskID)
		if err != nil {
			return out, err
		}
		if t.Status.Closed() {
			continue
		}
		done, err := s.SetTaskStatusTx(tx, v.taskID, TaskDone, SystemActor, v.note)
		if err != nil {
			return out, err
		}
		out = append(out, done)
	}
	return out, nil
}

// stored forgets the fixes already handed to closeVerified and committed;
// done keeps a task from being matched again within the poll.
func (ix *fixIndex) stored() {
	if ix != nil {
		ix.found = ix.found[:0]
	}
}
