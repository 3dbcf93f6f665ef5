package main

import (
	"github.com/trailhound/trailhound/bot/discord"
	"github.com/trailhound/trailhound/configs"
	"github.com/trailhound/trailhound/workflows"
)

// newDiscordNotifier builds the Discord notifier from notify.discord. The
// embedded demo config has no such section: it posts to Discord when
// DISCORD_BOT_TOKEN and DISCORD_CHANNEL_ID are set in the environment.
func newDiscordNotifier(a *app, sec configs.Section) (workflows.Notifier, error) {
	if sec.IsZero() {
		if a.cfg.File != configs.DemoName {
			return nil, nil
		}
		var err error
		if sec, err = discordFromEnv(a.env.getenv); err != nil || sec.IsZero() {
			return nil, err
		}
	}
	cfg, err := discord.Load(sec)
	if err != nil {
		return nil, err
	}
	if cfg.HTTP() && a.cfg.HTTP.Listen == "" {
		return nil, sec.Errorf("mode", "%s mode needs http.listen: Discord posts interactions to %s there", cfg.Mode, discord.InteractionsPath)
	}
	return discord.New(cfg, a.db, a.log)
}

// discordFromEnv writes the notify.discord section the demo's environment
// describes and parses it like a config file, so the same checks (and
// error messages) apply. Optional: DISCORD_APPLICATION_ID,
// DISCORD_GUILD_ID, and DISCORD_ANALYSTS, DISCORD_RESPONDERS and
// DISCORD_VIEWERS, comma-separated Discord role or user ids (or "*").
func discordFromEnv(getenv func(string) string) (configs.Section, error) {
	token, channel := getenv("DISCORD_BOT_TOKEN"), getenv("DISCORD_CHANNEL_ID")
	if token == "" || channel == "" {
		return configs.Section{}, nil
	}
	opts := map[string]any{"bot_token": token, "channel_id": channel}
	if v := getenv("DISCORD_APPLICATION_ID"); v != "" {
		opts["application_id"] = v
	}
	if v := getenv("DISCORD_GUILD_ID"); v != "" {
		opts["guild_id"] = v
	}
	return sectionFromEnv(getenv, "discord", "DISCORD", opts)
}
