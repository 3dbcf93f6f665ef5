package discord

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/trailhound/trailhound/bot"
	"github.com/trailhound/trailhound/workflows"
)

// InteractionsPath is where Discord POSTs interactions in http mode; set
// the Interactions Endpoint URL to https://YOUR-HOST/discord/interactions.
const InteractionsPath = "/discord/interactions"

const (
	// maxInteractionBody bounds a request body; real interactions are a
	// few kilobytes.
	maxInteractionBody = 1 << 20
	// maxClockSkew is how old (or how far ahead) a signed timestamp may
	// be; older requests are refused as possible replays.
	maxClockSkew = 5 * time.Minute
	// workTimeout bounds the background work after an acknowledgement;
	// interaction tokens last 15 minutes.
	workTimeout = 10 * time.Minute
)

// Start implements bot.Adapter: it serves the HTTP interactions endpoint
// on mux in http mode, then looks up the application, registers
// /trailhound (one subcommand per core command) and connects to the
// gateway in gateway mode. Every interaction is acknowledged at once,
// within Discord's 3-second limit; the work runs in the background and
// then edits the deferred answer or posts a follow-up.
//
// Discord being unreachable at start does not stop the bot: Start returns,
// Ready reports what is missing, and the remaining steps are retried with
// backoff until Discord answers. Only a token or permission Discord
// refuses (401, 403) is an error here, since no retry fixes it.
func (n *Notifier) Start(ctx context.Context, svc *bot.Service, mux *http.ServeMux) error {
	n.svc, n.baseCtx = svc, ctx
	if n.cfg.Roles.Empty() {
		n.log.Warn("notify.discord.roles is empty: nobody may act on alerts from Discord")
	}
	if n.cfg.HTTP() {
		// Interactions carry their application id: they can be answered
		// before the start-up calls below succeed.
		mux.Handle("POST "+InteractionsPath, n)
	}
	err := n.connect(ctx)
	switch {
	case err == nil:
		return nil
	case refusedAtStart(err):
		return err
	}
	n.log.Warn("discord is not reachable yet; retrying in the background", "err", err)
	go n.retryConnect(ctx)
	return nil
}

// Wait blocks until background interaction work has finished.
func (n *Notifier) Wait() { n.work.Wait() }

// onGateway answers an interaction received over the gateway.
func (n *Notifier) onGateway(i *discordgo.Interaction) {
	if i == nil {
		return
	}
	resp, work := n.handle(i)
	if resp == nil {
		return
	}
	if err := n.session.InteractionRespond(i, resp, discordgo.WithContext(n.baseCtx)); err != nil {
		n.log.Error("answer interaction", "interaction", i.ID, "err", redact(err, i.Token))
		return
	}
	if work != nil {
		n.spawn(i, work)
	}
}

// Verification failures of the HTTP endpoint.
var (
	errBadSignature = errors.New("invalid request signature")
	errStale        = errors.New("request timestamp is too old or too far ahead")
	errReplay       = errors.New("request was already received")
)

