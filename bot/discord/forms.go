package discord

import (
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/bwmarrin/discordgo"

	"github.com/trailhound/trailhound/bot"
	"github.com/trailhound/trailhound/workflows"
)

// Bounds of the modal forms.
const (
	maxTaskNotes  = 1000
	maxReason     = 500
	minSuppress   = time.Hour
	maxSuppress   = 30 * 24 * time.Hour
	maxDueAhead   = 366 * 24 * time.Hour
	dueDateLayout = "2006-01-02"
)

// formError is a problem with what a user typed in a modal, said so they
// can fix it.
type formError struct{ msg string }

func (e *formError) Error() string { return e.msg }

func badForm(format string, a ...any) error { return &formError{fmt.Sprintf(format, a...)} }

// modalValues collects a modal submission's text inputs by custom_id.
func modalValues(d discordgo.ModalSubmitInteractionData) map[string]string {
	out := map[string]string{}
	var walk func(cs []discordgo.MessageComponent)
	walk = func(cs []discordgo.MessageComponent) {
		for _, c := range cs {
			switch v := c.(type) {
			case *discordgo.ActionsRow:
				walk(v.Components)
			case discordgo.ActionsRow:
				walk(v.Components)
			case *discordgo.TextInput:
				out[v.CustomID] = v.Value
			case discordgo.TextInput:
				out[v.CustomID] = v.Value
			}
		}
	}
	walk(d.Components)
	return out
}

// parseTaskForm checks the remediation task form. An empty assignee (or
// "me") assigns the submitter; others are given as a user id or mention
// and stored as "discord:ID" so `/trailhound tasks mine` finds them. The
// due date is a day, not in the past, at most a year ahead; the task is
// due at the end of that day (UTC).
func parseTaskForm(v map[string]string, who bot.Identity, now time.Time) (workflows.TaskInput, error) {
	var in workflows.TaskInput
	a := strings.TrimSpace(v[fieldAssignee])
	switch {
	case a == "" || strings.EqualFold(a, "me"):
		in.Assignee = who.Actor()
	default:
		id := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(strings.TrimPrefix(a, "<@"), "!"), "@"), ">")
		if !isSnowflake(id) {
			return in, badForm("the assignee %q is not a Discord user. Give a user id (Developer Mode, right-click the user, Copy User ID) or a mention like <@123456789012345678>, or leave it empty to take the task yourself.", short(a))
		}
		in.Assignee = "discord:" + id
	}
	if d := strings.TrimSpace(v[fieldDue]); d != "" {
		day, err := time.Parse(dueDateLayout, d)
		if err != nil {
			return in, badForm("the due date %q is not a date like %s.", short(d), now.AddDate(0, 0, 7).Format(dueDateLayout))
		}
		today := now.UTC().Truncate(24 * time.Hour)
		if day.Before(today) {
			return in, badForm("the due date %s is in the past.", d)
		}
		if day.Sub(today) > maxDueAhead {
			return in, badForm("the due date %s is more than a year away.", d)
		}
		in.Due = day.Add(24*time.Hour - time.Second)
	}
	notes, err := cleanText(v[fieldNotes], maxTaskNotes, "notes")
	if err != nil {
		return in, err
	}
	in.Notes = notes
	return in, nil
}

// parseSuppressForm checks the suppress form: a duration from 1h to 30d
// and an optional reason.
func parseSuppressForm(v map[string]string) (time.Duration, string, error) {
	s := strings.TrimSpace(v[fieldDuration])
	d, err := bot.ParseDuration(s)
	if err != nil || d < minSuppress || d > maxSuppress {
		return 0, "", badForm("suppress for between 1h and 30d, e.g. 4h or 7d (you gave %q).", short(s))
	}
	reason, err := cleanText(v[fieldReason], maxReason, "reason")
	return d, reason, err
}

// cleanText trims free text and refuses control characters and overlong
// input (Discord enforces the length too, but a forged request might not).
func cleanText(s string, limit int, what string) (string, error) {
	s = strings.TrimSpace(s)
	if len([]rune(s)) > limit {
		return "", badForm("the %s field is longer than %d characters.", what, limit)
	}
	for _, r := range s {
		if unicode.IsControl(r) && r != '\n' && r != '\t' {
			return "", badForm("the %s field contains control characters.", what)
		}
	}
	return s, nil
}
