package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	slackapi "github.com/slack-go/slack"
	bolt "go.etcd.io/bbolt"

	"github.com/trailhound/trailhound/bot"
	"github.com/trailhound/trailhound/workflows"
)

// Name is the notifier's name in message references and config.
const Name = "slack"

// metadataType marks Trailhound's posts in Slack message metadata, so a
// post made just before a crash is found again instead of repeated.
const metadataType = "trailhound_alert"

// bucketPosts journals every post: written before the post with its
// outbox key, completed with the message's ts after it.
var bucketPosts = []byte("bot.slack.posts")

// journalKeep is how long post records are kept; the journal is pruned
// on the first write and every journalPruneEvery writes after it.
const (
	journalKeep       = 7 * 24 * time.Hour
	journalPruneEvery = 500
)

// lookupWindow bounds the history searched for a post whose outcome a
// crash hid: messages since the attempt began, less this margin for
// clock skew, and at most lookupPages pages of 100.
const (
	lookupWindow = time.Hour
	lookupPages  = 3
)

// Notifier posts alerts to one Slack workspace and, as a bot.Adapter,
// receives the buttons, modals and slash commands acting on them.
type Notifier struct {
	cfg  Config
	api  *slackapi.Client
	http *http.Client
	db   *bolt.DB
	log  *slog.Logger

	// now and sleep are the clock; tests replace them.
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error

	journalMu     sync.Mutex
	journalWrites int

	rateMu       sync.Mutex
	blockedUntil time.Time

	// redraws coalesces the redraws of each message; budget spaces the
	// calls that post or update in each channel.
	redraws *bot.Redrawer
	budget  *bot.Budget

	groups *groupCache
	seen   *seenCache

	// svc and ctx are set by Start; svc is nil for a notifier that only
	// posts.
	svc *bot.Service
	ctx context.Context
	// botUser is the bot's own user id, learnt at Start.
	botUser string
	bg      sync.WaitGroup
	// slots bounds the background work of interactions.
	slots chan struct{}
}

// New returns a Slack notifier. db keeps its post journal (bucket
// bot.slack.posts); log receives structured details of failures.
func New(cfg Config, db *bolt.DB, log *slog.Logger) (*Notifier, error) {
	if log == nil {
		log = slog.Default()
	}
	hc := &http.Client{Timeout: 20 * time.Second}
	opts := []slackapi.Option{slackapi.OptionAPIURL(cfg.APIURL), slackapi.OptionHTTPClient(hc)}
	if !cfg.AppToken.IsZero() {
		opts = append(opts, slackapi.OptionAppLevelToken(cfg.AppToken.Reveal()))
	}
	n := &Notifier{
		cfg:     cfg,
		api:     slackapi.New(cfg.BotToken.Reveal(), opts...),
		http:    hc,
		db:      db,
		log:     log.With("notifier", Name),
		ctx:     context.Background(),
		now:     time.Now,
		sleep:   sleepCtx,
		redraws: bot.NewRedrawer(Name, 0),
		budget:  bot.NewBudget(Name, 0, 0),
		slots:   make(chan struct{}, 32),
	}
	n.groups = &groupCache{ttl: cfg.GroupCacheTTL, n: n}
	seen, err := newSeenCache(db, n.log)
	if err != nil {
		return nil, fmt.Errorf("slack: %w", err)
	}
	n.seen = seen
	err = db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketPosts)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("slack: create bucket: %w", err)
	}
	return n, nil
}

// Name implements workflows.Notifier.
func (*Notifier) Name() string { return Name }

// Notify implements workflows.Notifier: it posts, redraws or replies in
// the alert's thread as the notification asks. Posting is idempotent by
// the notification's key, across retries and restarts.
func (n *Notifier) Notify(ctx context.Context, note workflows.Notification) (workflows.MessageRef, bool, error) {
	m := bot.MessageFor(note)
	ref, err := n.notify(ctx, note, m)
	if err != nil {
		retry := retryable(err)
		return workflows.MessageRef{}, retry, err
	}
	return ref, false, nil
}

