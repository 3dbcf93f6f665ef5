package slack

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"

	slackapi "github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"

	"github.com/trailhound/trailhound/bot"
	"github.com/trailhound/trailhound/workflows"
)

// HTTP endpoints of ModeHTTP, to enter in the Slack app's settings.
const (
	PathCommands     = "/slack/commands"
	PathInteractions = "/slack/interactions"
	PathEvents       = "/slack/events"
)

// Limits on inbound requests.
const (
	// maxBody bounds a request body; Slack's payloads are far smaller.
	maxBody = 64 << 10
	// replayWindow is how far a request's timestamp may be from now.
	replayWindow = 5 * time.Minute
	// backgroundTimeout bounds the work done after acknowledging.
	backgroundTimeout = 30 * time.Second
)

// ack is what answers a request at once, within Slack's 3 seconds: a
// message (a usage line, help), modal validation errors, the url
// verification challenge, or nothing.
type ack struct {
	message   *Payload
	ephemeral bool
	// viewErrors maps a modal's block ids to what is wrong with them.
	viewErrors map[string]string
	challenge  string
}

// body returns the JSON to send back, nil for an empty acknowledgement.
func (a ack) body() any {
	switch {
	case a.message != nil:
		rt := slackapi.ResponseTypeInChannel
		if a.ephemeral {
			rt = slackapi.ResponseTypeEphemeral
		}
		m := map[string]any{"response_type": rt, "text": a.message.Text}
		if len(a.message.Blocks) > 0 {
			m["blocks"] = a.message.Blocks
		}
		if len(a.message.Attachments) > 0 {
			m["attachments"] = a.message.Attachments
		}
		return m
	case a.viewErrors != nil:
		return slackapi.NewErrorsViewSubmissionResponse(a.viewErrors)
	}
	return nil
}

// later is work done after the acknowledgement.
type later func(ctx context.Context)

// Start implements bot.Adapter: in HTTP mode it registers the commands,
// interactions and events endpoints on mux; in Socket Mode it connects to
// Slack and serves the same requests until ctx ends.
func (n *Notifier) Start(ctx context.Context, svc *bot.Service, mux *http.ServeMux) error {
	if n.cfg.Mode == ModeOff {
		return nil
	}
	n.svc = svc
	n.ctx = ctx
	if n.cfg.Policy.Empty() {
		n.log.Warn("notify.slack.roles lists nobody: Slack users can only ask for help")
	}
	if err := n.authTest(ctx); err != nil {
		return err
	}
	switch n.cfg.Mode {
	case ModeHTTP:
		mux.Handle("POST "+PathCommands, n.verified(n.serveCommand))
		mux.Handle("POST "+PathInteractions, n.verified(n.serveInteraction))
		mux.Handle("POST "+PathEvents, n.verified(n.serveEvent))
		n.log.Info("slack http endpoints registered", "commands", PathCommands, "interactions", PathInteractions, "events", PathEvents)
	case ModeSocket:
		client := socketmode.New(n.api, socketmode.OptionLog(slogWriter{n}))
		go n.runSocket(ctx, client)
	}
	return nil
}

// authTest checks the bot token once at start and learns the bot's user
// id. Only a rejected token stops the start: Slack being unreachable now
// is retried by every later call.
func (n *Notifier) authTest(ctx context.Context) error {
	res, err := n.api.AuthTestContext(ctx)
	if err != nil {
		if retryable(err) {
			n.log.Warn("slack auth.test failed; continuing", "err", err)
			return nil
		}
		return fmt.Errorf("slack: the bot token was rejected: %w", err)
	}
	n.botUser = res.UserID
	return nil
}

// Wait blocks until the background work started so far has finished;
// `trailhound run` calls it at shutdown.
func (n *Notifier) Wait() { n.bg.Wait() }

// background runs work beside the acknowledgement, bounded in number
// and time, and detached from the request that started it: the ack never
// waits for it.
func (n *Notifier) background(f later) {
	if f == nil {
		return
	}
	n.bg.Add(1)
	go func() {
		defer n.bg.Done()
		n.slots <- struct{}{}
		defer func() { <-n.slots }()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(n.ctx), backgroundTimeout)
		defer cancel()
		defer func() {
			if r := recover(); r != nil {
				n.log.Error("slack background work panicked", "panic", r)
			}
		}()
		f(ctx)
	}()
}

