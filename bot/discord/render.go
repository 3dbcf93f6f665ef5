package discord

import (
	"bytes"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/bwmarrin/discordgo"

	"github.com/trailhound/trailhound/bot"
)

// Discord's documented size limits.
const (
	maxContent        = 2000
	maxEmbedTitle     = 256
	maxEmbedDesc      = 4096
	maxFieldName      = 256
	maxFieldValue     = 1024
	maxFields         = 25
	maxEmbedTotal     = 6000
	maxButtonsPerRow  = 5
	maxRows           = 5
	maxButtonLabel    = 80
	maxModalTitle     = 45
	inlineFieldLength = 32
)

// ephemeral is the message flag that shows a reply only to the user who
// asked.
const ephemeral = discordgo.MessageFlagsEphemeral

// renderer turns the neutral messages of package bot into Discord
// payloads. Its methods are pure: same input, same payload.
type renderer struct {
	// rawEventURL is the link template for the raw event; "" for none.
	rawEventURL string
}

// link returns the card's raw-event link, or "".
func (r renderer) link(c bot.Card) string { return bot.EventURL(r.rawEventURL, c.Event) }

// embed renders a card: severity colour, title (with the severity word)
// linking to the raw event, who did what where and when, why it fired,
// the labelled fields, the recommendation, tasks and the status with who
// changed it. Text that comes from log events is escaped so it cannot
// inject links, mentions or formatting.
func (r renderer) embed(c bot.Card) *discordgo.MessageEmbed {
	e := &discordgo.MessageEmbed{
		Type: discordgo.EmbedTypeRich,
		// Titles render no links or mentions, and escapes would show.
		Title:  clip(c.Title, maxEmbedTitle),
		URL:    r.link(c),
		Color:  c.Colour,
		Footer: &discordgo.MessageEmbedFooter{Text: cardMarker(c.AlertID)},
	}
	var desc strings.Builder
	desc.WriteString(escape(c.Summary))
	if c.Reason != "" {
		desc.WriteString("\n\n**Why it fired:** " + escape(c.Reason))
	}
	if c.Description != "" {
		desc.WriteString("\n" + renderText(c.Description, nil))
	}
	e.Description = clip(desc.String(), maxEmbedDesc)
	add := func(name, value string, inline bool) {
		if value == "" || len(e.Fields) >= maxFields {
			return
		}
		e.Fields = append(e.Fields, &discordgo.MessageEmbedField{Name: clip(name, maxFieldName), Value: clip(value, maxFieldValue), Inline: inline})
	}
	// The status is the core's words and an actor id, not log data; only
	// the card's actors become mentions.
	add("Status", mentionActors(escape(c.Status), c.Actors), false)
	for _, f := range c.Fields {
		v := escape(f.Value)
		add(f.Label, v, utf8.RuneCountInString(v) <= inlineFieldLength)
	}
	add("Recommendation", renderText(c.Recommendation, nil), false)
	if len(c.Tasks) > 0 {
		lines := make([]string, len(c.Tasks))
		for i, t := range c.Tasks {
			lines[i] = "• " + mentionActors(escape(t), c.Actors)
		}
		add("Remediation tasks", strings.Join(lines, "\n"), false)
	}
	fitEmbed(e)
	return e
}

// fitEmbed keeps an embed within Discord's 6000-character total by
// shortening the description, then dropping trailing fields.
func fitEmbed(e *discordgo.MessageEmbed) {
	total := func() int {
		n := utf8.RuneCountInString(e.Title) + utf8.RuneCountInString(e.Description) + utf8.RuneCountInString(e.Footer.Text)
		for _, f := range e.Fields {
			n += utf8.RuneCountInString(f.Name) + utf8.RuneCountInString(f.Value)
		}
		return n
	}
	if over := total() - maxEmbedTotal; over > 0 {
		keep := max(utf8.RuneCountInString(e.Description)-over, 200)
		e.Description = clip(e.Description, keep)
	}
	for total() > maxEmbedTotal && len(e.Fields) > 1 {
		e.Fields = e.Fields[:len(e.Fields)-1]
	}
}

var buttonStyles = map[string]discordgo.ButtonStyle{
	"primary": discordgo.PrimaryButton,
	"danger":  discordgo.DangerButton,
	"":        discordgo.SecondaryButton,
}

