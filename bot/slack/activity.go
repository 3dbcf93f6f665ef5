package slack

import (
	"context"
	"strings"
	"time"

	slackapi "github.com/slack-go/slack"

	"github.com/trailhound/trailhound/bot"
)

// activityTimeout bounds a lookup's work after the acknowledgement:
// waiting for a turn, the query, and replacing the placeholder.
const activityTimeout = 2 * time.Minute

// activity answers the Activity button and `activity`: a placeholder is
// posted in the alert's thread (or, without an alert, in the channel the
// command came from) at once, and replaced with the timeline when the
// lookup ends. Refusals and "already running" go to the user alone.
func (n *Notifier) activity(ctx context.Context, o origin, req bot.ActivityRequest) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), activityTimeout)
	keep := false
	defer func() {
		if !keep {
			cancel()
		}
	}()
	id := n.identity(ctx, o.user, o.userName)
	job, r := n.svc.StartActivity(ctx, id, n.cfg.Policy.RoleOf(id), req)
	if job == nil {
		r.Ephemeral = true
		n.answer(ctx, o, r)
		return
	}
	channel, thread := o.channel, ""
	if job.Alert != nil {
		for _, m := range job.Alert.MessagesOn(Name) {
			if !strings.HasPrefix(m.Target, "@") && !strings.HasPrefix(m.Channel, "D") {
				channel, thread = m.Channel, m.MessageID
				break
			}
		}
		if thread == "" && o.ts != "" && !o.ephemeral {
			thread = o.ts // a copy of the card the alert does not know
		}
	}
	if channel == "" {
		channel = n.cfg.Channel
	}
	placeholder := ReplyPayload(bot.Reply{Text: n.localize(job.Placeholder)}, "")
	opts := placeholder.options(false)
	if thread != "" {
		opts = append(opts, slackapi.MsgOptionTS(thread))
	}
	var ts string
	err := n.callIn(ctx, channel, func() error {
		var err error
		channel, ts, err = n.api.PostMessageContext(ctx, channel, opts...)
		return err
	})
	if err != nil {
		// Nowhere to show progress (the bot is not in the channel): the
		// answer goes to the user alone when it is ready.
		n.log.Warn("post activity placeholder failed; answering the user alone", "channel", channel, "err", err)
		n.answer(ctx, o, bot.Reply{Ephemeral: true, Text: job.Run(ctx), Actors: job.Actors})
		return
	}
	// The lookup may wait for its turn (activity.max_concurrent): it
	// gives back the background slot, which other buttons need, and
	// stays tracked for Wait.
	n.bg.Add(1)
	go func() {
		defer n.bg.Done()
		defer cancel()
		defer func() {
			if r := recover(); r != nil {
				n.log.Error("slack activity lookup panicked", "panic", r)
			}
		}()
		n.replaceActivity(ctx, job, channel, ts, thread)
	}()
	keep = true
}

// replaceActivity runs the lookup and replaces the placeholder at ts with
// its answer (or, when that fails, posts the answer after it).
func (n *Notifier) replaceActivity(ctx context.Context, job *bot.ActivityJob, channel, ts, thread string) {
	final := ReplyPayload(bot.Reply{Text: job.Run(ctx), Actors: job.Actors}, "")
	err := n.callIn(ctx, channel, func() error {
		_, _, _, err := n.api.UpdateMessageContext(ctx, channel, ts, final.options(true)...)
		return err
	})
	if err != nil {
		n.log.Warn("replace activity placeholder failed; posting the timeline instead", "channel", channel, "ts", ts, "err", err)
		opts := final.options(false)
		if thread != "" {
			opts = append(opts, slackapi.MsgOptionTS(thread))
		}
		if err := n.callIn(ctx, channel, func() error {
			_, _, err := n.api.PostMessageContext(ctx, channel, opts...)
			return err
		}); err != nil {
			n.log.Error("post activity timeline failed", "channel", channel, "err", err)
		}
	}
}