// verified wraps an HTTP handler with Slack's request signing: the body
// (at most maxBody) is signed with the signing secret together with the
// timestamp, which must be within replayWindow; a request seen before is
// acknowledged and dropped.
func (n *Notifier) verified(next func(w http.ResponseWriter, r *http.Request, body []byte)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// What can be judged from the headers is judged before reading
		// the body, so a client without a fresh timestamp or with a body
		// too large is answered at once, however slowly it sends.
		if err := verifyHeaders(r.Header, n.now()); err != nil {
			n.log.Warn("rejected slack request", "path", r.URL.Path, "remote", r.RemoteAddr, "reason", err.Error())
			bot.RejectUnread(w, "invalid request", http.StatusUnauthorized)
			return
		}
		switch {
		case r.ContentLength > maxBody:
			n.log.Warn("rejected slack request", "path", r.URL.Path, "remote", r.RemoteAddr, "reason", "body too large")
			bot.RejectUnread(w, "request too large", http.StatusRequestEntityTooLarge)
			return
		case r.ContentLength < 0:
			bot.RejectUnread(w, "length required", http.StatusLengthRequired)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		if err != nil {
			n.log.Warn("rejected slack request", "path", r.URL.Path, "remote", r.RemoteAddr, "reason", "body too large or unreadable")
			http.Error(w, "request too large", http.StatusRequestEntityTooLarge)
			return
		}
		if err := verify(r.Header, body, n.cfg.SigningSecret.Reveal(), n.now()); err != nil {
			n.log.Warn("rejected slack request", "path", r.URL.Path, "remote", r.RemoteAddr, "reason", err.Error())
			http.Error(w, "invalid request", http.StatusUnauthorized)
			return
		}
		if !n.seen.first(seenKey("sig", r.Header.Get("X-Slack-Signature")), n.now()) {
			n.log.Info("ignored replayed slack request", "path", r.URL.Path, "retry", r.Header.Get("X-Slack-Retry-Num"))
			w.WriteHeader(http.StatusOK)
			return
		}
		next(w, r, body)
	})
}

// Reasons a request fails verification, for the log only: the client
// gets a bare 401.
var (
	errMissingSignature = errors.New("missing signature headers")
	errStale            = errors.New("timestamp outside the 5-minute window")
	errBadSignature     = errors.New("signature does not match")
)

// verifyHeaders checks what the signature headers say before the body
// is read: both are there and the timestamp is within replayWindow.
func verifyHeaders(h http.Header, now time.Time) error {
	sig, ts := h.Get("X-Slack-Signature"), h.Get("X-Slack-Request-Timestamp")
	if sig == "" || ts == "" {
		return errMissingSignature
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errStale
	}
	if d := now.Sub(time.Unix(sec, 0)); d > replayWindow || d < -replayWindow {
		return errStale
	}
	return nil
}

// verify checks X-Slack-Signature: "v0=" + hex(HMAC-SHA256(secret,
// "v0:" + timestamp + ":" + body)).
func verify(h http.Header, body []byte, secret string, now time.Time) error {
	if err := verifyHeaders(h, now); err != nil {
		return err
	}
	sig, ts := h.Get("X-Slack-Signature"), h.Get("X-Slack-Request-Timestamp")
	hexSig, ok := strings.CutPrefix(sig, "v0=")
	got, err := hex.DecodeString(hexSig)
	if !ok || err != nil {
		return errBadSignature
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("v0:" + ts + ":"))
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return errBadSignature
	}
	return nil
}

// writeAck answers an HTTP request with an acknowledgement.
func writeAck(w http.ResponseWriter, a ack) {
	if a.challenge != "" {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, a.challenge)
		return
	}
	b := a.body()
	if b == nil {
		w.WriteHeader(http.StatusOK)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(b)
}

func (n *Notifier) serveCommand(w http.ResponseWriter, r *http.Request, body []byte) {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	cmd := slackapi.SlashCommand{
		TeamID: form.Get("team_id"), ChannelID: form.Get("channel_id"), UserID: form.Get("user_id"),
		UserName: form.Get("user_name"), Command: form.Get("command"), Text: form.Get("text"),
		ResponseURL: form.Get("response_url"), TriggerID: form.Get("trigger_id"),
	}
	a, l := n.handleCommand(cmd)
	n.background(l)
	writeAck(w, a)
}