func (n *Notifier) notify(ctx context.Context, note workflows.Notification, m bot.Message) (workflows.MessageRef, error) {
	if m.Replace && note.Ref.MessageID != "" {
		return note.Ref, n.redraw(ctx, note.Ref.Channel, note.Ref.MessageID, note.Alert)
	}
	if m.InThread && note.Ref.MessageID != "" {
		p := MessagePayload(m, n.cfg.RawEventURL)
		if _, _, err := n.post(ctx, note.Key, note.Ref.Channel, note.Ref.MessageID, p, note.Alert.ID); err != nil {
			return workflows.MessageRef{}, err
		}
		if note.Kind != workflows.NotifyRepeat {
			return note.Ref, nil
		}
		// The parent card shows the count: redraw it too.
		return note.Ref, n.redraw(ctx, note.Ref.Channel, note.Ref.MessageID, note.Alert)
	}
	channel, skip, err := n.target(ctx, note)
	if err != nil || skip {
		return workflows.MessageRef{}, err
	}
	p := MessagePayload(m, n.cfg.RawEventURL)
	if m.Replace || m.InThread {
		// Never posted here (muted when it arrived, or the first post
		// failed for good): post the card now, as a new alert.
		p = CardPayload(bot.CardFor(note.Alert), "", n.cfg.RawEventURL)
	}
	ch, ts, err := n.post(ctx, note.Key, channel, "", p, note.Alert.ID)
	if err != nil {
		return workflows.MessageRef{}, err
	}
	if m.Attachment != nil {
		if err := n.upload(ctx, note.Key, ch, m.Attachment); err != nil {
			return workflows.MessageRef{}, err
		}
	}
	if m.Card == nil && !m.Replace && !m.InThread {
		// Reminders, digests and questions are not redrawn later.
		return workflows.MessageRef{}, nil
	}
	// Alert cards (new, escalated, or posted late) are redrawn on every
	// later change.
	return workflows.MessageRef{Notifier: Name, Channel: ch, MessageID: ts}, nil
}

// LookupUserByEmail implements workflows.UserLookup, so "was this you?"
// reaches principals known by their email (users:read.email scope).
func (n *Notifier) LookupUserByEmail(ctx context.Context, email string) (string, error) {
	var u *slackapi.User
	err := n.call(ctx, func() error {
		var err error
		u, err = n.api.GetUserByEmailContext(ctx, email)
		return err
	})
	var se slackapi.SlackErrorResponse
	if errors.As(err, &se) && se.Err == "users_not_found" {
		return "", permanent(fmt.Errorf("slack: no Slack user has the email %s", email))
	}
	if err != nil {
		return "", fmt.Errorf("slack: look up user by email: %w", err)
	}
	return u.ID, nil
}

// target returns the channel a notification goes to: a direct message,
// the routed channel or the default one. skip is set when the target
// belongs to another platform.
func (n *Notifier) target(ctx context.Context, note workflows.Notification) (channel string, skip bool, err error) {
	if note.DirectTo != "" {
		user, ours := platformID(note.DirectTo)
		if !ours {
			return "", true, nil
		}
		if !userIDRe.MatchString(user) {
			return "", false, permanent(fmt.Errorf("slack: direct message: %q is not a Slack user id", truncate(note.DirectTo, 40)))
		}
		var ch *slackapi.Channel
		err := n.call(ctx, func() error {
			var err error
			ch, _, _, err = n.api.OpenConversationContext(ctx, &slackapi.OpenConversationParameters{Users: []string{user}, ReturnIM: true})
			return err
		})
		if err != nil {
			return "", false, fmt.Errorf("slack: open direct message: %w", err)
		}
		return ch.ID, false, nil
	}
	if note.Channel == "" {
		return n.cfg.Channel, false, nil
	}
	ch, ours := platformID(note.Channel)
	if !ours {
		return "", true, nil
	}
	if !channelIDRe.MatchString(ch) {
		return "", false, permanent(fmt.Errorf("slack: %q is not a Slack channel id", truncate(note.Channel, 40)))
	}
	return ch, false, nil
}

// platformID strips a "slack:" prefix; ours is false for another
// platform's id ("discord:...").
func platformID(id string) (string, bool) {
	if p, rest, ok := strings.Cut(id, ":"); ok {
		return rest, p == Name
	}
	return id, true
}

// postRecord is one journal entry.
type postRecord struct {
	Channel string    `json:"channel"`
	Thread  string    `json:"thread,omitempty"`
	TS      string    `json:"ts,omitempty"`
	Started time.Time `json:"started"`
	// FileDone records that the post's attachment was uploaded.
	FileDone bool `json:"file_done,omitempty"`
}

