package slack

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	slackapi "github.com/slack-go/slack"
	bolt "go.etcd.io/bbolt"

	"github.com/trailhound/trailhound/bot"
)

// groupCache knows which user groups each user belongs to, read with
// usergroups.list and trusted for ttl. Only policies naming groups need it.
type groupCache struct {
	ttl time.Duration
	n   *Notifier

	mu      sync.Mutex
	fetched time.Time
	byUser  map[string][]string
	// loading is closed when the fetch in progress ends.
	loading chan struct{}
}

// policyUsesGroups reports whether any role lists a user-group id.
func policyUsesGroups(p bot.Policy) bool {
	for _, ids := range [][]string{p.Analysts, p.Responders, p.Viewers} {
		for _, id := range ids {
			if groupIDRe.MatchString(id) {
				return true
			}
		}
	}
	return false
}

// groupsOf returns the user's user-group ids. When Slack cannot be asked,
// an expired list is used rather than none, and with no list at all the
// user has no groups: a failure never grants a role.
func (g *groupCache) groupsOf(ctx context.Context, user string) ([]string, error) {
	for {
		g.mu.Lock()
		if g.byUser != nil && g.n.now().Sub(g.fetched) < g.ttl {
			gs := g.byUser[user]
			g.mu.Unlock()
			return gs, nil
		}
		if wait := g.loading; wait != nil {
			g.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		done := make(chan struct{})
		g.loading = done
		g.mu.Unlock()

		byUser, err := g.fetch(ctx)

		g.mu.Lock()
		g.loading = nil
		close(done)
		if err != nil {
			stale := g.byUser[user]
			g.mu.Unlock()
			return stale, err
		}
		g.byUser, g.fetched = byUser, g.n.now()
		gs := byUser[user]
		g.mu.Unlock()
		return gs, nil
	}
}

func (g *groupCache) fetch(ctx context.Context) (map[string][]string, error) {
	var groups []slackapi.UserGroup
	err := g.n.call(ctx, func() error {
		var err error
		groups, err = g.n.api.GetUserGroupsContext(ctx, slackapi.GetUserGroupsOptionIncludeUsers(true))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("slack: list user groups: %w", err)
	}
	byUser := map[string][]string{}
	for _, gr := range groups {
		for _, u := range gr.Users {
			byUser[u] = append(byUser[u], gr.ID)
		}
	}
	return byUser, nil
}

// seenTTL is how long request identities are remembered: longer than
// the 5-minute signature window and Slack's retry schedule.
const seenTTL = 10 * time.Minute

// seenCache remembers request identities (signatures, event ids, trigger
// ids) so a replayed or retried request is applied once. They are kept in
// the database (bot.ReplayGuard), so a restart does not reopen the window.
type seenCache struct {
	guard *bot.ReplayGuard
	log   *slog.Logger
}

// newSeenCache returns the cache on db; a nil db keeps it in memory.
func newSeenCache(db *bolt.DB, log *slog.Logger) (*seenCache, error) {
	g, err := bot.NewReplayGuard(db, seenTTL)
	if err != nil {
		return nil, err
	}
	return &seenCache{guard: g, log: log}, nil
}

// first records key and reports whether it was not seen within seenTTL.
// An empty key is always new. When the database cannot record it, the
// request is treated as seen: better unanswered than applied twice.
func (c *seenCache) first(key string, now time.Time) bool {
	ok, err := c.guard.First(key, now)
	if err != nil {
		c.log.Error("cannot record a request id; ignoring the request", "err", err)
		return false
	}
	return ok
}