func (n *Notifier) serveInteraction(w http.ResponseWriter, r *http.Request, body []byte) {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	var ic slackapi.InteractionCallback
	if err := json.Unmarshal([]byte(form.Get("payload")), &ic); err != nil {
		n.log.Warn("bad slack interaction payload", "err", err)
		http.Error(w, "bad payload", http.StatusBadRequest)
		return
	}
	a, l := n.handleInteraction(ic)
	n.background(l)
	writeAck(w, a)
}

func (n *Notifier) serveEvent(w http.ResponseWriter, r *http.Request, body []byte) {
	ev, err := slackevents.ParseEvent(json.RawMessage(body), slackevents.OptionNoVerifyToken())
	if err != nil {
		n.log.Warn("bad slack event payload", "err", err)
		http.Error(w, "bad payload", http.StatusBadRequest)
		return
	}
	if ev.Type == slackevents.URLVerification {
		v, ok := ev.Data.(*slackevents.EventsAPIURLVerificationEvent)
		if !ok || v.Challenge == "" {
			http.Error(w, "bad payload", http.StatusBadRequest)
			return
		}
		writeAck(w, ack{challenge: v.Challenge})
		return
	}
	if retry := r.Header.Get("X-Slack-Retry-Num"); retry != "" {
		n.log.Debug("slack event retry", "retry", retry, "reason", r.Header.Get("X-Slack-Retry-Reason"))
	}
	n.background(n.handleEvent(ev))
	w.WriteHeader(http.StatusOK)
}

// runSocket serves Socket Mode requests until ctx ends. Every request is
// acknowledged at once; the work follows in the background.
func (n *Notifier) runSocket(ctx context.Context, client *socketmode.Client) {
	go func() {
		if err := client.RunContext(ctx); err != nil && ctx.Err() == nil {
			n.log.Error("slack socket mode stopped", "err", err)
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-client.Events:
			n.socketEvent(ctx, client, ev)
		}
	}
}

func (n *Notifier) socketEvent(ctx context.Context, client *socketmode.Client, ev socketmode.Event) {
	var a ack
	var l later
	switch ev.Type {
	case socketmode.EventTypeConnected:
		n.log.Info("slack socket mode connected")
		return
	case socketmode.EventTypeConnectionError, socketmode.EventTypeInvalidAuth, socketmode.EventTypeIncomingError, socketmode.EventTypeErrorBadMessage:
		n.log.Warn("slack socket mode trouble", "event", string(ev.Type), "data", fmt.Sprint(ev.Data))
		return
	case socketmode.EventTypeSlashCommand:
		cmd, ok := ev.Data.(slackapi.SlashCommand)
		if !ok {
			return
		}
		a, l = n.handleCommand(cmd)
	case socketmode.EventTypeInteractive:
		ic, ok := ev.Data.(slackapi.InteractionCallback)
		if !ok {
			return
		}
		a, l = n.handleInteraction(ic)
	case socketmode.EventTypeEventsAPI:
		e, ok := ev.Data.(slackevents.EventsAPIEvent)
		if !ok {
			return
		}
		l = n.handleEvent(e)
	default:
		return
	}
	// Queued before the ack goes out, so waiting for background work
	// after an ack always includes this request's.
	n.background(l)
	if ev.Request != nil {
		if err := client.AckCtx(ctx, ev.Request.EnvelopeID, a.body()); err != nil {
			n.log.Warn("slack socket mode ack failed", "err", err)
		}
	}
}

// origin is where a request came from: whom to answer and which message
// it acted on.
type origin struct {
	user        string
	userName    string
	channel     string
	ts          string
	thread      string
	ephemeral   bool
	responseURL string
}