// components renders a card's buttons as action rows of at most five,
// each button's custom_id made by bot.ActionID, plus a link button to the
// raw event when there is one.
func (r renderer) components(buttons []bot.Button, alertID, link string) []discordgo.MessageComponent {
	var all []discordgo.MessageComponent
	for _, b := range buttons {
		style, ok := buttonStyles[b.Style]
		if !ok {
			style = discordgo.SecondaryButton
		}
		all = append(all, discordgo.Button{Label: clip(b.Label, maxButtonLabel), Style: style, CustomID: bot.ActionID(b.Op, alertID)})
	}
	if link != "" {
		all = append(all, discordgo.Button{Label: "Raw event", Style: discordgo.LinkButton, URL: link})
	}
	var rows []discordgo.MessageComponent
	for len(all) > 0 && len(rows) < maxRows {
		n := min(len(all), maxButtonsPerRow)
		rows = append(rows, discordgo.ActionsRow{Components: all[:n]})
		all = all[n:]
	}
	return rows
}

// messageSend renders a neutral message as a new Discord message. Nothing
// in it pings anyone but the mentions the notification asked for.
func (r renderer) messageSend(m bot.Message) *discordgo.MessageSend {
	prefix, allowed := mentions(m.Mentions)
	ms := &discordgo.MessageSend{AllowedMentions: allowed}
	text := strings.TrimSpace(strings.Join(nonEmpty(prefix, renderText(m.Text, m.Actors)), " "))
	switch {
	case m.Card != nil:
		ms.Content = clip(text, maxContent)
		ms.Embeds = []*discordgo.MessageEmbed{r.embed(*m.Card)}
		ms.Components = r.components(m.Card.Buttons, m.Card.AlertID, r.link(*m.Card))
	default:
		var cut bool
		ms.Content, ms.Embeds, cut = fitText(text, "… (cut here: the whole text is attached)")
		if cut {
			ms.Files = append(ms.Files, &discordgo.File{Name: "message.txt", ContentType: "text/plain; charset=utf-8", Reader: strings.NewReader(m.Text)})
		}
		if len(m.Buttons) > 0 && m.AlertID != "" {
			ms.Components = r.components(m.Buttons, m.AlertID, "")
		}
	}
	if a := m.Attachment; a != nil {
		ms.Files = []*discordgo.File{{Name: a.Name, ContentType: a.ContentType, Reader: bytes.NewReader(a.Data)}}
	}
	return ms
}

// cardEdit renders the redraw of an alert's message: the embed and the
// buttons change, the text and mentions above them stay.
func (r renderer) cardEdit(c bot.Card, channelID, messageID string) *discordgo.MessageEdit {
	embeds := []*discordgo.MessageEmbed{r.embed(c)}
	comps := r.components(c.Buttons, c.AlertID, r.link(c))
	if comps == nil {
		comps = []discordgo.MessageComponent{}
	}
	return &discordgo.MessageEdit{Channel: channelID, ID: messageID, Embeds: &embeds, Components: &comps, AllowedMentions: noMentions()}
}

// replyParts renders a reply to a command or action.
func (r renderer) replyParts(rep bot.Reply) (string, []*discordgo.MessageEmbed, []discordgo.MessageComponent) {
	content, embeds, _ := fitText(renderText(rep.Text, rep.Actors), "… (cut here: narrow the query to see the rest)")
	var comps []discordgo.MessageComponent
	if rep.Card != nil {
		embeds = append(embeds, r.embed(*rep.Card))
		comps = r.components(rep.Card.Buttons, rep.Card.AlertID, r.link(*rep.Card))
	}
	if content == "" && len(embeds) == 0 {
		content = "Done."
	}
	return content, embeds, comps
}

// replyAllowed lets a reply ping exactly the actors it names (who acted,
// an assignee told of a new task): never anyone a quoted text names,
// roles or everyone.
func replyAllowed(rep bot.Reply) *discordgo.MessageAllowedMentions {
	allowed := noMentions()
	for _, a := range rep.Actors {
		if id, ok := strings.CutPrefix(a, Name+":"); ok && isSnowflake(id) && !slices.Contains(allowed.Users, id) {
			allowed.Users = append(allowed.Users, id)
		}
	}
	return allowed
}

// noMentions allows no mention to ping: for messages that intend none.
func noMentions() *discordgo.MessageAllowedMentions {
	return &discordgo.MessageAllowedMentions{Parse: []discordgo.AllowedMentionType{}}
}

// replyEdit renders a reply as the edit of a deferred response.
func (r renderer) replyEdit(rep bot.Reply) *discordgo.WebhookEdit {
	content, embeds, comps := r.replyParts(rep)
	if embeds == nil {
		embeds = []*discordgo.MessageEmbed{}
	}
	if comps == nil {
		comps = []discordgo.MessageComponent{}
	}
	return &discordgo.WebhookEdit{Content: &content, Embeds: &embeds, Components: &comps, AllowedMentions: replyAllowed(rep)}
}