// post posts a payload once per key. The journal records the attempt
// before the post and its ts after; an attempt without a ts (the process
// died or the answer was lost) is searched for in the channel by its
// metadata before posting again.
func (n *Notifier) post(ctx context.Context, key, channel, thread string, p Payload, alertID string) (string, string, error) {
	rec, found, err := n.journal(key)
	if err != nil {
		return "", "", err
	}
	if found && rec.TS != "" {
		return rec.Channel, rec.TS, nil
	}
	if found && rec.Channel == channel && rec.Thread == thread {
		ts, err := n.lookup(ctx, channel, thread, key, rec.Started)
		switch {
		case err != nil && retryable(err):
			return "", "", fmt.Errorf("slack: look for an earlier post: %w", err)
		case err != nil:
			// Without history access (a missing channels:history scope) a
			// possible duplicate is better than a lost alert.
			n.log.Warn("cannot look for an earlier post; posting again", "key", key, "channel", channel, "err", err)
		}
		if ts != "" {
			n.log.Info("found earlier post; not posting again", "key", key, "channel", channel, "ts", ts)
			rec.TS = ts
			return channel, ts, n.record(key, rec)
		}
	}
	rec = postRecord{Channel: channel, Thread: thread, Started: n.now().UTC()}
	if err := n.record(key, rec); err != nil {
		return "", "", err
	}
	opts := append(p.options(false), slackapi.MsgOptionMetadata(slackapi.SlackMetadata{
		EventType:    metadataType,
		EventPayload: map[string]any{"key": key, "alert_id": alertID},
	}))
	if thread != "" {
		opts = append(opts, slackapi.MsgOptionTS(thread))
	}
	var ch, ts string
	err = n.callIn(ctx, channel, func() error {
		var err error
		ch, ts, err = n.api.PostMessageContext(ctx, channel, opts...)
		return err
	})
	if err != nil {
		return "", "", fmt.Errorf("slack: post message: %w", err)
	}
	rec.Channel, rec.TS = ch, ts
	return ch, ts, n.record(key, rec)
}

// lookup searches the channel (or thread) for a post carrying key in its
// metadata, from shortly before since. It returns the post's ts or "".
func (n *Notifier) lookup(ctx context.Context, channel, thread, key string, since time.Time) (string, error) {
	oldest := fmt.Sprintf("%d.000000", since.Add(-lookupWindow).Unix())
	cursor := ""
	for range lookupPages {
		var msgs []slackapi.Message
		err := n.call(ctx, func() error {
			if thread != "" {
				var err error
				msgs, _, cursor, err = n.api.GetConversationRepliesContext(ctx, &slackapi.GetConversationRepliesParameters{ChannelID: channel, Timestamp: thread, Oldest: oldest, Limit: 100, Cursor: cursor, IncludeAllMetadata: true})
				return err
			}
			res, err := n.api.GetConversationHistoryContext(ctx, &slackapi.GetConversationHistoryParameters{ChannelID: channel, Oldest: oldest, Limit: 100, Cursor: cursor, IncludeAllMetadata: true})
			if err != nil {
				return err
			}
			msgs, cursor = res.Messages, ""
			if res.HasMore {
				cursor = res.ResponseMetaData.NextCursor
			}
			return nil
		})
		if err != nil {
			return "", err
		}
		for _, m := range msgs {
			if m.Metadata.EventType == metadataType && m.Metadata.EventPayload["key"] == key {
				return m.Timestamp, nil
			}
		}
		if cursor == "" {
			break
		}
	}
	return "", nil
}

// upload shares a file in the channel after its post, once per key.
func (n *Notifier) upload(ctx context.Context, key, channel string, a *workflows.Attachment) error {
	rec, _, err := n.journal(key)
	if err != nil || rec.FileDone {
		return err
	}
	if len(a.Data) == 0 {
		return nil
	}
	err = n.callIn(ctx, channel, func() error {
		_, err := n.api.UploadFileContext(ctx, slackapi.UploadFileParameters{
			Reader:   bytes.NewReader(a.Data),
			FileSize: len(a.Data),
			Filename: a.Name,
			Title:    a.Name,
			Channel:  channel,
		})
		return err
	})
	if err != nil {
		return fmt.Errorf("slack: upload %s: %w", a.Name, err)
	}
	rec.FileDone = true
	return n.record(key, rec)
}

func (n *Notifier) journal(key string) (postRecord, bool, error) {
	var rec postRecord
	found := false
	err := n.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketPosts).Get([]byte(key))
		if v == nil {
			return nil
		}
		found = true
		return json.Unmarshal(v, &rec)
	})
	if err != nil {
		return rec, false, fmt.Errorf("slack: read post journal: %w", err)
	}
	return rec, found, nil
}

