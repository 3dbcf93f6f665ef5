package workflows

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/trailhound/trailhound/detectors"
)

var bucketSilences = []byte("workflows.silences")

// Silence mutes new alerts that match it until it expires. Matching alerts
// are still stored (state suppressed) and counted in digests, but nobody is
// notified. Every non-empty field must match.
type Silence struct {
	ID string `json:"id"`
	// RuleID, Principal (ARN or name), Account and GroupKey select alerts.
	RuleID    string    `json:"rule_id,omitempty"`
	Principal string    `json:"principal,omitempty"`
	Account   string    `json:"account,omitempty"`
	GroupKey  string    `json:"group_key,omitempty"`
	Reason    string    `json:"reason"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	// Matched counts the findings it muted.
	Matched int `json:"matched"`
}

// Active reports whether the silence is in force at t.
func (s *Silence) Active(t time.Time) bool { return t.Before(s.ExpiresAt) }

// Matches reports whether a finding falls under the silence.
func (s *Silence) Matches(f *detectors.Finding) bool {
	if s.RuleID != "" && s.RuleID != f.RuleID {
		return false
	}
	if s.Account != "" && s.Account != f.Account {
		return false
	}
	if s.GroupKey != "" && s.GroupKey != f.GroupKey {
		return false
	}
	if s.Principal != "" && s.Principal != f.Principal.ARN && s.Principal != f.Principal.Name {
		return false
	}
	return true
}

// MaxSilence is the longest a silence may last.
const MaxSilence = 90 * 24 * time.Hour

// CreateSilence stores a silence lasting d, with an audit entry.
func (s *Store) CreateSilence(sl Silence, d time.Duration, actor string) (Silence, error) {
	if sl.RuleID == "" && sl.Principal == "" && sl.Account == "" && sl.GroupKey == "" {
		return Silence{}, fmt.Errorf("a silence needs a rule, principal, account or alert to match")
	}
	if d <= 0 || d > MaxSilence {
		return Silence{}, fmt.Errorf("silence duration must be between 1s and %d days", int(MaxSilence.Hours()/24))
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketSilences)
		if err != nil {
			return err
		}
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		now := s.now()
		sl.ID = "S-" + strconv.FormatUint(seq, 10)
		sl.CreatedBy, sl.CreatedAt, sl.ExpiresAt = actor, now, now.Add(d)
		if err := putSilence(tx, &sl); err != nil {
			return err
		}
		return appendAudit(tx, AuditEntry{Time: now, Actor: actor, Action: "silence_created", Note: fmt.Sprintf("%s %s until %s: %s", sl.ID, describeSilence(&sl), sl.ExpiresAt.Format(time.RFC3339), sl.Reason)})
	})
	return sl, err
}

func describeSilence(sl *Silence) string {
	s := ""
	add := func(k, v string) {
		if v != "" {
			if s != "" {
				s += " "
			}
			s += k + "=" + v
		}
	}
	add("rule", sl.RuleID)
	add("principal", sl.Principal)
	add("account", sl.Account)
	add("group", sl.GroupKey)
	return s
}

// ExpireSilence ends a silence now.
func (s *Store) ExpireSilence(id, actor string) (Silence, error) {
	var out Silence
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSilences)
		var v []byte
		if b != nil {
			v = b.Get([]byte(id))
		}
		if v == nil {
			return fmt.Errorf("silence %s: %w", id, ErrNotFound)
		}
		if err := json.Unmarshal(v, &out); err != nil {
			return fmt.Errorf("workflows: silence %s is corrupt: %w", id, err)
		}
		now := s.now()
		if !out.Active(now) {
			return fmt.Errorf("silence %s: %w: it has already expired", id, ErrInvalidTransition)
		}
		out.ExpiresAt = now
		if err := putSilence(tx, &out); err != nil {
			return err
		}
		return appendAudit(tx, AuditEntry{Time: now, Actor: actor, Action: "silence_expired", Note: out.ID})
	})
	return out, err
}

// Silences lists silences, active ones only when activeAt is non-zero,
// newest first.
func (s *Store) Silences(activeAt time.Time) ([]Silence, error) {
	var out []Silence
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		out, err = silences(tx, activeAt)
		return err
	})
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.After(out[j].CreatedAt) })
	return out, err
}

func silences(tx *bolt.Tx, activeAt time.Time) ([]Silence, error) {
	b := tx.Bucket(bucketSilences)
	if b == nil {
		return nil, nil
	}
	var out []Silence
	err := b.ForEach(func(k, v []byte) error {
		var sl Silence
		if err := json.Unmarshal(v, &sl); err != nil {
			return fmt.Errorf("workflows: silence %s is corrupt: %w", k, err)
		}
		if activeAt.IsZero() || sl.Active(activeAt) {
			out = append(out, sl)
		}
		return nil
	})
	return out, err
}

func putSilence(tx *bolt.Tx, sl *Silence) error {
	b, err := tx.CreateBucketIfNotExists(bucketSilences)
	if err != nil {
		return err
	}
	v, err := json.Marshal(sl)
	if err != nil {
		return err
	}
	return b.Put([]byte(sl.ID), v)
}
