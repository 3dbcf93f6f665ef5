package discord

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/bwmarrin/discordgo"
	bolt "go.etcd.io/bbolt"

	"github.com/trailhound/trailhound/bot"
	"github.com/trailhound/trailhound/workflows"
)

// Name is the notifier's name in config and message references.
const Name = "discord"

// Notifier posts alerts to Discord and, once started as a bot.Adapter,
// receives the buttons, modals and /trailhound commands. One session
// serves both directions.
type Notifier struct {
	cfg     Config
	session *discordgo.Session
	render  renderer
	log     *slog.Logger
	// now returns the current time; tests replace it.
	now func() time.Time

	// redraws coalesces the edits of each alert message, so an edit
	// carrying an older state never overwrites a newer one and a burst of
	// changes makes one edit a second; budget spaces the calls that post
	// or edit in each channel.
	redraws *bot.Redrawer
	budget  *bot.Budget

	// posts journals alert-card posts (nil without a database).
	posts *journal
	// botID is the bot's user id, the author of its messages.
	botID string

	// startMu guards the start-up steps and their outcome (connect.go);
	// backoff spaces their retries.
	startMu      sync.Mutex
	start        startState
	handlerAdded bool
	backoff      func(attempt int) time.Duration

	// Set by Start.
	svc     *bot.Service
	appID   string
	baseCtx context.Context
	replays *bot.ReplayGuard
	work    sync.WaitGroup
}

// New builds the notifier. It does no network I/O: the token is first used
// when a message is posted or Start runs. db, when not nil, keeps the
// journal of alert-card posts (bucket bot.discord.posts) that prevents a
// duplicate card after a crash.
func New(cfg Config, db *bolt.DB, log *slog.Logger) (*Notifier, error) {
	if log == nil {
		log = slog.Default()
	}
	posts, err := newJournal(db)
	if err != nil {
		return nil, err
	}
	replays, err := bot.NewReplayGuard(db, replayTTL)
	if err != nil {
		return nil, fmt.Errorf("discord: %w", err)
	}
	s, err := discordgo.New("Bot " + cfg.Token.Reveal())
	if err != nil {
		return nil, fmt.Errorf("discord: %w", err)
	}
	// discordgo logs request headers (with the token) when Debug is set:
	// keep it off and its own logging at errors only.
	s.Debug = false
	s.LogLevel = discordgo.LogError
	s.StateEnabled = false
	s.MaxRestRetries = 1
	s.Client = &http.Client{Timeout: 20 * time.Second, Transport: newRewriter(cfg.APIURL)}
	s.UserAgent = "DiscordBot (https://github.com/trailhound/trailhound, 1) Trailhound"
	return &Notifier{
		cfg:     cfg,
		session: s,
		render:  renderer{rawEventURL: cfg.RawEventURL},
		log:     log.With("notifier", Name),
		now:     time.Now,
		redraws: bot.NewRedrawer(Name, 0),
		budget:  bot.NewBudget(Name, 0, 0),
		appID:   cfg.ApplicationID,
		posts:   posts,
		replays: replays,
		backoff: startBackoff,
		botID:   botUserID(cfg.Token.Reveal()),
	}, nil
}

// Name implements workflows.Notifier.
func (*Notifier) Name() string { return Name }

// rewriter sends discordgo's REST calls to another API base. discordgo
// builds every URL from package-level endpoint variables computed once
// from "https://discord.com/api/v10/"; assigning EndpointAPI afterwards
// changes none of the derived ones (EndpointChannels, ...), and the
// variables are shared by every session in the process. Rewriting the
// host in the session's own HTTP client is local to this notifier, covers
// every endpoint (including the gateway URL lookup) and is safe for tests
// running in parallel.
type rewriter struct {
	from, to string
	next     http.RoundTripper
}

func newRewriter(apiURL string) http.RoundTripper {
	next := http.DefaultTransport
	if apiURL == "" || apiURL == discordgo.EndpointAPI {
		return next
	}
	return &rewriter{from: discordgo.EndpointAPI, to: apiURL, next: next}
}

func (rw *rewriter) RoundTrip(r *http.Request) (*http.Response, error) {
	u := r.URL.String()
	if rest, ok := strings.CutPrefix(u, rw.from); ok {
		r2 := r.Clone(r.Context())
		nu, err := r.URL.Parse(rw.to + rest)
		if err != nil {
			return nil, fmt.Errorf("discord: rewrite API URL: %w", err)
		}
		r2.URL, r2.Host = nu, ""
		return rw.next.RoundTrip(r2)
	}
	return rw.next.RoundTrip(r)
}