func (n *Notifier) record(key string, rec postRecord) error {
	v, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	n.journalMu.Lock()
	prune := n.journalWrites%journalPruneEvery == 0
	n.journalWrites++
	n.journalMu.Unlock()
	err = n.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketPosts)
		if prune {
			if err := pruneJournal(b, n.now()); err != nil {
				return err
			}
		}
		return b.Put([]byte(key), v)
	})
	if err != nil {
		return fmt.Errorf("slack: write post journal: %w", err)
	}
	return nil
}

// pruneJournal drops records older than journalKeep.
func pruneJournal(b *bolt.Bucket, now time.Time) error {
	var old [][]byte
	err := b.ForEach(func(k, v []byte) error {
		var rec postRecord
		if json.Unmarshal(v, &rec) != nil || now.Sub(rec.Started) > journalKeep {
			old = append(old, append([]byte(nil), k...))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range old {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// redraw updates an alert's message in place with its current card. Both
// the outbox (NotifyUpdate) and the interaction handlers call it; redraws
// of one message are coalesced (bot.Redrawer), so a burst of changes makes
// one chat.update per second, and a state older than the one shown, or the
// one already shown, makes none.
func (n *Notifier) redraw(ctx context.Context, channel, ts string, a workflows.Alert) error {
	return n.redraws.Redraw(ctx, channel+"/"+ts, a, func(ctx context.Context, a workflows.Alert) error {
		p := CardPayload(bot.CardFor(a), "", n.cfg.RawEventURL)
		err := n.callIn(ctx, channel, func() error {
			_, _, _, err := n.api.UpdateMessageContext(ctx, channel, ts, p.options(true)...)
			return err
		})
		if err != nil {
			return fmt.Errorf("slack: update message: %w", err)
		}
		return nil
	})
}

// callIn is call for a request that posts or updates in channel: it
// first waits for the channel's budget.
func (n *Notifier) callIn(ctx context.Context, channel string, f func() error) error {
	if err := n.budget.Wait(ctx, channel); err != nil {
		return err
	}
	return n.call(ctx, f)
}

// call runs one Slack API call, honouring rate limits: while Slack has
// asked us to wait, calls wait (up to MaxRateLimitWait) before going out;
// a 429 is retried once after its Retry-After when that is short enough.
func (n *Notifier) call(ctx context.Context, f func() error) error {
	for attempt := 0; ; attempt++ {
		n.rateMu.Lock()
		wait := n.blockedUntil.Sub(n.now())
		n.rateMu.Unlock()
		if wait > 0 {
			if wait > n.cfg.MaxRateLimitWait {
				return &slackapi.RateLimitedError{RetryAfter: wait}
			}
			if err := n.sleep(ctx, wait); err != nil {
				return err
			}
		}
		// Right before the request: a replica that lost its lease
		// while waiting sends nothing.
		if err := workflows.CheckFence(ctx); err != nil {
			return err
		}
		err := f()
		var rl *slackapi.RateLimitedError
		if !errors.As(err, &rl) {
			return err
		}
		n.rateMu.Lock()
		if until := n.now().Add(rl.RetryAfter); until.After(n.blockedUntil) {
			n.blockedUntil = until
		}
		n.rateMu.Unlock()
		n.log.Warn("slack rate limit", "retry_after", rl.RetryAfter)
		if attempt > 0 || rl.RetryAfter > n.cfg.MaxRateLimitWait {
			return err
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// permanentError marks an error that retrying will not fix.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

func permanent(err error) error { return permanentError{err} }

// Slack error codes that a retry can fix; any other error code is
// permanent (invalid_auth, channel_not_found, not_in_channel, ...).
var retryableCodes = map[string]bool{
	"ratelimited": true, "rate_limited": true, "internal_error": true, "fatal_error": true,
	"service_unavailable": true, "request_timeout": true, "team_added_to_org": true,
}

// retryable classifies an error from a Slack call.
func retryable(err error) bool {
	var perm permanentError
	var rl *slackapi.RateLimitedError
	var sc slackapi.StatusCodeError
	var se slackapi.SlackErrorResponse
	var ne net.Error
	switch {
	case errors.As(err, &perm):
		return false
	case errors.As(err, &rl):
		return true
	case errors.As(err, &sc):
		return sc.Code == http.StatusTooManyRequests || sc.Code == http.StatusRequestTimeout || sc.Code >= 500
	case errors.As(err, &se):
		return retryableCodes[se.Err]
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne):
		return true
	}
	// Anything else from the client (a dropped connection, a half-read
	// body) is transport trouble.
	msg := err.Error()
	return strings.Contains(msg, "EOF") || strings.Contains(msg, "connection")
}