// handleCommand answers a slash command: mistakes and help at once,
// everything else after the acknowledgement.
func (n *Notifier) handleCommand(cmd slackapi.SlashCommand) (ack, later) {
	if !n.seen.first(seenKey("trigger", cmd.TriggerID), n.now()) {
		return ack{}, nil
	}
	if !userIDRe.MatchString(cmd.UserID) {
		n.log.Warn("slack command without a valid user id")
		return ack{}, nil
	}
	if cmd.Command != n.cfg.Command {
		p := Payload{Text: "This app answers " + n.cfg.Command + "."}
		return ack{message: &p, ephemeral: true}, nil
	}
	c, err := bot.ParseCommand(cmd.Text)
	if err != nil {
		p := UsagePayload(err)
		p.Text = n.localize(p.Text)
		return ack{message: &p, ephemeral: true}, nil
	}
	if c.Name == "help" {
		p := Payload{Text: n.localize(render(bot.HelpText(), nil))}
		return ack{message: &p, ephemeral: true}, nil
	}
	o := origin{user: cmd.UserID, userName: cmd.UserName, channel: cmd.ChannelID, responseURL: cmd.ResponseURL}
	if c.Name == "activity" {
		return ack{}, func(ctx context.Context) {
			n.activity(ctx, o, bot.ActivityRequest{AlertID: c.ID, Principal: c.Principal, Since: c.Since})
		}
	}
	return ack{}, func(ctx context.Context) {
		id := n.identity(ctx, o.user, o.userName)
		n.afterAction(ctx, o, n.svc.Run(ctx, id, n.cfg.Policy.RoleOf(id), c))
	}
}

// handleInteraction answers button presses and modal submissions.
func (n *Notifier) handleInteraction(ic slackapi.InteractionCallback) (ack, later) {
	key := ic.TriggerID
	if key == "" {
		key = ic.ActionTs + ic.View.ID
	}
	if !n.seen.first(seenKey("trigger", key), n.now()) {
		return ack{}, nil
	}
	if !userIDRe.MatchString(ic.User.ID) {
		n.log.Warn("slack interaction without a valid user id", "type", string(ic.Type))
		return ack{}, nil
	}
	switch ic.Type {
	case slackapi.InteractionTypeBlockActions:
		return ack{}, n.blockAction(ic)
	case slackapi.InteractionTypeViewSubmission:
		return n.viewSubmission(ic)
	}
	return ack{}, nil
}

// blockAction handles a button on a card.
func (n *Notifier) blockAction(ic slackapi.InteractionCallback) later {
	var action *slackapi.BlockAction
	for _, a := range ic.ActionCallback.BlockActions {
		if strings.HasPrefix(a.ActionID, bot.ActionPrefix) {
			action = a
			break
		}
	}
	if action == nil {
		return nil
	}
	op, alertID, err := bot.ParseActionID(action.ActionID)
	if err != nil {
		n.log.Warn("bad slack action id", "err", err)
		return nil
	}
	o := origin{
		user: ic.User.ID, userName: ic.User.Name, channel: ic.Container.ChannelID, ts: ic.Container.MessageTs,
		ephemeral: ic.Container.IsEphemeral, responseURL: ic.ResponseURL,
	}
	if o.channel == "" {
		o.channel = ic.Channel.ID
	}
	if o.ts == "" {
		o.ts = ic.Message.Timestamp
	}
	question := ic.Message.Text
	if op == bot.OpActivity {
		return func(ctx context.Context) { n.activity(ctx, o, bot.ActivityRequest{AlertID: alertID}) }
	}
	return func(ctx context.Context) {
		id := n.identity(ctx, o.user, o.userName)
		role := n.cfg.Policy.RoleOf(id)
		if op == bot.OpTask || op == bot.OpSuppress {
			if role < bot.MinRole[op] {
				// Refused and audited by the core, before any form.
				n.answer(ctx, o, n.svc.Do(ctx, id, role, op, alertID, bot.OpOptions{}))
				return
			}
			n.openModal(ctx, o, op, alertID, ic.TriggerID)
			return
		}
		r := n.svc.Do(ctx, id, role, op, alertID, bot.OpOptions{})
		if (op == bot.OpConfirmMine || op == bot.OpNotMine) && !r.Refused && r.Failed == "" {
			n.settleQuestion(ctx, o, question, op)
		}
		n.afterAction(ctx, o, r)
	}
}

// settleQuestion replaces an answered "was this you?" message with the
// question and the answer given, without its buttons.
func (n *Notifier) settleQuestion(ctx context.Context, o origin, question string, op bot.Op) {
	if o.ts == "" || o.channel == "" {
		return
	}
	answer := "Answered: yes, that was me."
	if op == bot.OpNotMine {
		answer = "Answered: no, it was not me. The security team has been alerted."
	}
	text := answer
	if question != "" {
		text = question + "\n\n" + answer
	}
	blocks := []slackapi.Block{section(escape(text))}
	err := n.callIn(ctx, o.channel, func() error {
		_, _, _, err := n.api.UpdateMessageContext(ctx, o.channel, o.ts, slackapi.MsgOptionText(text, false), slackapi.MsgOptionBlocks(blocks...))
		return err
	})
	if err != nil {
		n.log.Warn("remove the buttons of an answered question", "ts", o.ts, "err", err)
	}
}

