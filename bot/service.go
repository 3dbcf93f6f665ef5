package bot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/trailhound/trailhound/sources"
	"github.com/trailhound/trailhound/workflows"
)

// Reply is the platform-neutral answer to a command or action.
type Reply struct {
	// Text uses only `code` spans and • bullets, which both Slack and
	// Discord render.
	Text string
	// Ephemeral replies are shown only to the user who asked.
	Ephemeral bool
	// Card, when set, is shown below the text.
	Card *Card
	// Refused is set when the user's role does not allow the request.
	Refused bool
	// Failed is set when the request could not be carried out: "rejected"
	// when the user asked for something impossible (unknown alert, invalid
	// transition), "error" when something broke on our side.
	Failed string
	// Alert is the alert the request changed, if any, so the adapter can
	// redraw its message at once.
	Alert *workflows.Alert
	// Actors are the chat identities ("slack:U123", "discord:456") that
	// Text names on purpose: the person who acted, a task's assignee.
	// Platforms may show exactly these as mentions; everything else in
	// Text, which quotes users and log events, is shown literally.
	Actors []string
}

// Service carries out chat commands and card actions against the workflow
// store, checking the user's role first. Both chat adapters share it.
type Service struct {
	Store *workflows.Store
	// Health returns source health for `sources`; nil hides the command.
	Health func() ([]sources.Health, error)
	// Digest renders the review digest for the period; nil hides it.
	Digest func(ctx context.Context, since time.Duration) (string, error)
	// Activity looks up a principal's calls for the Activity button and
	// `activity`; nil (or a nil Reader) answers that no engine is
	// configured.
	Activity *Activity
	Now      func() time.Time
	Log      *slog.Logger
	// Fence, when set, is checked before each command and card action;
	// an error answers that another instance is active, and nothing is
	// done. High availability sets it, so a replica that lost its lease
	// changes nothing (see package ha).
	Fence func() error

	// unconfigured stands in for a nil Activity, made once.
	noActivity   sync.Once
	unconfigured *Activity
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

func (s *Service) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

// commandRole is the least role each command needs.
var commandRole = map[string]Role{
	"help": NoRole, "findings": Viewer, "show": Viewer, "tasks": Viewer, "silences": Viewer,
	"digest": Viewer, "sources": Viewer, "activity": Viewer, "ack": Responder, "escalate": Responder, "task": Responder,
	"resolve": Analyst, "silence": Analyst, "unsilence": Analyst,
}

// refuse records a refused request and returns the polite answer.
func (s *Service) refuse(id Identity, role Role, what, alertID string) Reply {
	if err := s.Store.Audit(workflows.AuditEntry{Actor: id.Actor(), AlertID: alertID, Action: "refused", Note: fmt.Sprintf("%s needs a higher role than %s", what, role)}); err != nil {
		s.log().Error("audit refused request", "actor", id.Actor(), "err", err)
	}
	s.log().Info("refused chat request", "actor", id.Actor(), "role", role.String(), "request", what)
	return Reply{Ephemeral: true, Refused: true, Text: fmt.Sprintf("Sorry, your role (%s) does not allow you to %s. Ask a Trailhound admin to add you to the right role.", role, what)}
}

// Run carries out a slash command.
func (s *Service) Run(ctx context.Context, id Identity, role Role, c Command) Reply {
	if r, fenced := s.fenced(); fenced {
		observeRequest(id.Platform, "command:"+c.Name, r)
		return r
	}
	r := s.runChecked(ctx, id, role, c)
	observeRequest(id.Platform, "command:"+c.Name, r)
	return r
}

func (s *Service) runChecked(ctx context.Context, id Identity, role Role, c Command) Reply {
	if need := commandRole[c.Name]; role < need {
		return s.refuse(id, role, "use `"+c.Name+"`", c.ID)
	}
	r, err := s.run(ctx, id, role, c)
	if err != nil {
		return s.failure(id, c.Name, err)
	}
	return r
}

// failure turns an error into a chat answer: what the user can act on is
// said plainly; anything else is logged and summarised.
func (s *Service) failure(id Identity, what string, err error) Reply {
	switch {
	case errors.Is(err, workflows.ErrNotFound):
		return Reply{Ephemeral: true, Failed: "rejected", Text: "Not found: " + userError(err) + "."}
	case errors.Is(err, workflows.ErrInvalidTransition):
		return Reply{Ephemeral: true, Failed: "rejected", Text: "That is not possible now: " + userError(err) + "."}
	}
	s.log().Error("chat request failed", "actor", id.Actor(), "request", what, "err", err)
	return Reply{Ephemeral: true, Failed: "error", Text: "Something went wrong on our side; the error is logged. Please try again."}
}

// userError drops wrapping prefixes meant for logs.
func userError(err error) string {
	msg := err.Error()
	msg = strings.ReplaceAll(msg, ": "+workflows.ErrInvalidTransition.Error(), "")
	msg = strings.ReplaceAll(msg, workflows.ErrInvalidTransition.Error()+": ", "")
	return msg
}

func (s *Service) run(ctx context.Context, id Identity, role Role, c Command) (Reply, error) {
	now := s.now()
	switch c.Name {
	case "help":
		return Reply{Ephemeral: true, Text: HelpText()}, nil
	case "findings":
		f := workflows.Filter{MinSeverity: c.MinSeverity, RuleID: c.RuleID, Account: c.Account, Limit: 20}
		since := c.Since
		if since == 0 {
			since = 24 * time.Hour
		}
		f.Since = now.Add(-since)
		switch c.State {
		case "":
		case "open":
			f.States = []workflows.State{workflows.StateNew, workflows.StateAcknowledged, workflows.StateEscalated}
		default:
			f.States = []workflows.State{workflows.State(c.State)}
		}
		alerts, err := s.Store.List(f)
		if err != nil {
			return Reply{}, err
		}
		return Reply{Ephemeral: true, Text: FindingsText(alerts, since)}, nil
	case "show":
		a, err := s.Store.Get(c.ID)
		if err != nil {
			return Reply{}, err
		}
		tasks, err := s.Store.ListTasks(workflows.TaskFilter{AlertID: a.ID})
		if err != nil {
			return Reply{}, err
		}
		card := CardFor(a).WithTasks(tasks, now)
		return Reply{Ephemeral: true, Card: &card}, nil
	case "ack", "escalate", "resolve":
		op := map[string]Op{"ack": OpAcknowledge, "escalate": OpEscalate, "resolve": OpResolve}[c.Name]
		return s.Do(ctx, id, role, op, c.ID, OpOptions{Note: c.Reason}), nil
	case "tasks":
		f := workflows.TaskFilter{}
		switch c.Scope {
		case "mine":
			f.Assignee, f.OpenOnly = id.Actor(), true
		case "open":
			f.OpenOnly = true
		case "overdue":
			f.OverdueAt = now
		}
		tasks, err := s.Store.ListTasks(f)
		if err != nil {
			return Reply{}, err
		}
		return Reply{Ephemeral: true, Text: TasksText(tasks, c.Scope, now), Actors: assignees(tasks)}, nil
	case "task":
		if c.TaskStatus == "" {
			t, err := s.Store.GetTask(c.ID)
			if err != nil {
				return Reply{}, err
			}
			return Reply{Ephemeral: true, Text: TasksText([]workflows.Task{t}, "", now), Actors: assignees([]workflows.Task{t})}, nil
		}
		t, err := s.Store.SetTaskStatus(c.ID, c.TaskStatus, id.Actor(), c.Reason)
		if err != nil {
			return Reply{}, err
		}
		return Reply{Text: fmt.Sprintf("%s set task `%s` to %s.", id.Actor(), t.ID, t.Status), Actors: []string{id.Actor()}}, nil
	case "silence":
		want := workflows.Silence{RuleID: c.RuleID, Principal: c.Principal, Account: c.Account, Reason: c.Reason}
		if c.ID != "" {
			a, err := s.Store.Get(c.ID)
			if err != nil {
				return Reply{}, err
			}
			want.GroupKey = a.Finding.GroupKey
			if want.RuleID == "" {
				want.RuleID = a.Finding.RuleID
			}
		}
		sl, err := s.Store.CreateSilence(want, c.Duration, id.Actor())
		if err != nil {
			return Reply{}, err
		}
		return Reply{Text: fmt.Sprintf("%s silenced %s until %s (`%s`). New alerts it matches are stored but not posted.", id.Actor(), describeSilence(sl, c.ID), sl.ExpiresAt.Format("2006-01-02 15:04 UTC"), sl.ID), Actors: []string{id.Actor()}}, nil
	case "unsilence":
		sl, err := s.Store.ExpireSilence(c.ID, id.Actor())
		if err != nil {
			return Reply{}, err
		}
		return Reply{Text: fmt.Sprintf("%s ended silence `%s`.", id.Actor(), sl.ID), Actors: []string{id.Actor()}}, nil
	case "silences":
		sls, err := s.Store.Silences(now)
		if err != nil {
			return Reply{}, err
		}
		return Reply{Ephemeral: true, Text: SilencesText(sls)}, nil
	case "activity":
		return s.runActivity(ctx, id, role, ActivityRequest{AlertID: c.ID, Principal: c.Principal, Since: c.Since}), nil
	case "sources":
		if s.Health == nil {
			return Reply{Ephemeral: true, Text: "Source health is not available in this deployment."}, nil
		}
		hs, err := s.Health()
		if err != nil {
			return Reply{}, err
		}
		return Reply{Ephemeral: true, Text: SourcesText(hs, now)}, nil
	case "digest":
		if s.Digest == nil {
			return Reply{Ephemeral: true, Text: "Digests are not configured in this deployment."}, nil
		}
		since := c.Since
		if since == 0 {
			since = 7 * 24 * time.Hour
		}
		text, err := s.Digest(ctx, since)
		if err != nil {
			return Reply{}, err
		}
		return Reply{Text: text}, nil
	}
	return Reply{}, fmt.Errorf("bot: command %q has no handler", c.Name)
}

// OpOptions carry what a card action needs beyond the alert.
type OpOptions struct {
	// Note is free text recorded in the audit log.
	Note string
	// SuppressFor is how long "Suppress similar" lasts (default 24h).
	SuppressFor time.Duration
	// Task is the remediation task form, for OpTask.
	Task workflows.TaskInput
}

// fenced returns the answer to a request that reaches an instance that
// no longer holds the lease.
func (s *Service) fenced() (Reply, bool) {
	if s.Fence == nil || s.Fence() == nil {
		return Reply{}, false
	}
	return Reply{Ephemeral: true, Failed: "error", Text: "Another Trailhound instance is active and this one is stepping down: nothing was changed. Try again in a moment."}, true
}

// Do performs a card operation on an alert for a user, after checking the
// user's role. Refusals are audited.
func (s *Service) Do(ctx context.Context, id Identity, role Role, op Op, alertID string, o OpOptions) Reply {
	if r, fenced := s.fenced(); fenced {
		observeRequest(id.Platform, "action:"+string(op), r)
		return r
	}
	r := s.do(ctx, id, role, op, alertID, o)
	observeRequest(id.Platform, "action:"+string(op), r)
	return r
}

func (s *Service) do(ctx context.Context, id Identity, role Role, op Op, alertID string, o OpOptions) Reply {
	need, ok := MinRole[op]
	if !ok {
		return Reply{Ephemeral: true, Text: "Unknown action."}
	}
	if role < need {
		return s.refuse(id, role, buttons[op].Label, alertID)
	}
	if op == OpActivity {
		return s.runActivity(ctx, id, role, ActivityRequest{AlertID: alertID})
	}
	if op == OpConfirmMine || op == OpNotMine {
		a, err := s.Store.AnswerActor(alertID, id.Actor(), op == OpConfirmMine)
		if err != nil {
			return s.failure(id, string(op), err)
		}
		text := fmt.Sprintf("Thank you for confirming. `%s` is now %s.", a.ID, StatusLine(a))
		actors := []string{a.LastActor}
		if op == OpNotMine {
			text = fmt.Sprintf("Thank you. The security team has been alerted about `%s`. Do not use the affected credentials until they contact you.", a.ID)
		}
		// No Alert: the question is a direct message, not the alert's
		// card; the outbox redraws the alert's own messages.
		return Reply{Ephemeral: true, Text: text, Actors: actors}
	}
	if op == OpTask {
		in := o.Task
		in.AlertID = alertID
		t, err := s.Store.CreateTask(in, id.Actor())
		if err != nil {
			return s.failure(id, string(op), err)
		}
		a, err := s.Store.Get(alertID)
		if err != nil {
			return s.failure(id, string(op), err)
		}
		text := fmt.Sprintf("%s opened task `%s` for `%s`", id.Actor(), t.ID, alertID)
		if t.Assignee != "" {
			text += ", assigned to " + t.Assignee
		}
		if !t.Due.IsZero() {
			text += ", due " + t.Due.Format("2006-01-02")
		}
		return Reply{Text: text + ".", Alert: &a, Actors: []string{id.Actor(), t.Assignee}}
	}
	ch := workflows.Change{AlertID: alertID, Action: workflowAction[op], Actor: id.Actor(), Note: o.Note}
	if op == OpSuppress {
		d := o.SuppressFor
		if d <= 0 {
			d = 24 * time.Hour
		}
		ch.Until = s.now().Add(d)
	}
	a, err := s.Store.Apply(ch)
	if errors.Is(err, workflows.ErrInvalidTransition) {
		// A repeat (escalating past the last level, acknowledging twice)
		// or an impossible change: nothing is applied, the card is not
		// redrawn, and the attempt is in the audit log.
		note := buttons[op].Label + ": " + userError(err)
		if aerr := s.Store.Audit(workflows.AuditEntry{Actor: id.Actor(), AlertID: alertID, Action: "refused", Note: note}); aerr != nil {
			s.log().Error("audit refused change", "actor", id.Actor(), "alert", alertID, "err", aerr)
		}
	}
	if err != nil {
		return s.failure(id, string(op), err)
	}
	return Reply{Ephemeral: true, Text: fmt.Sprintf("`%s` is now %s.", a.ID, StatusLine(a)), Alert: &a, Actors: []string{a.LastActor}}
}

// FindingsText lists alerts one per line.
func FindingsText(alerts []workflows.Alert, since time.Duration) string {
	if len(alerts) == 0 {
		return fmt.Sprintf("No alerts in the last %s match.", formatDuration(since))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Alerts in the last %s (most severe first):\n", formatDuration(since))
	for _, a := range alerts {
		fmt.Fprintf(&b, "• `%s` %s %s: %s, %s", a.ID, strings.ToUpper(a.Severity.String()), a.State, a.Finding.Title, orDash(a.Finding.Principal.Name))
		if a.Count > 1 {
			fmt.Fprintf(&b, " (×%d)", a.Count)
		}
		fmt.Fprintf(&b, ", last %s\n", a.LastSeen.UTC().Format("01-02 15:04 UTC"))
	}
	return b.String()
}

// TasksText lists tasks one per line.
func TasksText(tasks []workflows.Task, scope string, now time.Time) string {
	if len(tasks) == 0 {
		if scope == "" {
			return "No tasks."
		}
		return "No " + scope + " tasks."
	}
	var b strings.Builder
	for _, t := range tasks {
		fmt.Fprintf(&b, "• `%s` %s: %s (alert `%s`)", t.ID, t.Status, t.Title, t.AlertID)
		if t.Assignee != "" {
			fmt.Fprintf(&b, ", %s", t.Assignee)
		}
		if !t.Due.IsZero() {
			fmt.Fprintf(&b, ", due %s", t.Due.Format("2006-01-02"))
			if t.Overdue(now) {
				b.WriteString(" OVERDUE")
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}

// assignees lists the tasks' assignees, for Reply.Actors.
func assignees(tasks []workflows.Task) []string {
	var out []string
	for _, t := range tasks {
		if t.Assignee != "" {
			out = append(out, t.Assignee)
		}
	}
	return out
}

// describeSilence names what a silence matches: "rule `x`, principal
// `alice`", or "alerts like `TH-12`".
func describeSilence(sl workflows.Silence, alertID string) string {
	var parts []string
	if alertID != "" {
		return "alerts like `" + alertID + "`"
	}
	if sl.RuleID != "" {
		parts = append(parts, "rule `"+sl.RuleID+"`")
	}
	if sl.Principal != "" {
		parts = append(parts, "principal `"+sl.Principal+"`")
	}
	if sl.Account != "" {
		parts = append(parts, "account `"+sl.Account+"`")
	}
	return strings.Join(parts, ", ")
}

// SilencesText lists active silences.
func SilencesText(sls []workflows.Silence) string {
	if len(sls) == 0 {
		return "No active silences."
	}
	var b strings.Builder
	for _, sl := range sls {
		what := sl.RuleID
		if what == "" {
			what = "alerts like " + sl.GroupKey
		}
		fmt.Fprintf(&b, "• `%s` %s until %s by %s: %s (%d muted)\n", sl.ID, what, sl.ExpiresAt.Format("2006-01-02 15:04 UTC"), sl.CreatedBy, orDash(sl.Reason), sl.Matched)
	}
	return b.String()
}

// SourcesText summarises source health.
func SourcesText(hs []sources.Health, now time.Time) string {
	if len(hs) == 0 {
		return "No source has been polled yet."
	}
	var b strings.Builder
	for _, h := range hs {
		status := "ok"
		if h.LastError != "" {
			status = "ERROR: " + truncate(h.LastError, 200)
			if h.Permanent {
				status += " (needs a fix, retrying will not help)"
			}
		}
		last := "never"
		if !h.LastSuccess.IsZero() {
			last = formatDuration(now.Sub(h.LastSuccess).Round(time.Second)) + " ago"
		}
		fmt.Fprintf(&b, "• `%s` %s, last success %s, %d events\n", h.Source, status, last, h.Events)
	}
	return b.String()
}

func formatDuration(d time.Duration) string {
	if d >= 48*time.Hour && d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	// "2h0m0s" -> "2h", "30m0s" -> "30m": drop only zero units.
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// Adapter is a chat platform's inbound side: interactions, slash commands
// and events. `trailhound run` starts every notifier that implements it.
type Adapter interface {
	// Start registers the adapter's HTTP endpoints on mux (when it has any)
	// and starts its other receivers (Slack Socket Mode, Discord gateway).
	// It returns when setup fails; receivers run until ctx ends.
	Start(ctx context.Context, svc *Service, mux *http.ServeMux) error
}