// ServeHTTP is the HTTP interactions endpoint. It checks the ed25519
// signature over timestamp and body with the application's public key,
// refuses stale timestamps and replays, answers PING with PONG, and
// otherwise acknowledges the interaction in the response before doing the
// work.
func (n *Notifier) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// What can be judged from the headers is judged before reading the
	// body, so a client without a fresh timestamp or with a body too
	// large is answered at once, however slowly it sends.
	if err := verifyHeaders(r.Header, n.now()); err != nil {
		n.log.Warn("refused interaction request", "remote", r.RemoteAddr, "reason", err.Error())
		bot.RejectUnread(w, err.Error(), http.StatusUnauthorized)
		return
	}
	switch {
	case r.ContentLength > maxInteractionBody:
		bot.RejectUnread(w, "request body too large", http.StatusRequestEntityTooLarge)
		return
	case r.ContentLength < 0:
		bot.RejectUnread(w, "length required", http.StatusLengthRequired)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxInteractionBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "cannot read request body", http.StatusBadRequest)
		return
	}
	if err := n.verify(r.Header, body); err != nil {
		n.log.Warn("refused interaction request", "remote", r.RemoteAddr, "reason", err.Error())
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	var i discordgo.Interaction
	if err := json.Unmarshal(body, &i); err != nil {
		n.log.Warn("malformed interaction", "remote", r.RemoteAddr, "err", err)
		http.Error(w, "malformed interaction", http.StatusBadRequest)
		return
	}
	if i.ID != "" {
		// The same interaction signed again (a retry) is applied once too.
		if err := n.firstSeen("id:"+i.ID, n.now()); err != nil {
			n.log.Warn("refused interaction request", "remote", r.RemoteAddr, "reason", err.Error())
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
	}
	resp, work := n.handle(&i)
	if resp == nil {
		http.Error(w, "unsupported interaction", http.StatusBadRequest)
		return
	}
	b, err := json.Marshal(resp)
	if err != nil {
		n.log.Error("encode interaction response", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	if work != nil {
		n.spawn(&i, work)
	}
}

// verifyHeaders checks what the signature headers say before the body
// is read: a signature of the right size and a timestamp within
// maxClockSkew of now.
func verifyHeaders(h http.Header, now time.Time) error {
	if sig := h.Get("X-Signature-Ed25519"); len(sig) != 2*ed25519.SignatureSize {
		return errBadSignature
	}
	sec, err := strconv.ParseInt(h.Get("X-Signature-Timestamp"), 10, 64)
	if err != nil {
		return errStale
	}
	if d := now.Sub(time.Unix(sec, 0)); d > maxClockSkew || d < -maxClockSkew {
		return errStale
	}
	return nil
}

// verify checks a request's signature, timestamp and novelty.
func (n *Notifier) verify(h http.Header, body []byte) error {
	sig, err := hex.DecodeString(h.Get("X-Signature-Ed25519"))
	if err != nil || len(sig) != ed25519.SignatureSize {
		return errBadSignature
	}
	ts := h.Get("X-Signature-Timestamp")
	msg := make([]byte, 0, len(ts)+len(body))
	msg = append(append(msg, ts...), body...)
	if len(n.cfg.PublicKey) != ed25519.PublicKeySize || !ed25519.Verify(n.cfg.PublicKey, msg, sig) {
		return errBadSignature
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errStale
	}
	now := n.now()
	if d := now.Sub(time.Unix(sec, 0)); d > maxClockSkew || d < -maxClockSkew {
		return errStale
	}
	return n.firstSeen("sig:"+hex.EncodeToString(sig), now)
}

// replayTTL is how long request ids are remembered: the signature
// timestamp is accepted maxClockSkew either side of now.
const replayTTL = 2 * maxClockSkew

// firstSeen records a request id (a signature, an interaction id) and
// returns errReplay when it was seen within replayTTL, even before a
// restart: the ids are kept in the database.
func (n *Notifier) firstSeen(key string, now time.Time) error {
	first, err := n.replays.First(Name+":"+key, now)
	if err != nil {
		n.log.Error("cannot record a request id; refusing the request", "err", err)
		return errReplay
	}
	if !first {
		return errReplay
	}
	return nil
}

// spawn runs work in the background after the acknowledgement was sent.
func (n *Notifier) spawn(i *discordgo.Interaction, work func(ctx context.Context)) {
	n.work.Add(1)
	go func() {
		defer n.work.Done()
		defer func() {
			if r := recover(); r != nil {
				n.log.Error("interaction work panicked", "interaction", i.ID, "panic", fmt.Sprint(r))
				// Do not leave the user looking at "thinking…".
				msg := &discordgo.WebhookParams{Content: "Something went wrong on our side; the error is logged. Please try again.", Flags: ephemeral, AllowedMentions: noMentions()}
				if _, err := n.session.FollowupMessageCreate(i, true, msg); err != nil {
					n.log.Error("answer interaction after panic", "interaction", i.ID, "err", redact(err, i.Token))
				}
			}
		}()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(n.baseCtx), workTimeout)
		defer cancel()
		work(ctx)
	}()
}

// handle decides the immediate answer to an interaction and the work to
// run after it is sent. Only cheap checks happen here: parsing, the role
// from the policy and form validation; everything touching the store runs
// in work.
func (n *Notifier) handle(i *discordgo.Interaction) (*discordgo.InteractionResponse, func(context.Context)) {
	switch i.Type {
	case discordgo.InteractionPing:
		return &discordgo.InteractionResponse{Type: discordgo.InteractionResponsePong}, nil
	case discordgo.InteractionApplicationCommandAutocomplete:
		return &discordgo.InteractionResponse{Type: discordgo.InteractionApplicationCommandAutocompleteResult, Data: &discordgo.InteractionResponseData{Choices: []*discordgo.ApplicationCommandOptionChoice{}}}, nil
	}
	id, ok := identityOf(i)
	if !ok {
		return say("Trailhound could not tell who you are, so it did nothing."), nil
	}
	if n.cfg.GuildID != "" && i.GuildID != "" && i.GuildID != n.cfg.GuildID {
		return say("Trailhound is not set up for this server."), nil
	}
	role := n.cfg.Roles.RoleOf(id)
	switch i.Type {
	case discordgo.InteractionApplicationCommand:
		return n.onCommand(i, id, role)
	case discordgo.InteractionMessageComponent:
		return n.onButton(i, id, role)
	case discordgo.InteractionModalSubmit:
		return n.onModal(i, id, role)
	}
	return nil, nil
}

// identityOf is the user behind an interaction: the guild member (with
// their role ids as groups) or, in a direct message, the user.
func identityOf(i *discordgo.Interaction) (bot.Identity, bool) {
	var u *discordgo.User
	var groups []string
	name := ""
	if i.Member != nil && i.Member.User != nil {
		u, groups, name = i.Member.User, i.Member.Roles, i.Member.Nick
	} else if i.User != nil {
		u = i.User
	}
	if u == nil || !isSnowflake(u.ID) {
		return bot.Identity{}, false
	}
	if name == "" {
		name = u.GlobalName
	}
	if name == "" {
		name = u.Username
	}
	return bot.Identity{Platform: Name, UserID: u.ID, Name: name, Groups: groups}, true
}

// say is an immediate answer seen only by the user.
func say(text string, comps ...discordgo.MessageComponent) *discordgo.InteractionResponse {
	return &discordgo.InteractionResponse{
		Type: discordgo.InteractionResponseChannelMessageWithSource,
		Data: &discordgo.InteractionResponseData{
			Content: clip(renderText(text, nil), maxContent), Flags: ephemeral, Components: comps,
			AllowedMentions: noMentions(),
		},
	}
}

// deferred acknowledges an interaction that will be answered later.
func deferred(eph bool) *discordgo.InteractionResponse {
	r := &discordgo.InteractionResponse{Type: discordgo.InteractionResponseDeferredChannelMessageWithSource}
	if eph {
		r.Data = &discordgo.InteractionResponseData{Flags: ephemeral}
	}
	return r
}

// deferredUpdate acknowledges a button or form on a message that will be
// edited later.
func deferredUpdate() *discordgo.InteractionResponse {
	return &discordgo.InteractionResponse{Type: discordgo.InteractionResponseDeferredMessageUpdate}
}

// onCommand answers /trailhound. Bad arguments get the usage line at once;
// otherwise the command is deferred (privately unless its answer is for
// the channel) and run in the background.
func (n *Notifier) onCommand(i *discordgo.Interaction, id bot.Identity, role bot.Role) (*discordgo.InteractionResponse, func(context.Context)) {
	data, ok := i.Data.(discordgo.ApplicationCommandInteractionData)
	if !ok || data.Name != commandName {
		return say("Trailhound does not know that command."), nil
	}
	text, err := commandText(data)
	var cmd bot.Command
	if err == nil {
		cmd, err = bot.ParseCommand(text)
	}
	if err != nil {
		var ue *bot.UsageError
		if errors.As(err, &ue) {
			return say(ue.Msg + ". Usage: `" + ue.Usage + "`"), nil
		}
		return say("Trailhound could not read that command."), nil
	}
	if cmd.Name == "activity" {
		return deferred(false), func(ctx context.Context) { n.activityCommand(ctx, i, id, role, cmd) }
	}
	public := publicCommand(cmd)
	return deferred(!public), func(ctx context.Context) {
		reply := n.svc.Run(ctx, id, role, cmd)
		n.finishDeferred(ctx, i, !public, reply)
	}
}

// finishDeferred answers a deferred command. Discord fixes a deferred
// answer's visibility when it is acknowledged; when the answer turns out
// to need the other visibility (a refusal of a public command), the
// placeholder is deleted and the answer sent as a follow-up instead.
func (n *Notifier) finishDeferred(ctx context.Context, i *discordgo.Interaction, deferredEphemeral bool, reply bot.Reply) {
	if reply.Alert != nil {
		if ref, ok := reply.Alert.Message(Name); ok {
			if err := n.redraw(ctx, ref, *reply.Alert); err != nil {
				n.log.Error("redraw alert after command", "alert", reply.Alert.ID, "err", err)
			}
		}
	}
	opt := discordgo.WithContext(ctx)
	if reply.Ephemeral == deferredEphemeral {
		if _, err := n.session.InteractionResponseEdit(i, n.render.replyEdit(reply), opt); err != nil {
			n.log.Error("answer command", "interaction", i.ID, "err", redact(err, i.Token))
		}
		return
	}
	if err := n.session.InteractionResponseDelete(i, opt); err != nil {
		n.log.Warn("delete placeholder answer", "interaction", i.ID, "err", redact(err, i.Token))
	}
	if _, err := n.session.FollowupMessageCreate(i, true, n.render.replyFollowup(reply, reply.Ephemeral), opt); err != nil {
		n.log.Error("answer command", "interaction", i.ID, "err", redact(err, i.Token))
	}
}

// onButton answers a card button. "Open remediation task" and "Suppress
// similar" open their form when the user may use them; every other press
// (and a press the user's role does not allow, which the core refuses and
// audits) is acknowledged as a deferred update and carried out in the
// background.
func (n *Notifier) onButton(i *discordgo.Interaction, id bot.Identity, role bot.Role) (*discordgo.InteractionResponse, func(context.Context)) {
	data, ok := i.Data.(discordgo.MessageComponentInteractionData)
	if !ok {
		return say("Trailhound does not know that button."), nil
	}
	op, alertID, err := bot.ParseActionID(data.CustomID)
	if err != nil {
		return say("Trailhound does not know that button; it may be from an older version."), nil
	}
	if op == bot.OpActivity {
		return deferredUpdate(), func(ctx context.Context) { n.activityButton(ctx, i, id, role, alertID) }
	}
	if role >= bot.MinRole[op] {
		switch op {
		case bot.OpTask:
			return taskModal(alertID), nil
		case bot.OpSuppress:
			return suppressModal(alertID), nil
		}
	}
	return deferredUpdate(), func(ctx context.Context) {
		reply := n.svc.Do(ctx, id, role, op, alertID, bot.OpOptions{})
		n.afterAction(ctx, i, reply)
	}
}

// onModal answers a submitted form. A form with mistakes is answered at
// once, privately, with what to fix and a button to open it again.
func (n *Notifier) onModal(i *discordgo.Interaction, id bot.Identity, role bot.Role) (*discordgo.InteractionResponse, func(context.Context)) {
	data, ok := i.Data.(discordgo.ModalSubmitInteractionData)
	if !ok {
		return say("Trailhound does not know that form."), nil
	}
	op, alertID, err := bot.ParseActionID(data.CustomID)
	if err != nil || (op != bot.OpTask && op != bot.OpSuppress) {
		return say("Trailhound does not know that form; it may be from an older version."), nil
	}
	values := modalValues(data)
	var opts bot.OpOptions
	switch op {
	case bot.OpTask:
		opts.Task, err = parseTaskForm(values, id, n.now())
	case bot.OpSuppress:
		opts.SuppressFor, opts.Note, err = parseSuppressForm(values)
	}
	if err != nil {
		again := discordgo.ActionsRow{Components: []discordgo.MessageComponent{
			discordgo.Button{Label: "Open the form again", Style: discordgo.PrimaryButton, CustomID: bot.ActionID(op, alertID)},
		}}
		return say("Nothing was changed: "+err.Error(), again), nil
	}
	work := func(ctx context.Context) {
		reply := n.svc.Do(ctx, id, role, op, alertID, opts)
		if i.Message == nil {
			n.finishDeferred(ctx, i, true, reply)
			return
		}
		n.afterAction(ctx, i, reply)
	}
	if i.Message == nil {
		return deferred(true), work
	}
	return deferredUpdate(), work
}

// afterAction shows the result of a button or form on a message. A card
// is redrawn in place (and the alert's own message too, when the button
// was elsewhere); a question with buttons ("was this you?") loses its
// buttons once answered. Then the reply follows, privately or not as the
// core says.
func (n *Notifier) afterAction(ctx context.Context, i *discordgo.Interaction, reply bot.Reply) {
	opt := discordgo.WithContext(ctx)
	m := i.Message
	a := reply.Alert
	switch {
	case m != nil && len(m.Embeds) > 0 && a != nil:
		err := n.guarded(ctx, m.ID, *a, func(ctx context.Context, a workflows.Alert) error {
			me := n.render.cardEdit(bot.CardFor(a), m.ChannelID, m.ID)
			_, err := n.session.InteractionResponseEdit(i, &discordgo.WebhookEdit{Embeds: me.Embeds, Components: me.Components, AllowedMentions: noMentions()}, discordgo.WithContext(ctx))
			return err
		})
		if err != nil {
			n.log.Error("redraw message after action", "alert", a.ID, "err", redact(err, i.Token))
		}
	case m != nil && len(m.Embeds) == 0 && !reply.Refused:
		if _, err := n.session.InteractionResponseEdit(i, &discordgo.WebhookEdit{Components: &[]discordgo.MessageComponent{}, AllowedMentions: noMentions()}, opt); err != nil {
			n.log.Error("remove answered buttons", "interaction", i.ID, "err", redact(err, i.Token))
		}
	}
	if a != nil {
		if main, ok := a.Message(Name); ok && (m == nil || m.ID != main.MessageID) {
			if err := n.redraw(ctx, main, *a); err != nil {
				n.log.Error("redraw alert after action", "alert", a.ID, "err", err)
			}
		}
	}
	if reply.Text == "" && reply.Card == nil {
		return
	}
	if _, err := n.session.FollowupMessageCreate(i, true, n.render.replyFollowup(reply, reply.Ephemeral), opt); err != nil {
		n.log.Error("answer action", "interaction", i.ID, "err", redact(err, i.Token))
	}
}

// redacted hides an interaction token that a URL in an error may carry.
type redacted struct {
	err   error
	token string
}

func (r redacted) Error() string {
	if r.token == "" {
		return r.err.Error()
	}
	return strings.ReplaceAll(r.err.Error(), r.token, "[interaction-token]")
}

func (r redacted) Unwrap() error { return r.err }

func redact(err error, token string) error {
	if err == nil {
		return nil
	}
	return redacted{err, token}
}
