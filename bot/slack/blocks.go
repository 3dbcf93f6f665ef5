package slack

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	slackapi "github.com/slack-go/slack"

	"github.com/trailhound/trailhound/bot"
	"github.com/trailhound/trailhound/detectors"
)

// Slack's Block Kit limits, in characters.
const (
	maxHeader      = 150
	maxSectionText = 3000
	maxFieldText   = 2000
	maxFields      = 10
	maxButtonText  = 75
	maxFallback    = 3000
	maxModalTitle  = 24
	maxNotes       = 2000
	maxReason      = 500
)

// Payload is a Slack message as Trailhound posts it: the fallback text
// shown in notifications, the blocks, and an attachment whose colour bar
// shows the severity.
type Payload struct {
	Text        string                `json:"text"`
	Blocks      []slackapi.Block      `json:"blocks,omitempty"`
	Attachments []slackapi.Attachment `json:"attachments,omitempty"`
}

// options returns the chat.postMessage or, with update, chat.update
// options of a payload.
func (p Payload) options(update bool) []slackapi.MsgOption {
	opts := []slackapi.MsgOption{slackapi.MsgOptionText(p.Text, false)}
	switch {
	case len(p.Blocks) > 0:
		opts = append(opts, slackapi.MsgOptionBlocks(p.Blocks...))
	case update:
		// chat.update keeps the old blocks unless told to clear them.
		opts = append(opts, slackapi.MsgOptionBlocks())
	}
	switch {
	case len(p.Attachments) > 0:
		opts = append(opts, slackapi.MsgOptionAttachments(p.Attachments...))
	case update:
		opts = append(opts, slackapi.MsgOptionAttachments([]slackapi.Attachment{}...))
	}
	return opts
}

// severityEmoji gives the severity a colour in the header too, where the
// attachment's colour bar is not shown (mobile previews, notifications).
var severityEmoji = map[detectors.Severity]string{
	detectors.Info:     ":white_circle:",
	detectors.Low:      ":large_green_circle:",
	detectors.Medium:   ":large_yellow_circle:",
	detectors.High:     ":large_orange_circle:",
	detectors.Critical: ":red_circle:",
}

// CardPayload renders an alert card. intro, when set, is shown above the
// card (an escalation note, mentions); rawEventURL is the link template of
// the raw event (bot.EventURL), "" for none.
func CardPayload(c bot.Card, intro, rawEventURL string) Payload {
	var top []slackapi.Block
	if intro != "" {
		top = append(top, section(intro))
	}
	top = append(top, slackapi.NewHeaderBlock(plain(truncate(severityEmoji[c.Severity]+" "+c.Title, maxHeader))))

	var body []slackapi.Block
	body = append(body, section(escape(c.Summary)))
	if c.Reason != "" {
		body = append(body, section("*Why it fired*\n"+escape(c.Reason)))
	}
	fields := make([]*slackapi.TextBlockObject, 0, len(c.Fields))
	for _, f := range c.Fields {
		fields = append(fields, mrkdwnText(truncate("*"+escape(f.Label)+"*\n"+escape(f.Value), maxFieldText)))
	}
	for len(fields) > 0 {
		n := min(len(fields), maxFields)
		body = append(body, slackapi.NewSectionBlock(nil, fields[:n], nil))
		fields = fields[n:]
	}
	if c.Description != "" {
		body = append(body, slackapi.NewContextBlock("", mrkdwnText(truncate(escape(c.Description), maxFieldText))))
	}
	if c.Recommendation != "" {
		body = append(body, section("*Recommendation*\n"+escape(c.Recommendation)))
	}
	if len(c.Tasks) > 0 {
		var b strings.Builder
		b.WriteString("*Remediation tasks*")
		for _, t := range c.Tasks {
			b.WriteString("\n• " + render(t, c.Actors))
		}
		body = append(body, section(b.String()))
	}
	status := []slackapi.MixedElement{mrkdwnText(truncate("*Status:* "+render(c.Status, c.Actors), maxFieldText))}
	if link := bot.EventURL(rawEventURL, c.Event); link != "" {
		status = append(status, mrkdwnText("<"+escape(link)+"|Raw event>"))
	}
	body = append(body, slackapi.NewContextBlock("", status...))
	if len(c.Buttons) > 0 {
		body = append(body, actions(c.AlertID, c.Buttons))
	}
	return Payload{
		Text:        truncate(escape(c.Title), maxFallback),
		Blocks:      top,
		Attachments: []slackapi.Attachment{{Color: fmt.Sprintf("#%06X", c.Colour), Fallback: truncate(escape(c.Title+": "+c.Summary), maxFallback), Blocks: slackapi.Blocks{BlockSet: body}}},
	}
}

