package discord

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/bwmarrin/discordgo"
)

// The start-up steps, each done once: the application lookup, the command
// registration and the gateway connection. connect resumes where the last
// attempt stopped.
type startState struct {
	registered bool
	open       bool
	// err is why the last attempt stopped; nil once every step is done.
	err error
}

// maxStartBackoff bounds the wait between two start-up attempts.
const maxStartBackoff = time.Minute

// Ready implements readiness for `trailhound run`: nil once Discord has
// answered every start-up call, else what is still failing.
func (n *Notifier) Ready() error {
	n.startMu.Lock()
	defer n.startMu.Unlock()
	if n.start.err != nil {
		return fmt.Errorf("not connected yet, retrying: %s", strings.TrimPrefix(n.start.err.Error(), Name+": "))
	}
	return nil
}

// connect does the start-up steps not done yet and records the outcome.
func (n *Notifier) connect(ctx context.Context) error {
	n.startMu.Lock()
	defer n.startMu.Unlock()
	n.start.err = n.connectLocked(ctx)
	return n.start.err
}

func (n *Notifier) connectLocked(ctx context.Context) error {
	if n.appID == "" {
		app, err := n.session.Application("@me")
		if err != nil {
			return fmt.Errorf("discord: look up the application of the bot token at %s: %w", n.apiURL("oauth2/applications/@me"), n.named(err))
		}
		n.appID = app.ID
	}
	if n.cfg.RegisterCommands && !n.start.registered {
		_, err := n.session.ApplicationCommandBulkOverwrite(n.appID, n.cfg.GuildID, []*discordgo.ApplicationCommand{applicationCommand()}, discordgo.WithContext(ctx))
		if err != nil {
			path := "applications/" + n.appID + "/commands"
			if n.cfg.GuildID != "" {
				path = "applications/" + n.appID + "/guilds/" + n.cfg.GuildID + "/commands"
			}
			return fmt.Errorf("discord: register /%s at %s: %w", commandName, n.apiURL(path), n.named(err))
		}
		n.start.registered = true
	}
	if n.cfg.Gateway() && !n.start.open {
		if err := n.openGateway(ctx); err != nil {
			return err
		}
		n.start.open = true
	}
	n.log.Info("discord ready", "mode", n.cfg.Mode, "guild", n.cfg.GuildID)
	return nil
}

// openGateway connects to the gateway, once: discordgo reconnects by
// itself afterwards.
func (n *Notifier) openGateway(ctx context.Context) error {
	// discordgo's own messages (gateway reconnects and the like) go to
	// our log. Its debug level, which prints the identify payload with
	// the token, is never enabled.
	log := n.log
	discordgo.Logger = func(level, _ int, format string, a ...any) {
		if level <= discordgo.LogWarning {
			log.Warn("discordgo: " + fmt.Sprintf(format, a...))
		}
	}
	if !n.handlerAdded {
		n.session.Identify.Intents = discordgo.IntentsGuilds
		n.session.AddHandler(func(_ *discordgo.Session, ic *discordgo.InteractionCreate) { n.onGateway(ic.Interaction) })
		n.handlerAdded = true
	}
	if err := n.session.Open(); err != nil {
		return fmt.Errorf("discord: connect to the gateway (%s): %w", n.apiURL("gateway"), n.named(err))
	}
	go func() {
		<-ctx.Done()
		if err := n.session.Close(); err != nil {
			n.log.Warn("close gateway", "err", err)
		}
	}()
	return nil
}

// retryConnect repeats the start-up steps with backoff until they succeed
// or ctx ends.
func (n *Notifier) retryConnect(ctx context.Context) {
	for attempt := 0; ; attempt++ {
		t := time.NewTimer(n.backoff(attempt))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		err := n.connect(ctx)
		if err == nil {
			return
		}
		if ctx.Err() != nil {
			return
		}
		level := n.log.Warn
		if refusedAtStart(err) {
			level = n.log.Error // a token or permission changed meanwhile
		}
		level("discord still not reachable; retrying", "attempt", attempt+1, "err", err)
	}
}

// startBackoff waits 1s, 2s, 4s ... up to maxStartBackoff.
func startBackoff(attempt int) time.Duration {
	return min(time.Second<<min(attempt, 10), maxStartBackoff)
}

// refusedAtStart reports whether Discord refused a start-up call for a
// reason no retry fixes: a wrong token (401) or missing permission (403).
func refusedAtStart(err error) bool {
	st := httpStatus(err)
	return st == http.StatusUnauthorized || st == http.StatusForbidden
}

// apiURL is the URL of an API path as the notifier calls it.
func (n *Notifier) apiURL(path string) string {
	base := n.cfg.APIURL
	if base == "" {
		base = discordgo.EndpointAPI
	}
	return base + path
}

// named makes a transport error name the URL actually called: discordgo
// builds every URL on https://discord.com/api/v9/ and the rewriter sends
// it to api_url, but net/http reports the URL it was given.
func (n *Notifier) named(err error) error {
	var ue *url.Error
	if n.cfg.APIURL != "" && errors.As(err, &ue) {
		if rest, ok := strings.CutPrefix(ue.URL, discordgo.EndpointAPI); ok {
			ue.URL = n.cfg.APIURL + rest
		}
	}
	return err
}
