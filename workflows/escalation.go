package workflows

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/trailhound/trailhound/detectors"
)

// nextLevel returns the escalation level after the alert's current one,
// with its policy level, or ok false when the policy has none.
func (c *Config) nextLevel(a *Alert) (lv Level, level int, ok bool) {
	p := c.Policies[a.EscalationPolicy]
	if p == nil || len(p.Levels) == 0 {
		return Level{}, 0, false
	}
	level = a.EscalationLevel + 1
	switch {
	case level <= len(p.Levels):
		return p.Levels[level-1], level, true
	case p.RepeatLast:
		return p.Levels[len(p.Levels)-1], level, true
	}
	return Level{}, 0, false
}

// refuseRepeat returns why a person's change would repeat what is already
// done, or nil. Escalating past the policy's last level (or, without a
// policy, escalating an alert already escalated once) and suppressing an
// alert already suppressed change nothing worth a message: they are
// refused, so one responder pressing Escalate 500 times posts at most one
// card per level. The bot's own changes (timers, no answer to "was this
// you?") follow the policy and are never refused here; transition refuses
// the other repeats (acknowledging an acknowledged alert, ...).
func (c *Config) refuseRepeat(a *Alert, ch Change, now time.Time) error {
	if ch.Actor == SystemActor {
		return nil
	}
	switch ch.Action {
	case ActionEscalate:
		if last := c.lastLevel(a); a.EscalationLevel >= last {
			if p := c.Policies[a.EscalationPolicy]; p != nil && len(p.Levels) > 0 {
				return fmt.Errorf("%w: it is already at the last level (%d) of escalation policy %s", ErrInvalidTransition, last, p.Name)
			}
			return fmt.Errorf("%w: it was already escalated, and no escalation policy has a further level", ErrInvalidTransition)
		}
	case ActionSuppress:
		if a.State == StateSuppressed && a.SuppressedUntil.After(now) {
			return fmt.Errorf("%w: it is already suppressed until %s (reopen it first to change that)", ErrInvalidTransition, a.SuppressedUntil.UTC().Format("2006-01-02 15:04 UTC"))
		}
	}
	return nil
}

// lastLevel is the highest escalation level a person can raise an alert
// to: the levels of its policy, or one (its own targets) without a policy.
// repeat_last repeats the last level by timer only.
func (c *Config) lastLevel(a *Alert) int {
	if p := c.Policies[a.EscalationPolicy]; p != nil && len(p.Levels) > 0 {
		return len(p.Levels)
	}
	return 1
}

// levelTargets returns where an alert escalated to level goes: the policy
// level's targets, or the alert's own targets when the policy has no such
// level.
func (c *Config) levelTargets(a *Alert, level int) []Target {
	if p := c.Policies[a.EscalationPolicy]; p != nil && len(p.Levels) > 0 {
		switch {
		case level >= 1 && level <= len(p.Levels):
			return p.Levels[level-1].Targets
		case level > len(p.Levels) && p.RepeatLast:
			return p.Levels[len(p.Levels)-1].Targets
		}
	}
	if len(a.Targets) > 0 {
		return a.Targets
	}
	return []Target{{}}
}

// escalationDue returns when the alert's next policy level fires, zero
// when it never will. Only alerts nobody has acknowledged escalate by
// timer; each level counts from the previous escalation (or the alert's
// creation), so the time is derived from persisted fields and a level
// never fires twice.
func (c *Config) escalationDue(a *Alert) (time.Time, Level, int) {
	if a.State != StateNew && a.State != StateEscalated {
		return time.Time{}, Level{}, 0
	}
	lv, level, ok := c.nextLevel(a)
	if !ok {
		return time.Time{}, Level{}, 0
	}
	base := a.EscalatedAt
	if base.IsZero() {
		base = a.CreatedAt
	}
	return base.Add(lv.After.D()), lv, level
}

// enqueueEscalation posts an alert just escalated (a.EscalationLevel is
// the new level) to that level's targets.
func (s *Store) enqueueEscalation(tx *bolt.Tx, a *Alert, now time.Time, why string) error {
	text := fmt.Sprintf("Escalated to level %d: `%s` %s", a.EscalationLevel, a.ID, a.Finding.Title)
	if why != "" {
		text += " (" + why + ")"
	}
	return enqueueItem(tx, outboxItem{AlertID: a.ID, Kind: NotifyEscalate, CreatedAt: now,
		Targets: s.config().levelTargets(a, a.EscalationLevel), Text: text + "."})
}

// Escalator fires escalation levels and ask-the-actor timeouts. Tick is
// meant to run every minute; everything it needs is persisted, so a
// restart neither loses nor repeats an escalation.
type Escalator struct {
	Store *Store
	Log   *slog.Logger
}