// actions renders buttons acting on an alert.
func actions(alertID string, buttons []bot.Button) slackapi.Block {
	els := make([]slackapi.BlockElement, 0, len(buttons))
	for _, b := range buttons {
		btn := slackapi.NewButtonBlockElement(bot.ActionID(b.Op, alertID), alertID, plain(truncate(b.Label, maxButtonText)))
		btn.Style = slackapi.Style(b.Style)
		els = append(els, btn)
	}
	return slackapi.NewActionBlock("trailhound:actions:"+alertID, els...)
}

// MessagePayload renders what a notification shows. rawEventURL is the
// link template of raw events.
func MessagePayload(m bot.Message, rawEventURL string) Payload {
	intro := strings.TrimSpace(mentions(m.Mentions) + " " + render(m.Text, m.Actors))
	if m.Card != nil {
		return CardPayload(*m.Card, intro, rawEventURL)
	}
	p := Payload{Text: truncate(intro, maxFallback)}
	if len(m.Buttons) > 0 {
		p.Blocks = []slackapi.Block{section(intro), actions(m.AlertID, m.Buttons)}
	}
	return p
}

// ReplyPayload renders an answer to a command or action.
func ReplyPayload(r bot.Reply, rawEventURL string) Payload {
	text := render(r.Text, r.Actors)
	if r.Card != nil {
		return CardPayload(*r.Card, text, rawEventURL)
	}
	if text == "" {
		text = "Done."
	}
	return Payload{Text: truncate(text, maxFallback*10)}
}

// UsagePayload is the short answer to a mistyped command: what was wrong
// and the command's usage line.
func UsagePayload(err error) Payload {
	var u *bot.UsageError
	if !errors.As(err, &u) {
		return Payload{Text: escape(err.Error())}
	}
	return Payload{Text: escape(u.Msg) + ". Usage: `" + escape(u.Usage) + "`"}
}

// modalMeta travels in a modal's private_metadata: which alert the form is
// about and which message to redraw when it is submitted.
type modalMeta struct {
	AlertID string `json:"alert"`
	Channel string `json:"channel,omitempty"`
	TS      string `json:"ts,omitempty"`
}

// Modal callback ids.
const (
	callbackTask     = "trailhound:task"
	callbackSuppress = "trailhound:suppress"
)

// SuppressDurations are the choices of "Suppress similar", in order.
var SuppressDurations = []struct {
	Value string
	Label string
	D     time.Duration
}{
	{"1h", "1 hour", time.Hour},
	{"4h", "4 hours", 4 * time.Hour},
	{"24h", "24 hours", 24 * time.Hour},
	{"7d", "7 days", 7 * 24 * time.Hour},
	{"30d", "30 days", 30 * 24 * time.Hour},
}

// TaskModal is the "Open remediation task" form: assignee, due date and
// notes. today is the user's current date, for the default due date.
func TaskModal(title string, meta modalMeta, today time.Time) slackapi.ModalViewRequest {
	assignee := slackapi.NewOptionsSelectBlockElement(slackapi.OptTypeUser, plain("Choose a person"), "assignee")
	due := slackapi.NewDatePickerBlockElement("due")
	due.InitialDate = today.AddDate(0, 0, 7).Format(time.DateOnly)
	notes := slackapi.NewPlainTextInputBlockElement(plain("What needs doing, links, context"), "notes")
	notes.Multiline, notes.MaxLength = true, maxNotes
	blocks := []slackapi.Block{
		section("Open a remediation task for `" + escape(meta.AlertID) + "` " + escape(title) + "."),
		input("assignee", "Assignee", assignee),
		input("due", "Due date", due),
		input("notes", "Notes", notes),
	}
	return modal(callbackTask, "Remediation task", "Open task", meta, blocks)
}