// openModal shows the task or suppression form. trigger ids expire after
// 3 seconds, so this runs first thing after the acknowledgement.
func (n *Notifier) openModal(ctx context.Context, o origin, op bot.Op, alertID, trigger string) {
	a, err := n.svc.Store.Get(alertID)
	if err != nil {
		n.answer(ctx, o, bot.Reply{Ephemeral: true, Text: "Alert `" + alertID + "` was not found."})
		return
	}
	meta := modalMeta{AlertID: alertID, Channel: o.channel, TS: o.ts}
	if o.ephemeral {
		meta.Channel, meta.TS = "", ""
	}
	title := bot.CardFor(a).Title
	view := SuppressModal(title, meta)
	if op == bot.OpTask {
		view = TaskModal(title, meta, n.now().UTC())
	}
	err = n.call(ctx, func() error {
		_, err := n.api.OpenViewContext(ctx, trigger, view)
		return err
	})
	if err != nil {
		n.log.Warn("slack views.open failed", "alert", alertID, "err", err)
		n.answer(ctx, o, bot.Reply{Ephemeral: true, Text: "The form could not be opened in time; please press the button again."})
	}
}

// viewSubmission validates a submitted form at once (errors are shown in
// the form) and carries it out after the acknowledgement.
func (n *Notifier) viewSubmission(ic slackapi.InteractionCallback) (ack, later) {
	if ic.View.CallbackID != callbackTask && ic.View.CallbackID != callbackSuppress {
		return ack{}, nil
	}
	var meta modalMeta
	if len(ic.View.PrivateMetadata) > 3000 || json.Unmarshal([]byte(ic.View.PrivateMetadata), &meta) != nil {
		n.log.Warn("slack modal with bad private metadata")
		return ack{}, nil
	}
	if _, _, err := bot.ParseActionID(bot.ActionID(bot.OpAcknowledge, meta.AlertID)); err != nil ||
		meta.Channel != "" && !channelIDRe.MatchString(meta.Channel) || meta.TS != "" && !tsRe.MatchString(meta.TS) {
		n.log.Warn("slack modal with bad private metadata")
		return ack{}, nil
	}
	value := func(block string) slackapi.BlockAction {
		if ic.View.State == nil {
			return slackapi.BlockAction{}
		}
		return ic.View.State.Values[block][block]
	}
	var op bot.Op
	var opts bot.OpOptions
	errs := map[string]string{}
	switch ic.View.CallbackID {
	case callbackTask:
		op = bot.OpTask
		if u := value("assignee").SelectedUser; u != "" {
			if !userIDRe.MatchString(u) {
				errs["assignee"] = "Choose a person from the list."
			}
			opts.Task.Assignee = Name + ":" + u
		}
		if d := value("due").SelectedDate; d != "" {
			due, err := time.Parse(time.DateOnly, d)
			today := n.now().UTC().Truncate(24 * time.Hour)
			switch {
			case err != nil:
				errs["due"] = "Pick a date from the calendar."
			case due.Before(today.AddDate(0, 0, -1)):
				errs["due"] = "The due date is in the past."
			case due.After(today.AddDate(1, 0, 0)):
				errs["due"] = "Pick a date within a year."
			}
			// Due at the end of the chosen day.
			opts.Task.Due = due.Add(24*time.Hour - time.Second)
		}
		notes := value("notes").Value
		if len([]rune(notes)) > maxNotes {
			errs["notes"] = fmt.Sprintf("Notes are limited to %d characters.", maxNotes)
		}
		opts.Task.Notes = cleanText(notes)
	case callbackSuppress:
		op = bot.OpSuppress
		choice := value("duration").SelectedOption.Value
		for _, d := range SuppressDurations {
			if d.Value == choice {
				opts.SuppressFor = d.D
			}
		}
		if opts.SuppressFor == 0 {
			errs["duration"] = "Choose how long."
		}
		reason := value("reason").Value
		if len([]rune(reason)) > maxReason {
			errs["reason"] = fmt.Sprintf("The reason is limited to %d characters.", maxReason)
		}
		opts.Note = cleanText(reason)
	}
	if len(errs) > 0 {
		return ack{viewErrors: errs}, nil
	}
	o := origin{user: ic.User.ID, userName: ic.User.Name, channel: meta.Channel, ts: meta.TS}
	return ack{}, func(ctx context.Context) {
		id := n.identity(ctx, o.user, o.userName)
		n.afterAction(ctx, o, n.svc.Do(ctx, id, n.cfg.Policy.RoleOf(id), op, meta.AlertID, opts))
	}
}