// Tick escalates, at most one level each, the alerts whose next level is
// due at now, and escalates alerts whose actor did not answer in time. It
// returns how many alerts it escalated.
func (e *Escalator) Tick(now time.Time) (int, error) {
	s := e.Store
	cfg := s.config()
	now = now.UTC()
	var ids []string
	err := s.db.View(func(tx *bolt.Tx) error {
		for _, id := range openAlertIDs(tx) {
			a, err := getAlert(tx, id)
			if err != nil {
				continue // reported by List; one corrupt alert must not stop escalation
			}
			if due, _, _ := cfg.escalationDue(a); !due.IsZero() && !now.Before(due) || askExpired(cfg, a, now) {
				ids = append(ids, a.ID)
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range ids {
		var did bool
		err := s.db.Update(func(tx *bolt.Tx) error {
			var err error
			did, err = s.escalateDue(tx, id, now)
			return err
		})
		if err != nil {
			return n, fmt.Errorf("workflows: escalate %s: %w", id, err)
		}
		if did {
			n++
		}
	}
	return n, nil
}

func askExpired(cfg *Config, a *Alert, now time.Time) bool {
	return len(a.AskedActors) > 0 && a.ActorAnswer == "" && !a.AskedAt.IsZero() && !now.Before(a.AskedAt.Add(cfg.AskActor.Timeout))
}

// escalateDue re-checks an alert inside tx and escalates it if due.
func (s *Store) escalateDue(tx *bolt.Tx, id string, now time.Time) (bool, error) {
	cfg := s.config()
	a, err := getAlert(tx, id)
	if err != nil {
		return false, err
	}
	if askExpired(cfg, a, now) {
		a.ActorAnswer = AnswerNone
		if err := putAlert(tx, a); err != nil {
			return false, err
		}
		note := fmt.Sprintf("%s did not answer \"was this you?\" within %s", strings.Join(a.AskedActors, ", "), formatDur(cfg.AskActor.Timeout))
		if err := appendAudit(tx, AuditEntry{Time: now, Actor: SystemActor, AlertID: a.ID, Action: "actor_no_answer", Note: note}); err != nil {
			return false, err
		}
		if a.State == StateNew || a.State == StateEscalated {
			_, err := s.apply(tx, Change{AlertID: a.ID, Action: ActionEscalate, Actor: SystemActor, Note: note}, now)
			return err == nil, err
		}
		return false, nil
	}
	due, lv, level := cfg.escalationDue(a)
	if due.IsZero() || now.Before(due) {
		return false, nil
	}
	note := fmt.Sprintf("escalated by policy %s: not acknowledged within %s (level %d)", a.EscalationPolicy, formatDur(lv.After.D()), level)
	_, err = s.apply(tx, Change{AlertID: a.ID, Action: ActionEscalate, Actor: SystemActor, Note: note}, now)
	return err == nil, err
}

// NextEscalation returns when the alert's next escalation level fires by
// policy, zero if it never will.
func (s *Store) NextEscalation(a Alert) time.Time {
	due, _, _ := s.config().escalationDue(&a)
	return due
}

func formatDur(d time.Duration) string {
	if d < time.Second {
		return d.String()
	}
	var b strings.Builder
	for _, u := range []struct {
		unit time.Duration
		name string
	}{{24 * time.Hour, "d"}, {time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}} {
		if n := d / u.unit; n > 0 {
			fmt.Fprintf(&b, "%d%s", n, u.name)
			d -= n * u.unit
		}
	}
	return b.String()
}

// askActors returns the chat identities ("slack:U123", or
// "slack:email:a@b" for users to look up by email) to ask whether they
// performed the action behind a finding, or nil when the rule does not ask
// or the principal is unknown.
func (c *Config) askActors(f *detectors.Finding) []string {
	ask := c.AskActor
	if len(ask.Rules) == 0 || !matchAny(ask.Rules, f.RuleID) {
		return nil
	}
	p := f.Principal
	if p.Type == "AWSService" || p.ARN == "" && p.Name == "" {
		return nil // no person to ask
	}
	email := principalEmail(p.Name)
	for _, u := range ask.Users {
		hit := u.Principal != "" && (matchAny([]string{u.Principal}, p.ARN) || matchAny([]string{u.Principal}, p.Name))
		hit = hit || u.Email != "" && email != "" && strings.EqualFold(u.Email, email)
		if !hit {
			continue
		}
		var out []string
		if u.Slack != "" {
			out = append(out, "slack:"+u.Slack)
		}
		if u.Discord != "" {
			out = append(out, "discord:"+u.Discord)
		}
		return out
	}
	if email == "" {
		return nil
	}
	var out []string
	for _, n := range ask.EmailLookup {
		out = append(out, n+":email:"+email)
	}
	return out
}

// principalEmail returns the email in a principal name: the session name
// of an SSO role ("AWSReservedSSO_Admin_abc/alice@example.com") or an
// IAM user named by email.
func principalEmail(name string) string {
	if i := strings.LastIndex(name, "/"); i >= 0 {
		name = name[i+1:]
	}
	at := strings.Index(name, "@")
	if at <= 0 || at == len(name)-1 || !strings.Contains(name[at:], ".") {
		return ""
	}
	return name
}

// askTarget turns an asked identity into a direct-message target.
func askTarget(identity string) Target {
	notifier, user, _ := strings.Cut(identity, ":")
	return Target{Notifier: notifier, DirectTo: user}
}

// askActor queues the "was this you?" question for a new alert.
func (s *Store) askActor(tx *bolt.Tx, a *Alert, now time.Time) error {
	f := a.Finding
	var targets []Target
	for _, id := range a.AskedActors {
		targets = append(targets, askTarget(id))
	}
	text := fmt.Sprintf("Was this you? Trailhound saw %s call %s in AWS account %s (%s) from %s at %s. It raised alert `%s`: %s.\n"+
		"If it was you, press \"Yes, that was me\". If not, press \"No, it wasn't me\" and the security team is alerted at once. Without an answer within %s the alert is escalated.",
		cmpOr(f.Principal.Name, f.Principal.ARN), cmpOr(f.Action, "an API"), cmpOr(f.Account, "-"), cmpOr(f.Region, "-"), cmpOr(f.SourceIP, "an unknown address"),
		f.Time.UTC().Format("2006-01-02 15:04 UTC"), a.ID, f.Title, formatDur(s.config().AskActor.Timeout))
	if err := appendAudit(tx, AuditEntry{Time: now, Actor: SystemActor, AlertID: a.ID, Action: "actor_asked", Note: "asked " + strings.Join(a.AskedActors, ", ")}); err != nil {
		return err
	}
	return enqueueItem(tx, outboxItem{AlertID: a.ID, Kind: NotifyAskActor, CreatedAt: now, Targets: targets, Text: text})
}

// AnswerActor records the answer of the person asked "was this you?".
// Only an asked identity may answer, once. "Yes" acknowledges the alert
// (it stays open for an analyst to resolve); "no" escalates it at once,
// reopening it first if it was closed meanwhile.
func (s *Store) AnswerActor(alertID, actor string, mine bool) (Alert, error) {
	var out Alert
	err := s.db.Update(func(tx *bolt.Tx) error {
		now := s.now()
		a, err := getAlert(tx, alertID)
		if err != nil {
			return err
		}
		if !slices.Contains(a.AskedActors, actor) {
			return fmt.Errorf("alert %s: %w: only the person asked can answer", a.ID, ErrInvalidTransition)
		}
		if a.ActorAnswer != "" {
			return fmt.Errorf("alert %s: %w: the question was already settled (%s)", a.ID, ErrInvalidTransition, strings.ReplaceAll(a.ActorAnswer, "_", " "))
		}
		a.ActorAnswer = AnswerDenied
		action, note := "actor_denied", "the actor said it was not them"
		if mine {
			a.ActorAnswer = AnswerConfirmed
			action, note = "actor_confirmed", "the actor confirmed it was them"
		}
		if err := putAlert(tx, a); err != nil {
			return err
		}
		if err := appendAudit(tx, AuditEntry{Time: now, Actor: actor, AlertID: a.ID, Action: action, Note: note}); err != nil {
			return err
		}
		switch {
		case mine && (a.State == StateNew || a.State == StateEscalated):
			a, err = s.apply(tx, Change{AlertID: a.ID, Action: ActionAcknowledge, Actor: actor, Note: note}, now)
		case mine:
			err = enqueue(tx, now, a.ID, NotifyUpdate)
		default:
			if !a.State.Open() {
				if a, err = s.apply(tx, Change{AlertID: a.ID, Action: ActionReopen, Actor: actor, Note: note}, now); err != nil {
					return err
				}
			}
			if s.config().refuseRepeat(a, Change{Action: ActionEscalate, Actor: actor}, now) != nil {
				// Already at the last level: the answer is recorded and
				// shown on the card, without another page.
				err = enqueue(tx, now, a.ID, NotifyUpdate)
				break
			}
			a, err = s.apply(tx, Change{AlertID: a.ID, Action: ActionEscalate, Actor: actor, Note: note}, now)
		}
		if err != nil {
			return err
		}
		out = *a
		return nil
	})
	return out, err
}
