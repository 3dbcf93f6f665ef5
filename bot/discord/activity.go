package discord

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/bwmarrin/discordgo"

	"github.com/trailhound/trailhound/bot"
	"github.com/trailhound/trailhound/workflows"
)

// activityButton answers the Activity button, after the deferred update
// that acknowledged it: a placeholder is posted in the alert's thread and
// edited into the timeline when the lookup ends. Where the alert has no
// message here (a card shown by `show`), a follow-up to the press plays
// the placeholder's part. Refusals and "already running" are private.
func (n *Notifier) activityButton(ctx context.Context, i *discordgo.Interaction, id bot.Identity, role bot.Role, alertID string) {
	job, r := n.svc.StartActivity(ctx, id, role, bot.ActivityRequest{AlertID: alertID})
	if job == nil {
		r.Ephemeral = true
		if _, err := n.session.FollowupMessageCreate(i, true, n.render.replyFollowup(r, true), discordgo.WithContext(ctx)); err != nil {
			n.log.Error("answer activity press", "interaction", i.ID, "err", redact(err, i.Token))
		}
		return
	}
	placeholder := bot.Reply{Text: job.Placeholder}
	if ref, ok := job.Alert.Message(Name); ok {
		ms := &discordgo.MessageSend{Content: clip(renderText(placeholder.Text, nil), maxContent), AllowedMentions: noMentions()}
		msg, err := n.sendInThread(ctx, ref, job.Alert.ID, ms, "activity:"+i.ID)
		if err == nil {
			final := timelineEdit(job.Run(ctx), job.Actors)
			if err := n.budget.Wait(ctx, msg.ChannelID); err != nil {
				n.log.Error("replace activity placeholder", "alert", alertID, "err", err)
				return
			}
			final.Channel, final.ID = msg.ChannelID, msg.ID
			if _, err := n.session.ChannelMessageEditComplex(final, discordgo.WithContext(ctx), discordgo.WithRetryOnRatelimit(true)); err != nil {
				n.log.Error("replace activity placeholder", "alert", alertID, "err", n.named(err))
			}
			return
		}
		n.log.Warn("post activity placeholder in the thread failed; answering the press instead", "alert", alertID, "err", err)
	}
	msg, err := n.session.FollowupMessageCreate(i, true, n.render.replyFollowup(placeholder, false), discordgo.WithContext(ctx))
	if err != nil {
		job.Cancel()
		n.log.Error("answer activity press", "interaction", i.ID, "err", redact(err, i.Token))
		return
	}
	final := timelineEdit(job.Run(ctx), job.Actors)
	edit := &discordgo.WebhookEdit{Content: final.Content, Embeds: final.Embeds, AllowedMentions: final.AllowedMentions}
	if _, err := n.session.FollowupMessageEdit(i, msg.ID, edit, discordgo.WithContext(ctx)); err != nil {
		n.log.Error("replace activity placeholder", "interaction", i.ID, "err", redact(err, i.Token))
	}
}

// activityCommand answers /trailhound activity in its deferred response:
// the placeholder first, then the timeline.
func (n *Notifier) activityCommand(ctx context.Context, i *discordgo.Interaction, id bot.Identity, role bot.Role, c bot.Command) {
	job, r := n.svc.StartActivity(ctx, id, role, bot.ActivityRequest{AlertID: c.ID, Principal: c.Principal, Since: c.Since})
	if job == nil {
		r.Ephemeral = true
		n.finishDeferred(ctx, i, false, r)
		return
	}
	if _, err := n.session.InteractionResponseEdit(i, n.render.replyEdit(bot.Reply{Text: job.Placeholder}), discordgo.WithContext(ctx)); err != nil {
		n.log.Warn("show activity placeholder", "interaction", i.ID, "err", redact(err, i.Token))
	}
	final := timelineEdit(job.Run(ctx), job.Actors)
	comps := []discordgo.MessageComponent{}
	edit := &discordgo.WebhookEdit{Content: final.Content, Embeds: final.Embeds, Components: &comps, AllowedMentions: final.AllowedMentions}
	if _, err := n.session.InteractionResponseEdit(i, edit, discordgo.WithContext(ctx)); err != nil {
		n.log.Error("answer activity command", "interaction", i.ID, "err", redact(err, i.Token))
	}
}

// sendInThread posts ms in the thread of the alert's message, starting
// the thread on first use (a thread started from a message has the
// message's id); where threads are not possible it replies to the
// message.
func (n *Notifier) sendInThread(ctx context.Context, ref workflows.MessageRef, alertID string, ms *discordgo.MessageSend, key string) (*discordgo.Message, error) {
	msg, err := n.send(ctx, ref.MessageID, ms, key)
	if err == nil || apiCode(err) != codeUnknownChannel {
		return msg, err
	}
	name := clip(fmt.Sprintf("%s: similar findings", alertID), 100)
	_, terr := n.session.MessageThreadStartComplex(ref.Channel, ref.MessageID, &discordgo.ThreadStart{Name: name, AutoArchiveDuration: 10080}, discordgo.WithContext(ctx))
	switch {
	case terr == nil || apiCode(terr) == codeThreadAlreadyExists:
		return n.send(ctx, ref.MessageID, ms, key)
	case httpStatus(terr) == http.StatusBadRequest || httpStatus(terr) == http.StatusForbidden:
		ms.Reference = &discordgo.MessageReference{MessageID: ref.MessageID, ChannelID: ref.Channel, FailIfNotExists: new(bool)}
		return n.send(ctx, ref.Channel, ms, key)
	}
	return nil, fmt.Errorf("discord: start thread on %s: %w", ref.MessageID, n.named(terr))
}

// timelineEdit renders a timeline as a message edit: the first lines in
// the content, the rest in embeds, cut at a line with a note when even
// those are full. Only the actors (who asked) may be mentioned.
func timelineEdit(text string, actors []string) *discordgo.MessageEdit {
	lines := strings.Split(renderText(text, actors), "\n")
	var content strings.Builder
	var embeds []*discordgo.MessageEmbed
	var cur strings.Builder
	total := 0
	const more = "… (cut here: the timeline is longer than Discord shows; narrow the window)"
	flush := func() {
		if cur.Len() > 0 {
			embeds = append(embeds, &discordgo.MessageEmbed{Type: discordgo.EmbedTypeRich, Description: cur.String()})
			total += utf8.RuneCountInString(cur.String())
			cur.Reset()
		}
	}
	cut := false
	for _, l := range lines {
		n := utf8.RuneCountInString(l) + 1
		switch {
		case len(embeds) == 0 && cur.Len() == 0 && utf8.RuneCountInString(content.String())+n <= maxContent:
			content.WriteString(l + "\n")
			continue
		case total+utf8.RuneCountInString(cur.String())+n+len(more) > maxEmbedTotal || len(embeds) >= 9:
			cut = true
		case utf8.RuneCountInString(cur.String())+n > maxEmbedDesc:
			flush()
		}
		if cut {
			break
		}
		cur.WriteString(l + "\n")
	}
	if cut {
		cur.WriteString(more)
	}
	flush()
	c := strings.TrimRight(content.String(), "\n")
	for _, e := range embeds {
		e.Description = strings.TrimRight(e.Description, "\n")
	}
	if embeds == nil {
		embeds = []*discordgo.MessageEmbed{}
	}
	return &discordgo.MessageEdit{Content: &c, Embeds: &embeds, AllowedMentions: replyAllowed(bot.Reply{Actors: actors})}
}
