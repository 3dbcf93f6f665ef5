// Package workflows turns findings into managed alerts: dedup and grouping,
// the alert lifecycle, the audit log, the outbox of chat notifications, and
// the jobs that poll sources on schedules.
package workflows

import (
	"errors"
	"fmt"
	"time"

	"github.com/trailhound/trailhound/detectors"
)

// State is where an alert is in its lifecycle.
type State string

// Alert states.
const (
	StateNew          State = "new"
	StateAcknowledged State = "acknowledged"
	StateEscalated    State = "escalated"
	StateResolved     State = "resolved"
	StateSuppressed   State = "suppressed"
)

// Open reports whether the alert still needs attention.
func (s State) Open() bool {
	return s == StateNew || s == StateAcknowledged || s == StateEscalated
}

// Action is something a responder (or the bot) does to an alert.
type Action string

// Actions on alerts.
const (
	ActionAcknowledge   Action = "acknowledge"
	ActionEscalate      Action = "escalate"
	ActionResolve       Action = "resolve"
	ActionFalsePositive Action = "false_positive"
	ActionSuppress      Action = "suppress"
	ActionReopen        Action = "reopen"
)

// ParseAction parses an action name.
func ParseAction(s string) (Action, error) {
	switch a := Action(s); a {
	case ActionAcknowledge, ActionEscalate, ActionResolve, ActionFalsePositive, ActionSuppress, ActionReopen:
		return a, nil
	}
	return "", fmt.Errorf("unknown action %q", s)
}

// Errors returned by alert operations.
var (
	ErrNotFound          = errors.New("not found")
	ErrInvalidTransition = errors.New("invalid transition")
)

// MessageRef points at the chat message that shows an alert, so later
// changes update it in place.
type MessageRef struct {
	Notifier  string `json:"notifier"`
	Channel   string `json:"channel,omitempty"`
	MessageID string `json:"message_id"`
	// Target is the destination the message was routed to (a channel id,
	// "@user" for a direct message, "" for the notifier's default
	// channel), as opposed to the Channel the platform reported back. The
	// dispatcher sets it.
	Target string `json:"target,omitempty"`
}

// Alert is a finding (and the similar findings grouped with it) under
// management.
type Alert struct {
	ID    string `json:"id"`
	State State  `json:"state"`
	// Resolution says how a resolved alert ended: "fixed", "false_positive"
	// or "expected".
	Resolution string             `json:"resolution,omitempty"`
	Severity   detectors.Severity `json:"severity"`
	// Finding is the first finding; later similar findings only raise Count
	// and move LastSeen.
	Finding detectors.Finding `json:"finding"`
	// Count is how many distinct findings the alert groups.
	Count     int       `json:"count"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// LastActor and LastAction describe the most recent human action.
	LastActor       string    `json:"last_actor,omitempty"`
	LastAction      Action    `json:"last_action,omitempty"`
	AcknowledgedAt  time.Time `json:"acknowledged_at,omitempty"`
	ResolvedAt      time.Time `json:"resolved_at,omitempty"`
	EscalationLevel int       `json:"escalation_level,omitempty"`
	SuppressedUntil time.Time `json:"suppressed_until,omitempty"`
	// Messages are the chat messages showing this alert.
	Messages []MessageRef `json:"messages,omitempty"`

	// Routes names the routes that matched; Targets are where the alert
	// is posted (one message per notifier and channel).
	Routes  []string `json:"routes,omitempty"`
	Targets []Target `json:"targets,omitempty"`
	// DigestOnly alerts matched only digest routes: they are kept for the
	// digest and queries and posted nowhere, unless a later, more severe
	// finding routes them to chat.
	DigestOnly bool `json:"digest_only,omitempty"`
	// EscalationPolicy names the alert's escalation policy, "" for none;
	// EscalatedAt is when the last escalation (by policy or by hand)
	// happened. Escalation timers are derived from these persisted fields,
	// so they survive restarts.
	EscalationPolicy string    `json:"escalation_policy,omitempty"`
	EscalatedAt      time.Time `json:"escalated_at,omitempty"`
	// AskedActors are the chat identities ("slack:U123") asked whether
	// they performed the action, AskedAt when. ActorAnswer is "confirmed",
	// "denied" or "no_answer" once settled.
	AskedActors []string  `json:"asked_actors,omitempty"`
	AskedAt     time.Time `json:"asked_at,omitempty"`
	ActorAnswer string    `json:"actor_answer,omitempty"`
	// External lists every AWS security finding folded into the alert
	// (the alert's own Finding may be one of them), each as last
	// received: updates replace their entry in place. It holds at most
	// MaxExternal entries; when full, the least recently updated entry
	// gives way. Write-back to AWS reads it.
	External []detectors.External `json:"external,omitempty"`
}

// MaxExternal bounds Alert.External.
const MaxExternal = 50

// Actor answers to "was this you?".
const (
	AnswerConfirmed = "confirmed"
	AnswerDenied    = "denied"
	AnswerNone      = "no_answer"
)

// Message returns the reference of the alert's first message on a
// notifier.
func (a *Alert) Message(notifier string) (MessageRef, bool) {
	for _, m := range a.Messages {
		if m.Notifier == notifier {
			return m, true
		}
	}
	return MessageRef{}, false
}

// MessagesOn returns every message of the alert on a notifier.
func (a *Alert) MessagesOn(notifier string) []MessageRef {
	var out []MessageRef
	for _, m := range a.Messages {
		if m.Notifier == notifier {
			out = append(out, m)
		}
	}
	return out
}

// messageFor returns the alert's message posted to a target, if any.
func (a *Alert) messageFor(notifier string, t Target) (MessageRef, bool) {
	for _, m := range a.Messages {
		if m.Notifier == notifier && m.Target == t.dest() {
			return m, true
		}
	}
	return MessageRef{}, false
}

// AuditEntry records one change: who did what to which alert or task, when.
type AuditEntry struct {
	Seq     uint64    `json:"seq"`
	Time    time.Time `json:"time"`
	Actor   string    `json:"actor"`
	AlertID string    `json:"alert_id,omitempty"`
	TaskID  string    `json:"task_id,omitempty"`
	Action  string    `json:"action"`
	From    string    `json:"from,omitempty"`
	To      string    `json:"to,omitempty"`
	Note    string    `json:"note,omitempty"`
}

// transition returns the state an action leads to from a state, or an
// error naming why the action is not allowed.
func transition(from State, a Action) (State, error) {
	switch a {
	case ActionAcknowledge:
		if from == StateNew || from == StateEscalated {
			return StateAcknowledged, nil
		}
	case ActionEscalate:
		if from.Open() {
			return StateEscalated, nil
		}
	case ActionResolve, ActionFalsePositive:
		if from != StateResolved {
			return StateResolved, nil
		}
	case ActionSuppress:
		if from != StateResolved {
			return StateSuppressed, nil
		}
	case ActionReopen:
		if !from.Open() {
			return StateNew, nil
		}
	}
	return from, fmt.Errorf("%w: cannot %s an alert that is %s", ErrInvalidTransition, a, from)
}