// replyFollowup renders a reply as a follow-up message.
func (r renderer) replyFollowup(rep bot.Reply, eph bool) *discordgo.WebhookParams {
	content, embeds, comps := r.replyParts(rep)
	p := &discordgo.WebhookParams{Content: content, Embeds: embeds, Components: comps, AllowedMentions: replyAllowed(rep)}
	if eph {
		p.Flags = ephemeral
	}
	return p
}

// fitText puts text in a message's content, or in an embed when it is
// longer than a message allows; text longer than an embed is cut at a line
// with the note more, and cut is set.
func fitText(text, more string) (content string, embeds []*discordgo.MessageEmbed, cut bool) {
	if utf8.RuneCountInString(text) <= maxContent {
		return text, nil, false
	}
	desc := clipLines(text, maxEmbedDesc, more)
	return "", []*discordgo.MessageEmbed{{Type: discordgo.EmbedTypeRich, Description: desc}}, desc != text
}

// Form field ids in the modals.
const (
	fieldAssignee = "assignee"
	fieldDue      = "due"
	fieldNotes    = "notes"
	fieldDuration = "duration"
	fieldReason   = "reason"
)

// taskModal asks for a remediation task's assignee, due date and notes.
// Its custom_id is the button's, so the submission names the alert.
func taskModal(alertID string) *discordgo.InteractionResponse {
	return &discordgo.InteractionResponse{
		Type: discordgo.InteractionResponseModal,
		Data: &discordgo.InteractionResponseData{
			CustomID: bot.ActionID(bot.OpTask, alertID),
			Title:    clip("Remediation task for "+alertID, maxModalTitle),
			Components: []discordgo.MessageComponent{
				discordgo.ActionsRow{Components: []discordgo.MessageComponent{discordgo.TextInput{
					CustomID: fieldAssignee, Label: "Assignee (empty: you)", Style: discordgo.TextInputShort,
					Placeholder: "User ID or <@mention>, e.g. 123456789012345678", MaxLength: 40,
				}}},
				discordgo.ActionsRow{Components: []discordgo.MessageComponent{discordgo.TextInput{
					CustomID: fieldDue, Label: "Due date (YYYY-MM-DD, UTC)", Style: discordgo.TextInputShort,
					Placeholder: "2026-12-31", MaxLength: 10,
				}}},
				discordgo.ActionsRow{Components: []discordgo.MessageComponent{discordgo.TextInput{
					CustomID: fieldNotes, Label: "Notes", Style: discordgo.TextInputParagraph,
					Placeholder: "What to change, where, and how to check it is done", MaxLength: maxTaskNotes,
				}}},
			},
		},
	}
}

// suppressModal asks how long to suppress similar alerts, and why.
func suppressModal(alertID string) *discordgo.InteractionResponse {
	return &discordgo.InteractionResponse{
		Type: discordgo.InteractionResponseModal,
		Data: &discordgo.InteractionResponseData{
			CustomID: bot.ActionID(bot.OpSuppress, alertID),
			Title:    clip("Suppress alerts like "+alertID, maxModalTitle),
			Components: []discordgo.MessageComponent{
				discordgo.ActionsRow{Components: []discordgo.MessageComponent{discordgo.TextInput{
					CustomID: fieldDuration, Label: "For how long (1h to 30d)", Style: discordgo.TextInputShort,
					Placeholder: "e.g. 4h, 2d or 7d", Value: "24h", Required: true, MinLength: 2, MaxLength: 8,
				}}},
				discordgo.ActionsRow{Components: []discordgo.MessageComponent{discordgo.TextInput{
					CustomID: fieldReason, Label: "Why", Style: discordgo.TextInputParagraph,
					Placeholder: "e.g. planned maintenance by the platform team", MaxLength: maxReason,
				}}},
			},
		},
	}
}

