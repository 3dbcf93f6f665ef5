package slack

import (
	"context"
	"fmt"
	"sync"
	"time"

	slackapi "github.com/slack-go/slack"

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
// ids) so a replayed or retried request is applied once.
type seenCache struct {
	mu   sync.Mutex
	seen map[string]time.Time
	next time.Time
}

func newSeenCache() *seenCache { return &seenCache{seen: map[string]time.Time{}} }

// first records key and reports whether it was not seen within seenTTL.
// An empty key is always new.
func (c *seenCache) first(key string, now time.Time) bool {
	if key == "" {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if now.After(c.next) {
		for k, t := range c.seen {
			if now.Sub(t) > seenTTL {
				delete(c.seen, k)
			}
		}
		c.next = now.Add(time.Minute)
	}
	if t, ok := c.seen[key]; ok && now.Sub(t) <= seenTTL {
		return false
	}
	c.seen[key] = now
	return true
}
