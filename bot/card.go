// Package bot is the platform-neutral core of the chat bot: what an alert
// card says and which actions it offers. bot/slack, bot/discord and
// bot/terminal only translate it.
package bot

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/trailhound/trailhound/detectors"
	"github.com/trailhound/trailhound/workflows"
)

// Field is one labelled line of a card.
type Field struct {
	Label string
	Value string
}

// Card is what every platform shows for an alert.
type Card struct {
	AlertID  string
	Severity detectors.Severity
	// Colour is the severity colour as 0xRRGGBB.
	Colour int
	// Title is "[HIGH] Root user activity".
	Title string
	// Summary says who did what where and when, in one sentence.
	Summary string
	Fields  []Field
	// Reason says why the rule fired.
	Reason         string
	Description    string
	Recommendation string
	// Status is the alert's state and who changed it last.
	Status string
	// Count is how many similar findings the alert groups.
	Count int
	// Buttons are the actions to offer, in order.
	Buttons []Button
	// Tasks summarise the alert's remediation tasks, one line each.
	Tasks []string
	// Event locates the raw event behind the alert, for adapters that link
	// to it with EventURL.
	Event EventRef
	// Actors are the chat identities that Status and Tasks name on
	// purpose (who changed the alert last, the tasks' assignees); see
	// Reply.Actors. Every other text comes from log events or users and is
	// shown literally.
	Actors []string
}

// EventRef locates a raw event in the cloud console.
type EventRef struct {
	Source  string
	Account string
	Region  string
	ID      string
}

// EventURL expands a link template with the event's {account}, {region},
// {event_id} and {source}. The values come from log events, so each must
// be a plain token (letters, digits, '.', '_', ':', '-'); EventURL returns
// "" when one is missing or is not, so no broken or redirected link is
// shown.
func EventURL(template string, r EventRef) string {
	if template == "" {
		return ""
	}
	bad := false
	out := eventURLRe.ReplaceAllStringFunc(template, func(m string) string {
		v := map[string]string{"{account}": r.Account, "{region}": r.Region, "{event_id}": r.ID, "{source}": r.Source}[m]
		if !eventTokenRe.MatchString(v) {
			bad = true
		}
		return url.PathEscape(v)
	})
	if bad {
		return ""
	}
	return out
}

// EventURLPlaceholders are the names EventURL expands.
var EventURLPlaceholders = []string{"{account}", "{region}", "{event_id}", "{source}"}

var (
	eventURLRe   = regexp.MustCompile(`\{(account|region|event_id|source)\}`)
	eventTokenRe = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)
)

// SeverityColour maps severities to colours.
var SeverityColour = map[detectors.Severity]int{
	detectors.Info:     0x8E8E8E,
	detectors.Low:      0x2EB886,
	detectors.Medium:   0xDAA038,
	detectors.High:     0xE8612C,
	detectors.Critical: 0xA30200,
}