// SuppressModal asks how long to suppress alerts similar to one.
func SuppressModal(title string, meta modalMeta) slackapi.ModalViewRequest {
	var opts []*slackapi.OptionBlockObject
	var initial *slackapi.OptionBlockObject
	for _, d := range SuppressDurations {
		o := slackapi.NewOptionBlockObject(d.Value, plain(d.Label), nil)
		opts = append(opts, o)
		if d.Value == "24h" {
			initial = o
		}
	}
	duration := slackapi.NewOptionsSelectBlockElement(slackapi.OptTypeStatic, plain("How long"), "duration", opts...)
	duration.InitialOption = initial
	reason := slackapi.NewPlainTextInputBlockElement(plain("Why these alerts can wait"), "reason")
	reason.MaxLength = maxReason
	blocks := []slackapi.Block{
		section("Suppress alerts similar to `" + escape(meta.AlertID) + "` " + escape(title) + ". They are still stored, but not posted, until the time is up."),
		&slackapi.InputBlock{Type: slackapi.MBTInput, BlockID: "duration", Label: plain("Duration"), Element: duration},
		input("reason", "Reason", reason),
	}
	return modal(callbackSuppress, "Suppress similar", "Suppress", meta, blocks)
}

func modal(callbackID, title, submit string, meta modalMeta, blocks []slackapi.Block) slackapi.ModalViewRequest {
	b, _ := json.Marshal(meta) // a struct of strings always marshals
	return slackapi.ModalViewRequest{
		Type:            slackapi.VTModal,
		Title:           plain(truncate(title, maxModalTitle)),
		Submit:          plain(submit),
		Close:           plain("Cancel"),
		CallbackID:      callbackID,
		PrivateMetadata: string(b),
		Blocks:          slackapi.Blocks{BlockSet: blocks},
	}
}

// input is an optional input block.
func input(id, label string, el slackapi.BlockElement) *slackapi.InputBlock {
	return &slackapi.InputBlock{Type: slackapi.MBTInput, BlockID: id, Label: plain(label), Element: el, Optional: true}
}

func plain(s string) *slackapi.TextBlockObject {
	return slackapi.NewTextBlockObject(slackapi.PlainTextType, s, true, false)
}

func section(text string) *slackapi.SectionBlock {
	return slackapi.NewSectionBlock(mrkdwnText(truncate(text, maxSectionText)), nil, nil)
}

// mrkdwnText is a mrkdwn text object marked verbatim: Slack then turns
// nothing into a link or mention but what the text spells out (<@U123>,
// <url|label>), and the text was escaped before.
func mrkdwnText(text string) *slackapi.TextBlockObject {
	return slackapi.NewTextBlockObject(slackapi.MarkdownType, text, false, true)
}

// escape makes text safe in Slack mrkdwn: &, < and > would otherwise
// start links and mentions such as <!channel> or <@U123>, and a bare
// @channel, @here or @everyone gets an invisible word joiner after its @.
// Every text from users and log events goes through it.
func escape(s string) string {
	s = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
	return broadcastRe.ReplaceAllString(s, "@\u2060$1")
}

var (
	broadcastRe = regexp.MustCompile(`(?i)@(here|channel|everyone)\b`)
	actorRe     = regexp.MustCompile(`\bslack:([UW][A-Z0-9]{2,20})\b`)
)

// render escapes core text for Slack and shows the identities in actors
// (Reply.Actors, Card.Actors: "slack:U123") as mentions. Nothing else
// becomes a mention or a link: a user name "<@U0BOSS>" or
// "slack:U0BOSS" in a log event stays text.
func render(s string, actors []string) string {
	s = escape(s)
	if len(actors) == 0 {
		return s
	}
	return actorRe.ReplaceAllStringFunc(s, func(m string) string {
		for _, a := range actors {
			if a == m {
				return "<@" + strings.TrimPrefix(m, Name+":") + ">"
			}
		}
		return m
	})
}

var mentionIDRe = regexp.MustCompile(`^[UWS][A-Z0-9]{2,20}$`)

// mentions renders platform ids as mentions: users as <@U..>, user groups
// as <!subteam^S..>, and "here"/"channel" as broadcasts. Anything else is
// dropped: routing config is not a place for free text.
func mentions(ids []string) string {
	var out []string
	for _, id := range ids {
		switch {
		case id == "here" || id == "channel":
			out = append(out, "<!"+id+">")
		case !mentionIDRe.MatchString(id):
		case id[0] == 'S':
			out = append(out, "<!subteam^"+id+">")
		default:
			out = append(out, "<@"+id+">")
		}
	}
	return strings.Join(out, " ")
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