// seenKey names a request identity for the replay cache; "" (never
// deduplicated) when the request has none.
func seenKey(kind, id string) string {
	if id == "" {
		return ""
	}
	return kind + ":" + id
}

var tsRe = regexp.MustCompile(`^[0-9]{1,12}\.[0-9]{1,9}$`)

// cleanText drops control characters other than newlines and tabs.
func cleanText(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) && r != '\n' && r != '\t' {
			return -1
		}
		return r
	}, strings.TrimSpace(s))
}

// handleEvent handles Events API callbacks: a mention of the bot runs the
// rest of the message as a command and answers in the thread.
func (n *Notifier) handleEvent(ev slackevents.EventsAPIEvent) later {
	cb, ok := ev.Data.(*slackevents.EventsAPICallbackEvent)
	if !ok || !n.seen.first(seenKey("event", cb.EventID), n.now()) {
		return nil
	}
	m, ok := ev.InnerEvent.Data.(*slackevents.AppMentionEvent)
	if !ok || m.BotID != "" || m.User == n.botUser || !userIDRe.MatchString(m.User) || !channelIDRe.MatchString(m.Channel) {
		return nil
	}
	text := strings.TrimSpace(mentionPrefixRe.ReplaceAllString(m.Text, ""))
	thread := m.ThreadTimeStamp
	if thread == "" {
		thread = m.TimeStamp
	}
	o := origin{user: m.User, channel: m.Channel, thread: thread}
	return func(ctx context.Context) {
		c, err := bot.ParseCommand(text)
		if err != nil {
			n.answer(ctx, o, bot.Reply{Ephemeral: true, Text: n.localize(err.Error())})
			return
		}
		id := n.identity(ctx, o.user, "")
		n.afterAction(ctx, o, n.svc.Run(ctx, id, n.cfg.Policy.RoleOf(id), c))
	}
}

var mentionPrefixRe = regexp.MustCompile(`^(\s*<@[UW][A-Z0-9]+>)+`)

// identity maps a Slack user to the core's identity, with their user
// groups when the policy names any.
func (n *Notifier) identity(ctx context.Context, user, name string) bot.Identity {
	id := bot.Identity{Platform: Name, UserID: user, Name: name}
	if policyUsesGroups(n.cfg.Policy) {
		gs, err := n.groups.groupsOf(ctx, user)
		if err != nil {
			n.log.Warn("cannot read user groups; deciding the role without fresh groups", "user", user, "err", err)
		}
		id.Groups = gs
	}
	return id
}

// afterAction reflects a request's result in Slack: when it changed an
// alert, the alert's message (and the message the button was on, if
// another) is redrawn in place at once; the answer goes to the user or the
// alert's thread.
func (n *Notifier) afterAction(ctx context.Context, o origin, r bot.Reply) {
	if r.Alert == nil {
		n.answer(ctx, o, r)
		return
	}
	a := *r.Alert
	if fresh, err := n.svc.Store.Get(a.ID); err == nil {
		a = fresh
	}
	drawn, pressedIsOurs := false, false
	var thread *workflows.MessageRef
	for _, m := range a.MessagesOn(Name) {
		if err := n.redraw(ctx, m.Channel, m.MessageID, a); err != nil {
			n.log.Warn("redraw after action failed; the outbox will retry", "alert", a.ID, "ts", m.MessageID, "err", err)
			continue
		}
		if m.Channel == o.channel && m.MessageID == o.ts {
			drawn, pressedIsOurs = true, true
		}
		if thread == nil && !strings.HasPrefix(m.Target, "@") && !strings.HasPrefix(m.Channel, "D") {
			thread = &m
		}
	}
	switch {
	case o.ephemeral && o.responseURL != "":
		// The card was an answer only this user sees (show): redraw it too.
		p := CardPayload(bot.CardFor(a), "", n.cfg.RawEventURL)
		drawn = n.respond(ctx, o.responseURL, p, true, true) == nil
	case o.ts != "" && !pressedIsOurs:
		// A copy the alert does not know, such as an older post.
		if err := n.redraw(ctx, o.channel, o.ts, a); err != nil {
			n.log.Warn("redraw of the pressed message failed", "alert", a.ID, "err", err)
		} else {
			drawn = true
		}
	}
	if r.Ephemeral && drawn {
		return // the redrawn card already says what changed and who did it
	}
	if !r.Ephemeral && thread != nil && o.thread == "" {
		o.channel, o.thread = thread.Channel, thread.MessageID
	}
	n.answer(ctx, o, r)
}