// CardFor builds the card of an alert.
func CardFor(a workflows.Alert) Card {
	f := a.Finding
	c := Card{
		AlertID:        a.ID,
		Severity:       a.Severity,
		Colour:         SeverityColour[a.Severity],
		Title:          fmt.Sprintf("[%s] %s", strings.ToUpper(a.Severity.String()), f.Title),
		Reason:         f.Reason,
		Description:    f.Description,
		Recommendation: f.Recommendation,
		Count:          a.Count,
	}
	add := func(label, value string) {
		if value != "" {
			c.Fields = append(c.Fields, Field{label, value})
		}
	}
	// A finding about no event in particular (a log source gone silent)
	// has no caller or action to name: its card says what was checked.
	nonEvent := f.Action == "" && f.Principal.Name == "" && f.Principal.ARN == "" && f.External == nil
	if x := f.External; x != nil && f.Action == "" {
		// An AWS security finding about a resource, not a call.
		c.Summary = fmt.Sprintf("%s in account %s (%s), last seen %s", strings.TrimSuffix(f.Reason, "."), orDash(f.Account), orDash(f.Region), f.Time.UTC().Format("2006-01-02 15:04:05 UTC"))
	} else if nonEvent {
		scope := []string{}
		for _, kv := range [][2]string{{"source", f.Source}, {"account", f.Account}, {"region", f.Region}} {
			if kv[1] != "" {
				scope = append(scope, kv[0]+" "+kv[1])
			}
		}
		where := "all sources"
		if len(scope) > 0 {
			where = strings.Join(scope, ", ")
		}
		c.Summary = fmt.Sprintf("Checked %s at %s", where, f.Time.UTC().Format("2006-01-02 15:04:05 UTC"))
	} else {
		who := f.Principal.Name
		if who == "" {
			who = "an unknown principal"
		}
		c.Summary = fmt.Sprintf("%s called %s in account %s (%s) at %s", who, orDash(f.Action), orDash(f.Account), orDash(f.Region), f.Time.UTC().Format("2006-01-02 15:04:05 UTC"))
	}
	add("Alert", a.ID)
	add("Rule", f.RuleID)
	add("Principal", firstNonEmpty(f.Principal.ARN, f.Principal.Name))
	if f.Action != "" {
		add("Action", strings.TrimSuffix(f.Service, ".amazonaws.com")+":"+f.Action)
	}
	if nonEvent {
		add("Source", f.Source)
	}
	add("Account", f.Account)
	add("Region", f.Region)
	add("Source IP", f.SourceIP)
	add("User agent", truncate(f.UserAgent, 120))
	add("Error", f.ErrorCode)
	add("ATT&CK", f.Technique)
	add("AWS console", consoleURL(a))
	if !nonEvent || f.EventCount > 0 {
		add("Events", fmt.Sprint(max(f.EventCount, 1)))
	}
	if a.Count > 1 {
		add("Similar findings", fmt.Sprintf("%d (last %s)", a.Count, a.LastSeen.UTC().Format(time.RFC3339)))
	}
	if len(f.EventIDs) > 0 {
		add("Event ID", f.EventIDs[0])
	}
	c.Status = StatusLine(a)
	if a.LastActor != "" {
		c.Actors = []string{a.LastActor}
	}
	c.Buttons = ButtonsFor(a)
	c.Event = EventRef{Source: f.Source, Account: f.Account, Region: f.Region}
	if len(f.EventIDs) > 0 {
		c.Event.ID = f.EventIDs[0]
	}
	return c
}

// consoleURL links the AWS security finding an alert shows in the AWS
// console: its own finding's, else the latest one folded into it; "" for
// an alert of Trailhound's own findings alone.
func consoleURL(a workflows.Alert) string {
	if x := a.Finding.External; x != nil && x.ConsoleURL != "" {
		return x.ConsoleURL
	}
	for i := len(a.External) - 1; i >= 0; i-- {
		if a.External[i].ConsoleURL != "" {
			return a.External[i].ConsoleURL
		}
	}
	return ""
}

// WithTasks adds one summary line per task to the card.
func (c Card) WithTasks(tasks []workflows.Task, now time.Time) Card {
	c.Tasks = nil
	c.Actors = append([]string(nil), c.Actors...)
	for _, t := range tasks {
		if t.Assignee != "" {
			c.Actors = append(c.Actors, t.Assignee)
		}
		line := fmt.Sprintf("%s %s: %s", t.ID, t.Status, t.Title)
		if t.Assignee != "" {
			line += ", assigned to " + t.Assignee
		}
		if !t.Due.IsZero() {
			line += ", due " + t.Due.Format("2006-01-02")
			if t.Overdue(now) {
				line += " (overdue)"
			}
		}
		c.Tasks = append(c.Tasks, line)
	}
	return c
}

// StatusLine describes an alert's state and last change.
func StatusLine(a workflows.Alert) string {
	s := string(a.State)
	switch {
	case a.State == workflows.StateResolved && a.Resolution == "false_positive":
		s = "resolved as false positive"
	case a.State == workflows.StateSuppressed && !a.SuppressedUntil.IsZero():
		s = "suppressed until " + a.SuppressedUntil.UTC().Format("2006-01-02 15:04 UTC")
	case a.State == workflows.StateEscalated && a.EscalationLevel > 0:
		s = fmt.Sprintf("escalated (level %d)", a.EscalationLevel)
	}
	if a.LastActor != "" {
		s += " by " + a.LastActor
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