// mentions turns notification mention ids into a content prefix and the
// allowed-mentions list that pings exactly them. Accepted forms: a user id
// or "discord:ID" or "<@ID>"; a role as "role:ID", "&ID" or "<@&ID>";
// "@here" and "@everyone". Ids of other platforms are ignored.
func mentions(ids []string) (string, *discordgo.MessageAllowedMentions) {
	allowed := &discordgo.MessageAllowedMentions{Parse: []discordgo.AllowedMentionType{}}
	var parts []string
	seen := map[string]bool{}
	for _, raw := range ids {
		s := strings.TrimSpace(raw)
		s = strings.TrimPrefix(s, "discord:")
		var text string
		switch {
		case s == "@here" || s == "here" || s == "@everyone" || s == "everyone":
			text = "@" + strings.TrimPrefix(s, "@")
			if !seen["everyone"] {
				allowed.Parse = append(allowed.Parse, discordgo.AllowedMentionTypeEveryone)
			}
			seen["everyone"] = true
		case strings.HasPrefix(s, "<@&") && strings.HasSuffix(s, ">") && isSnowflake(s[3:len(s)-1]):
			text = s
			allowed.Roles = append(allowed.Roles, s[3:len(s)-1])
		case strings.HasPrefix(s, "role:") && isSnowflake(s[5:]):
			text = "<@&" + s[5:] + ">"
			allowed.Roles = append(allowed.Roles, s[5:])
		case strings.HasPrefix(s, "&") && isSnowflake(s[1:]):
			text = "<@&" + s[1:] + ">"
			allowed.Roles = append(allowed.Roles, s[1:])
		case strings.HasPrefix(s, "<@!") && strings.HasSuffix(s, ">") && isSnowflake(s[3:len(s)-1]):
			text = "<@" + s[3:len(s)-1] + ">"
			allowed.Users = append(allowed.Users, s[3:len(s)-1])
		case strings.HasPrefix(s, "<@") && strings.HasSuffix(s, ">") && isSnowflake(s[2:len(s)-1]):
			text = s
			allowed.Users = append(allowed.Users, s[2:len(s)-1])
		case isSnowflake(s):
			text = "<@" + s + ">"
			allowed.Users = append(allowed.Users, s)
		default:
			continue
		}
		if !seen[text] {
			seen[text] = true
			parts = append(parts, text)
		}
	}
	return strings.Join(parts, " "), allowed
}

var (
	actorRe     = regexp.MustCompile(`\bdiscord:([0-9]{17,20})\b`)
	broadcastRe = regexp.MustCompile(`(?i)@(everyone|here)\b`)
)

// mentionActors shows the identities in actors ("discord:123...") as
// mentions, and no other.
func mentionActors(s string, actors []string) string {
	if len(actors) == 0 {
		return s
	}
	return actorRe.ReplaceAllStringFunc(s, func(m string) string {
		if slices.Contains(actors, m) {
			return "<@" + strings.TrimPrefix(m, Name+":") + ">"
		}
		return m
	})
}

// mdEscaper neutralises Discord markdown, masked links and mentions in
// text that comes from log events.
var mdEscaper = strings.NewReplacer(
	`\`, `\\`, "*", `\*`, "_", `\_`, "~", `\~`, "`", "\\`", "|", `\|`,
	"[", `\[`, "]", `\]`, "(", `\(`, ")", `\)`, "<", `\<`, ">", `\>`, "#", `\#`,
)

// escape makes untrusted text render literally: no markdown, masked link,
// mention, heading or list, and @everyone or @here get a zero-width space
// after their @.
func escape(s string) string {
	s = broadcastRe.ReplaceAllString(mdEscaper.Replace(s), "@\u200b$1")
	if !strings.ContainsAny(s, "-+") {
		return s
	}
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		t := strings.TrimLeft(l, " \t")
		if strings.HasPrefix(t, "-") || strings.HasPrefix(t, "+") {
			lines[i] = l[:len(l)-len(t)] + `\` + t
		}
	}
	return strings.Join(lines, "\n")
}

// renderText shows the core's text on Discord. The core writes plain
// text with `code` spans around ids and commands, and quotes users and
// log events anywhere in it: a code span (one backtick, text without
// backticks or line breaks, one backtick) stays, since Discord shows its
// content literally; everything else is escaped, stray backticks too.
// Then the identities in actors become mentions.
func renderText(s string, actors []string) string {
	var b strings.Builder
	for s != "" {
		i := strings.IndexByte(s, '`')
		if i < 0 {
			b.WriteString(escape(s))
			break
		}
		j := strings.IndexByte(s[i+1:], '`') // the closing backtick is at i+1+j
		end := i + 2 + j
		if j > 0 && !strings.ContainsRune(s[i+1:i+1+j], '\n') && (i == 0 || s[i-1] != '`') && (end >= len(s) || s[end] != '`') {
			b.WriteString(escape(s[:i]))
			b.WriteString(broadcastRe.ReplaceAllString(s[i:end], "@\u200b$1"))
			s = s[end:]
			continue
		}
		b.WriteString(escape(s[:i+1]))
		s = s[i+1:]
	}
	return mentionActors(b.String(), actors)
}

// clip shortens s to at most n runes, marking the cut with "…".
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// clipLines shortens s to at most n runes at a line break, ending with
// the note more.
func clipLines(s string, n int, more string) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	cut := string(r[:n-1-utf8.RuneCountInString(more)])
	if i := strings.LastIndexByte(cut, '\n'); i > 0 {
		cut = cut[:i]
	}
	return cut + "\n" + more
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}
