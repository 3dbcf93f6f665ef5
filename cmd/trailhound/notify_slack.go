package main

import (
	"github.com/trailhound/trailhound/bot/slack"
	"github.com/trailhound/trailhound/configs"
	"github.com/trailhound/trailhound/workflows"
)

// newSlackNotifier builds the Slack notifier from notify.slack. The
// embedded demo config has no such section: it posts to Slack when
// SLACK_BOT_TOKEN and SLACK_CHANNEL are set in the environment.
func newSlackNotifier(a *app, sec configs.Section) (workflows.Notifier, error) {
	if sec.IsZero() {
		if a.cfg.File != configs.DemoName {
			return nil, nil
		}
		var err error
		if sec, err = slackFromEnv(a.env.getenv); err != nil || sec.IsZero() {
			return nil, err
		}
	}
	cfg, err := slack.ParseConfig(sec, a.cfg.ResolvePath)
	if err != nil {
		return nil, err
	}
	if cfg.Mode == slack.ModeHTTP && a.cfg.HTTP.Listen == "" {
		return nil, sec.Errorf("mode", "http mode needs http.listen: Slack posts commands and interactions to %s and %s there", slack.PathCommands, slack.PathInteractions)
	}
	return slack.New(cfg, a.db, a.log)
}

// slackFromEnv writes the notify.slack section the demo's environment
// describes and parses it like a config file, so the same checks (and
// error messages) apply. SLACK_APP_TOKEN turns on Socket Mode; optional
// SLACK_ANALYSTS, SLACK_RESPONDERS and SLACK_VIEWERS are comma-separated
// Slack user or user-group ids (or "*") given those roles.
func slackFromEnv(getenv func(string) string) (configs.Section, error) {
	token, channel := getenv("SLACK_BOT_TOKEN"), getenv("SLACK_CHANNEL")
	if token == "" || channel == "" {
		return configs.Section{}, nil
	}
	opts := map[string]any{"bot_token": token, "channel": channel}
	if v := getenv("SLACK_APP_TOKEN"); v != "" {
		opts["app_token"] = v
	}
	return sectionFromEnv(getenv, "slack", "SLACK", opts)
}
