package bot

import (
	"fmt"

	"github.com/trailhound/trailhound/workflows"
)

// Message is what a notifier shows for one notification, before platform
// rendering: an alert card, or text with optional buttons and attachment.
type Message struct {
	// Card is set for alert posts and redraws.
	Card *Card
	// Text is a plain message (thread replies, reminders, digests).
	Text string
	// Buttons are offered under Text (e.g. "was this you?").
	Buttons []Button
	// AlertID is the alert the buttons act on.
	AlertID string
	// Mentions are ids to mention at the top.
	Mentions []string
	// Actors are the chat identities Text names on purpose (see
	// Reply.Actors); notifications name none: their text quotes log
	// events and users, and is shown literally.
	Actors []string
	// Attachment is an optional file.
	Attachment *workflows.Attachment
	// InThread posts the message as a reply in the alert's thread.
	InThread bool
	// Replace edits the alert's existing message instead of posting.
	Replace bool
}

// MessageFor maps a notification to what a chat platform should show.
// Adapters render the result; they never decide content themselves.
func MessageFor(n workflows.Notification) Message {
	m := Message{AlertID: n.Alert.ID, Mentions: n.Mentions, Attachment: n.Attachment}
	switch n.Kind {
	case workflows.NotifyEscalate:
		if n.Ref.MessageID == "" {
			c := CardFor(n.Alert)
			m.Card = &c
		} else {
			// The alert has as many cards as it may: the escalation is a
			// reply in the thread of one of them.
			m.InThread = true
		}
		m.Text = fmt.Sprintf("Escalated: `%s` is not acknowledged yet (level %d).", n.Alert.ID, n.Alert.EscalationLevel)
		if n.Text != "" {
			m.Text = n.Text
		}
	case workflows.NotifyNew:
		c := CardFor(n.Alert)
		m.Card = &c
	case workflows.NotifyUpdate:
		c := CardFor(n.Alert)
		m.Card = &c
		m.Replace = true
	case workflows.NotifyRepeat:
		more := n.Alert.Count - 1
		m.Text = fmt.Sprintf("%d more like this (latest at %s).", more, n.Alert.LastSeen.UTC().Format("2006-01-02 15:04:05 UTC"))
		if n.Text != "" {
			// A note about the alert's findings, such as an AWS finding's update.
			m.Text = n.Text
		}
		m.InThread = true
	case workflows.NotifyAskActor:
		m.Text = n.Text
		m.Buttons = AskActorButtons()
	case workflows.NotifyReminder, workflows.NotifyDigest:
		m.Text = n.Text
	default:
		m.Text = n.Text
	}
	return m
}