// Notify implements workflows.Notifier: a new alert is posted as an embed
// with buttons to the routed or default channel (or a direct message), and
// its message returned; an update edits that message in place; repeats go
// into the message's thread; other kinds post text. Posts carry a nonce
// derived from the notification key with enforce_nonce, so a re-post
// within minutes of a crash returns the message already posted; alert
// cards are also journalled, so after a longer outage the card is found in
// the channel's history instead of being posted twice.
func (n *Notifier) Notify(ctx context.Context, note workflows.Notification) (workflows.MessageRef, bool, error) {
	m := bot.MessageFor(note)
	ref := note.Ref
	if ref.MessageID != "" && (m.Replace || m.InThread) {
		var err error
		if m.Replace {
			err = n.redraw(ctx, ref, note.Alert)
		} else {
			err = n.postInThread(ctx, ref, note, m)
		}
		if err != nil {
			return ref, retryable(err), err
		}
		return ref, false, nil
	}
	// A post is the alert's own message when it is new, or when an update
	// or repeat finds no message here yet (the first post failed, or
	// Discord was added later): then the card is posted now.
	main := note.Kind == workflows.NotifyNew
	if (m.Replace || m.InThread) && note.Alert.ID != "" {
		c := bot.CardFor(note.Alert)
		m, main = bot.Message{Card: &c, AlertID: note.Alert.ID, Mentions: note.Mentions}, true
	}
	channel, ok, err := n.target(ctx, note)
	if err != nil {
		return ref, retryable(err), err
	}
	if !ok {
		return ref, false, nil
	}
	if main && m.Card != nil && n.posts != nil && note.Key != "" {
		if err := workflows.CheckFence(ctx); err != nil {
			return ref, false, err
		}
		earlier, seen, err := n.posts.begin(nonceFor(note.Key), postEntry{Channel: channel, Marker: cardMarker(note.Alert.ID), At: n.now()})
		if err != nil {
			return ref, true, err
		}
		if seen {
			// An earlier attempt may have posted the card and died before
			// its reference was stored: find it rather than post twice.
			msg, err := n.findPosted(ctx, earlier)
			if err != nil {
				n.log.Warn("cannot check for an earlier post; posting (a duplicate is possible)", "alert", note.Alert.ID, "err", err)
			}
			if msg != nil {
				n.log.Info("found the card of an earlier attempt", "alert", note.Alert.ID, "message", msg.ID)
				return workflows.MessageRef{Notifier: Name, Channel: msg.ChannelID, MessageID: msg.ID}, false, nil
			}
		}
	}
	msg, err := n.send(ctx, channel, n.render.messageSend(m), note.Key)
	if err != nil {
		return ref, retryable(err), err
	}
	if main {
		return workflows.MessageRef{Notifier: Name, Channel: msg.ChannelID, MessageID: msg.ID}, false, nil
	}
	return ref, false, nil
}

// target picks the channel of a post: a direct-message channel when the
// notification is for one user, the routed channel, or the default one. A
// direct message for a user of another platform is not for Discord: ok is
// false and nothing is posted.
func (n *Notifier) target(ctx context.Context, note workflows.Notification) (string, bool, error) {
	if note.DirectTo != "" {
		uid := strings.TrimPrefix(note.DirectTo, "discord:")
		if !isSnowflake(uid) {
			n.log.Debug("direct message is for another platform", "alert", note.Alert.ID, "kind", note.Kind)
			return "", false, nil
		}
		ch, err := n.session.UserChannelCreate(uid, discordgo.WithContext(ctx))
		if err != nil {
			return "", false, fmt.Errorf("discord: open direct message with %s: %w", uid, n.named(err))
		}
		return ch.ID, true, nil
	}
	if c := strings.TrimPrefix(note.Channel, "discord:"); isSnowflake(c) {
		return c, true, nil
	}
	return n.cfg.ChannelID, true, nil
}

// createMessage is Discord's Create Message body with the nonce fields
// discordgo's MessageSend lacks.
type createMessage struct {
	*discordgo.MessageSend
	Nonce        string `json:"nonce,omitempty"`
	EnforceNonce bool   `json:"enforce_nonce,omitempty"`
}

// nonceFor derives a stable nonce (at most 25 characters, as Discord
// allows) from an outbox key.
func nonceFor(key string) string {
	if key == "" {
		return ""
	}
	sum := sha256.Sum256([]byte("trailhound:" + key))
	return hex.EncodeToString(sum[:])[:25]
}

// send posts a message with a nonce derived from key.
func (n *Notifier) send(ctx context.Context, channelID string, ms *discordgo.MessageSend, key string) (*discordgo.Message, error) {
	for _, e := range ms.Embeds {
		if e.Type == "" {
			e.Type = discordgo.EmbedTypeRich
		}
	}
	if err := n.budget.Wait(ctx, channelID); err != nil {
		return nil, err
	}
	// Right before the request: a replica that lost its lease while
	// waiting sends nothing.
	if err := workflows.CheckFence(ctx); err != nil {
		return nil, err
	}
	body := createMessage{MessageSend: ms, Nonce: nonceFor(key), EnforceNonce: key != ""}
	endpoint := discordgo.EndpointChannelMessages(channelID)
	var resp []byte
	var err error
	opts := []discordgo.RequestOption{discordgo.WithContext(ctx), discordgo.WithRetryOnRatelimit(false)}
	if len(ms.Files) > 0 {
		ct, b, encErr := discordgo.MultipartBodyWithJSON(body, ms.Files)
		if encErr != nil {
			return nil, fmt.Errorf("discord: encode message: %w", encErr)
		}
		resp, err = n.session.RequestRaw(http.MethodPost, endpoint, ct, b, endpoint, 0, opts...)
	} else {
		resp, err = n.session.RequestWithBucketID(http.MethodPost, endpoint, body, endpoint, opts...)
	}
	if err != nil {
		return nil, fmt.Errorf("discord: post to channel %s: %w", channelID, n.named(err))
	}
	var msg discordgo.Message
	if err := discordgo.Unmarshal(resp, &msg); err != nil || msg.ID == "" {
		return nil, fmt.Errorf("discord: post to channel %s: unreadable response", channelID)
	}
	if msg.ChannelID == "" {
		msg.ChannelID = channelID
	}
	return &msg, nil
}