// answer delivers a reply: ephemeral ones to the user alone (through the
// response URL when there is one), others to the channel or thread.
func (n *Notifier) answer(ctx context.Context, o origin, r bot.Reply) {
	r.Text = n.localize(r.Text)
	p := ReplyPayload(r, n.cfg.RawEventURL)
	if o.channel == "" {
		o.channel = n.cfg.Channel
	}
	var err error
	switch {
	case o.responseURL != "" && (r.Ephemeral || o.thread == ""):
		err = n.respond(ctx, o.responseURL, p, r.Ephemeral, false)
	case r.Ephemeral:
		opts := p.options(false)
		if o.thread != "" {
			opts = append(opts, slackapi.MsgOptionTS(o.thread))
		}
		err = n.callIn(ctx, o.channel, func() error {
			_, err := n.api.PostEphemeralContext(ctx, o.channel, o.user, opts...)
			return err
		})
	default:
		opts := p.options(false)
		if o.thread != "" {
			opts = append(opts, slackapi.MsgOptionTS(o.thread))
		}
		err = n.callIn(ctx, o.channel, func() error {
			_, _, err := n.api.PostMessageContext(ctx, o.channel, opts...)
			return err
		})
	}
	if err != nil {
		n.log.Warn("slack answer failed", "user", o.user, "channel", o.channel, "err", err)
	}
}

// respond posts to an interaction's response URL; replace redraws the
// message the interaction came from.
func (n *Notifier) respond(ctx context.Context, responseURL string, p Payload, ephemeral, replace bool) error {
	if !n.trustedResponseURL(responseURL) {
		return fmt.Errorf("slack: response url %q is not a Slack URL", truncate(responseURL, 60))
	}
	rt := slackapi.ResponseTypeInChannel
	if ephemeral {
		rt = slackapi.ResponseTypeEphemeral
	}
	opts := append(p.options(false), slackapi.MsgOptionResponseURL(responseURL, rt))
	if replace {
		opts = append(opts, slackapi.MsgOptionReplaceOriginal(responseURL))
	}
	return n.call(ctx, func() error {
		_, _, _, err := n.api.SendMessageContext(ctx, "", opts...)
		return err
	})
}

// trustedResponseURL accepts https URLs on slack.com and the configured
// API host, so a payload cannot make the bot post elsewhere.
func (n *Notifier) trustedResponseURL(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return false
	}
	host := strings.ToLower(u.Hostname())
	if u.Scheme == "https" && (host == "slack.com" || strings.HasSuffix(host, ".slack.com")) {
		return true
	}
	api, err := url.Parse(n.cfg.APIURL)
	return err == nil && u.Scheme == api.Scheme && strings.EqualFold(u.Host, api.Host)
}

// localize shows the configured command name in the core's texts.
func (n *Notifier) localize(s string) string {
	if n.cfg.Command == DefaultCommand {
		return s
	}
	return strings.ReplaceAll(s, DefaultCommand+" ", n.cfg.Command+" ")
}

// slogWriter passes the socketmode client's log lines to slog at debug.
type slogWriter struct{ n *Notifier }

func (s slogWriter) Output(_ int, msg string) error {
	s.n.log.Debug(strings.TrimSpace(msg), "component", "socketmode")
	return nil
}

var _ workflows.Notifier = (*Notifier)(nil)
var _ bot.Adapter = (*Notifier)(nil)
