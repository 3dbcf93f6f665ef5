package discord

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/bwmarrin/discordgo"
	bolt "go.etcd.io/bbolt"
)

// bucketPosts journals alert-card posts: nonce -> postEntry, written
// before the post is sent.
var bucketPosts = []byte("bot.discord.posts")

const (
	// journalTTL is how long a journalled post is remembered.
	journalTTL = 7 * 24 * time.Hour
	// historyLimit is how many recent channel messages are searched for a
	// post whose answer was lost.
	historyLimit = 100
)

// postEntry records that an alert card was about to be posted.
type postEntry struct {
	Channel string    `json:"channel"`
	Marker  string    `json:"marker"`
	At      time.Time `json:"at"`
}

// journal makes alert-card posts safe across crashes beyond the few
// minutes Discord honours a nonce: each post is recorded before it is
// sent, so a second attempt with the same outbox key knows a message may
// exist, and looks for it (by the alert id in the embed footer) in the
// channel's recent history before posting again.
type journal struct {
	db *bolt.DB
}

func newJournal(db *bolt.DB) (*journal, error) {
	if db == nil {
		return nil, nil
	}
	err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketPosts)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("discord: create bucket: %w", err)
	}
	return &journal{db: db}, nil
}

// begin records a post about to be sent under nonce, and returns the
// entry of an earlier attempt if there was one.
func (j *journal) begin(nonce string, e postEntry) (earlier postEntry, seen bool, err error) {
	err = j.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketPosts)
		if v := b.Get([]byte(nonce)); v != nil && json.Unmarshal(v, &earlier) == nil {
			seen = true
			return nil
		}
		// Forget old posts while here; the bucket stays small.
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			var old postEntry
			if json.Unmarshal(v, &old) != nil || e.At.Sub(old.At) > journalTTL {
				if err := c.Delete(); err != nil {
					return err
				}
			}
		}
		v, err := json.Marshal(e)
		if err != nil {
			return err
		}
		return b.Put([]byte(nonce), v)
	})
	if err != nil {
		return postEntry{}, false, fmt.Errorf("discord: journal post: %w", err)
	}
	return earlier, seen, nil
}

// findPosted looks for the card of an earlier attempt in the channel's
// recent messages: a bot message, not older than the attempt, whose embed
// footer carries the marker.
func (n *Notifier) findPosted(ctx context.Context, e postEntry) (*discordgo.Message, error) {
	msgs, err := n.session.ChannelMessages(e.Channel, historyLimit, "", "", "", discordgo.WithContext(ctx), discordgo.WithRetryOnRatelimit(false))
	if err != nil {
		return nil, fmt.Errorf("discord: read recent messages of %s: %w", e.Channel, n.named(err))
	}
	for _, m := range msgs {
		if m.Author == nil || !m.Author.Bot || (n.botID != "" && m.Author.ID != n.botID) {
			continue
		}
		if !m.Timestamp.IsZero() && m.Timestamp.Before(e.At.Add(-time.Minute)) {
			continue
		}
		for _, em := range m.Embeds {
			if em.Footer != nil && em.Footer.Text == e.Marker {
				if m.ChannelID == "" {
					m.ChannelID = e.Channel
				}
				return m, nil
			}
		}
	}
	return nil, nil
}

// botUserID reads the bot's user id from its token, whose first part is
// the id in base64; "" when the token is not shaped that way.
func botUserID(token string) string {
	first, _, _ := strings.Cut(token, ".")
	for _, enc := range []*base64.Encoding{base64.RawURLEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.StdEncoding} {
		if b, err := enc.DecodeString(first); err == nil && isSnowflake(string(b)) {
			return string(b)
		}
	}
	return ""
}

// cardMarker is the footer of an alert's card; it also finds the card
// again in a channel's history.
func cardMarker(alertID string) string {
	if alertID == "" {
		return "Trailhound"
	}
	return "Trailhound · " + alertID
}