// Discord JSON error codes the notifier handles.
const (
	codeUnknownChannel      = 10003
	codeThreadAlreadyExists = 160004
)

// postInThread posts a repeat ("12 more like this") in the thread of the
// alert's message, starting the thread on first use. A thread started from
// a message has the message's id (Discord documents this), so nothing has
// to be stored: the first post finds no thread (Unknown Channel), the
// thread is started, and the post is sent again. Where threads are not
// possible (a direct message) the repeat replies to the alert's message.
func (n *Notifier) postInThread(ctx context.Context, ref workflows.MessageRef, note workflows.Notification, m bot.Message) error {
	ms := n.render.messageSend(m)
	_, err := n.send(ctx, ref.MessageID, ms, note.Key)
	if err == nil || apiCode(err) != codeUnknownChannel {
		return err
	}
	name := clip(fmt.Sprintf("%s: similar findings", note.Alert.ID), 100)
	if err := workflows.CheckFence(ctx); err != nil {
		return err
	}
	_, terr := n.session.MessageThreadStartComplex(ref.Channel, ref.MessageID, &discordgo.ThreadStart{Name: name, AutoArchiveDuration: 10080}, discordgo.WithContext(ctx))
	switch {
	case terr == nil || apiCode(terr) == codeThreadAlreadyExists:
		_, err = n.send(ctx, ref.MessageID, n.render.messageSend(m), note.Key)
		return err
	case httpStatus(terr) == http.StatusBadRequest || httpStatus(terr) == http.StatusForbidden:
		// No threads here (a direct message) or no permission to start
		// one: reply to the alert's message instead.
		reply := n.render.messageSend(m)
		reply.Reference = &discordgo.MessageReference{MessageID: ref.MessageID, ChannelID: ref.Channel, FailIfNotExists: new(bool)}
		_, err = n.send(ctx, ref.Channel, reply, note.Key)
		return err
	}
	return fmt.Errorf("discord: start thread on %s: %w", ref.MessageID, n.named(terr))
}

// redraw edits the alert's message to show its current state.
func (n *Notifier) redraw(ctx context.Context, ref workflows.MessageRef, a workflows.Alert) error {
	return n.guarded(ctx, ref.MessageID, a, func(ctx context.Context, a workflows.Alert) error {
		if err := n.budget.Wait(ctx, ref.Channel); err != nil {
			return err
		}
		if err := workflows.CheckFence(ctx); err != nil {
			return err
		}
		_, err := n.session.ChannelMessageEditComplex(n.render.cardEdit(bot.CardFor(a), ref.Channel, ref.MessageID), discordgo.WithContext(ctx), discordgo.WithRetryOnRatelimit(false))
		if err != nil {
			return fmt.Errorf("discord: edit message %s: %w", ref.MessageID, n.named(err))
		}
		return nil
	})
}

// guarded draws an alert on a message through the notifier's Redrawer.
// Both the outbox redraw and the redraw after a button press come here,
// in either order: the newest state stays, and redraws close together
// make one edit.
func (n *Notifier) guarded(ctx context.Context, messageID string, a workflows.Alert, edit bot.DrawFunc) error {
	return n.redraws.Redraw(ctx, messageID, a, edit)
}

// retryable classifies an error from Discord: rate limits, server errors
// and network failures may pass; bad requests, missing permissions and
// unknown channels or messages will not.
func retryable(err error) bool {
	if err == nil {
		return false
	}
	var rl *discordgo.RateLimitError
	if errors.As(err, &rl) {
		return true
	}
	if st := httpStatus(err); st != 0 {
		return st == http.StatusTooManyRequests || st >= 500
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	if errors.Is(err, discordgo.ErrJSONUnmarshal) {
		return false
	}
	// discordgo's "Exceeded Max retries" after 502s, connection resets.
	return true
}

// httpStatus returns the HTTP status of a Discord REST error, or 0.
func httpStatus(err error) int {
	var re *discordgo.RESTError
	if errors.As(err, &re) && re.Response != nil {
		return re.Response.StatusCode
	}
	return 0
}

// apiCode returns Discord's JSON error code of a REST error, or 0.
func apiCode(err error) int {
	var re *discordgo.RESTError
	if errors.As(err, &re) && re.Message != nil {
		return re.Message.Code
	}
	return 0
}
