package slack

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/trailhound/trailhound/bot"
	"github.com/trailhound/trailhound/configs"
)

// loadSection reads a config fixture and returns its notify.slack section.
func loadSection(t *testing.T, name string) configs.Section {
	t.Helper()
	path := filepath.Join("testdata", "config", name)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := configs.Parse(b, path, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("parse %s: %v", name, err)
	}
	return cfg.Notify.Slack
}

func resolveIn(dir string) func(string) string {
	return func(p string) string { return filepath.Join(dir, p) }
}

func TestParseConfigErrors(t *testing.T) {
	dir := filepath.Join("testdata", "config")
	for _, tc := range []struct {
		file, want string
	}{
		{"missing-token.yaml", "missing-token.yaml:3: notify.slack.bot_token: one of bot_token and bot_token_file is required"},
		{"both-tokens.yaml", "both-tokens.yaml:3: notify.slack.bot_token: give only one of bot_token and bot_token_file"},
		{"token-file-missing.yaml", "token-file-missing.yaml:3: notify.slack.bot_token_file: read secret file: open testdata/config/does-not-exist.txt: no such file or directory"},
		{"empty-secret-file.yaml", "empty-secret-file.yaml:5: notify.slack.signing_secret_file: secret file testdata/config/empty.txt is empty"},
		{"user-token.yaml", "user-token.yaml:3: notify.slack.bot_token: must be a bot token starting with xoxb-"},
		{"app-token-prefix.yaml", "app-token-prefix.yaml:4: notify.slack.app_token: must be an app-level token starting with xapp-"},
		{"socket-without-app-token.yaml", "socket-without-app-token.yaml:4: notify.slack.mode: socket mode needs app_token or app_token_file"},
		{"http-without-secret.yaml", "http-without-secret.yaml:4: notify.slack.mode: http mode needs signing_secret or signing_secret_file"},
		{"unknown-mode.yaml", `unknown-mode.yaml:4: notify.slack.mode: must be socket, http or off, not "websocket"`},
		{"missing-channel.yaml", "missing-channel.yaml:3: notify.slack.channel: is required: the id of the channel alerts go to, like C0123ABCD"},
		{"channel-name.yaml", `channel-name.yaml:4: notify.slack.channel: "#security" is not a channel id (like C0123ABCD; find it under the channel's details)`},
		{"bad-api-url.yaml", "bad-api-url.yaml:5: notify.slack.api_url: must be an http or https URL, like https://slack.com/api/"},
		{"bad-command.yaml", `bad-command.yaml:5: notify.slack.command: "trailhound" is not a slash command (like /trailhound)`},
		{"bad-raw-event-url.yaml", "bad-raw-event-url.yaml:5: notify.slack.raw_event_url: unknown placeholder: use {account}, {region}, {event_id}, {source}"},
		{"bad-role-id.yaml", `bad-role-id.yaml:7: notify.slack.roles.responder: "alice" is not a Slack user id (U...), user-group id (S...) or *`},
		{"unknown-role.yaml", "unknown-role.yaml:6: notify.slack.roles.admin: unknown key"},
		{"unknown-key.yaml", `unknown-key.yaml:3: notify.slack.bot_tokn: unknown key (did you mean "bot_token"?)`},
		{"short-group-ttl.yaml", "short-group-ttl.yaml:5: notify.slack.group_cache_ttl: must be at least 10s, so usergroups.list stays within Slack's rate limits"},
		{"long-rate-limit-wait.yaml", "long-rate-limit-wait.yaml:5: notify.slack.max_rate_limit_wait: must be at most 5m"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			_, err := ParseConfig(loadSection(t, tc.file), resolveIn(dir))
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			want := dir + string(filepath.Separator) + tc.want
			if err.Error() != want {
				t.Fatalf("error=%q\nwant   %q", err, want)
			}
			if strings.Contains(err.Error(), "secretvalue") {
				t.Fatalf("error %q shows a secret", err)
			}
		})
	}
}

func TestParseConfigValid(t *testing.T) {
	dir := filepath.Join("testdata", "config")
	c, err := ParseConfig(loadSection(t, "valid.yaml"), resolveIn(dir))
	if err != nil {
		t.Fatal(err)
	}
	if c.Mode != ModeSocket {
		t.Errorf("mode=%q, want socket (inferred from app_token)", c.Mode)
	}
	if c.APIURL != "https://slack.com/api/" || c.Command != "/trailhound" || c.RawEventURL != DefaultRawEventURL {
		t.Errorf("defaults: api_url=%q command=%q raw_event_url=%q", c.APIURL, c.Command, c.RawEventURL)
	}
	if c.GroupCacheTTL != DefaultGroupCacheTTL || c.MaxRateLimitWait != DefaultMaxRateLimitWait {
		t.Errorf("group_cache_ttl=%v max_rate_limit_wait=%v", c.GroupCacheTTL, c.MaxRateLimitWait)
	}
	want := bot.Policy{Analysts: []string{"U0ANALYST"}, Responders: []string{"S0ONCALL"}, Viewers: []string{"*"}}
	if !reflect.DeepEqual(c.Policy, want) {
		t.Errorf("policy=%+v, want %+v", c.Policy, want)
	}

	c, err = ParseConfig(loadSection(t, "valid-files.yaml"), resolveIn(dir))
	if err != nil {
		t.Fatal(err)
	}
	if c.BotToken.Reveal() != "xoxb-from-file" || c.SigningSecret.Reveal() != "8f742231b10e8888abcd99yyyzzz85a5" {
		t.Errorf("secrets from files not read and trimmed")
	}
	if c.Mode != ModeHTTP || c.Command != "/th" || c.RawEventURL != "" {
		t.Errorf("mode=%q command=%q raw_event_url=%q, want http, /th, off", c.Mode, c.Command, c.RawEventURL)
	}
	if s := strings.Join([]string{c.BotToken.String(), c.SigningSecret.String()}, " "); strings.Contains(s, "xoxb") {
		t.Errorf("secrets print as %q", s)
	}
}
