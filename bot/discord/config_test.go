package discord

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trailhound/trailhound/configs"
)

// loadFixture parses testdata/config/name as a whole config file and
// loads its notify.discord section.
func loadFixture(t *testing.T, name string) (Config, error) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "config", name))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := configs.Parse(b, name, func(string) (string, bool) { return "", false })
	if err != nil {
		return Config{}, err
	}
	return Load(cfg.Notify.Discord)
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		file string
		want string
	}{
		{"no-token.yaml", "no-token.yaml:3: notify.discord.bot_token: one of bot_token and bot_token_file is required"},
		{"both-tokens.yaml", "both-tokens.yaml:3: notify.discord.bot_token: give only one of bot_token and bot_token_file"},
		{"token-file-missing.yaml", "token-file-missing.yaml:3: notify.discord.bot_token_file: read secret file: open testdata/config/no-such-token-file: no such file or directory"},
		{"token-file-empty.yaml", "token-file-empty.yaml:3: notify.discord.bot_token_file: secret file testdata/config/empty-token.txt is empty"},
		{"bad-token.yaml", "bad-token.yaml:3: notify.discord.bot_token: does not look like a Discord bot token (three dot-separated parts, from Developer Portal > Bot > Reset Token)"},
		{"no-channel.yaml", "no-channel.yaml:3: notify.discord.channel_id: is required: the id of the channel alerts go to (Developer Mode, right-click the channel, Copy Channel ID)"},
		{"bad-channel.yaml", `bad-channel.yaml:4: notify.discord.channel_id: "#security-alerts" is not a Discord channel id (a number of 17 to 20 digits)`},
		{"bad-application-id.yaml", `bad-application-id.yaml:5: notify.discord.application_id: "trailhound" is not a Discord id (a number of 17 to 20 digits)`},
		{"bad-guild.yaml", `bad-guild.yaml:5: notify.discord.guild_id: "12345" is not a Discord server id (a number of 17 to 20 digits)`},
		{"bad-mode.yaml", `bad-mode.yaml:5: notify.discord.mode: must be gateway, http or both, not "websocket"`},
		{"http-without-key.yaml", "http-without-key.yaml:3: notify.discord.public_key: is required in http mode, to verify that interactions come from Discord"},
		{"bad-public-key.yaml", "bad-public-key.yaml:6: notify.discord.public_key: must be the application's public key: 64 hex digits (Developer Portal > General Information)"},
		{"bad-api-url.yaml", "bad-api-url.yaml:5: notify.discord.api_url: must be an http or https URL such as https://discord.com/api/v10/"},
		{"bad-role-id.yaml", `bad-role-id.yaml:5: notify.discord.roles: responder[0]: "@oncall" is not a Discord role or user id (a number of 17 to 20 digits) or "*"`},
		{"bad-raw-event-url.yaml", `bad-raw-event-url.yaml:5: notify.discord.raw_event_url: unknown placeholder in "https://console.example.com/events/{eventid}" (use {account}, {region}, {event_id}, {source})`},
		{"unknown-key.yaml", `unknown-key.yaml:4: notify.discord.chanel_id: unknown key (did you mean "channel_id"?)`},
		{"wrong-type.yaml", "wrong-type.yaml:6: notify.discord.roles.analyst: want a list, each item a string, got a string"},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			_, err := loadFixture(t, tc.file)
			if err == nil {
				t.Fatal("no error")
			}
			if got := err.Error(); got != tc.want {
				t.Fatalf("error=%q\n want %q", got, tc.want)
			}
			if strings.Contains(err.Error(), "test-token-not-real") || strings.Contains(err.Error(), "secret password") {
				t.Fatalf("error shows the token: %q", err)
			}
		})
	}
}

func TestConfigGood(t *testing.T) {
	c, err := loadFixture(t, "good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Token.Reveal() != testToken {
		t.Fatalf("token not read from the file")
	}
	if c.ApplicationID != testApp || c.ChannelID != testChannel || c.GuildID != testGuild || c.Mode != ModeBoth || !c.HTTP() || !c.Gateway() {
		t.Fatalf("config=%+v", c)
	}
	if c.APIURL != "http://127.0.0.1:9999/api/v10/" {
		t.Fatalf("api url=%q, want a trailing slash added", c.APIURL)
	}
	if len(c.PublicKey) != 32 || c.RawEventURL != "" || c.RegisterCommands {
		t.Fatalf("public key %d bytes, raw url %q, register %v", len(c.PublicKey), c.RawEventURL, c.RegisterCommands)
	}
	if len(c.Roles.Responders) != 2 || c.Roles.Viewers[0] != "*" {
		t.Fatalf("roles=%+v", c.Roles)
	}
	if s := fmt.Sprintf("%v %+v %#v", c, c, c); strings.Contains(s, "test-token-not-real") {
		t.Fatalf("printing the config shows the token: %s", s)
	}
}

func TestConfigDefaults(t *testing.T) {
	c, err := loadFixture(t, "minimal.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Token.Reveal() != testToken {
		t.Fatalf("the \"Bot \" prefix was not removed from the token")
	}
	if c.Mode != ModeGateway || c.HTTP() || c.APIURL != DefaultAPIURL || c.RawEventURL != DefaultRawEventURL || !c.RegisterCommands || c.ApplicationID != "" {
		t.Fatalf("defaults=%+v", c)
	}
}

// TestExampleConfig loads the commented notify.discord example of
// configs/example.yaml, uncommented, so the documentation stays valid.
func TestExampleConfig(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "configs", "example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var block []string
	in := false
	for _, line := range strings.Split(string(b), "\n") {
		if line == "  # discord:" {
			in = true
		}
		if in && !strings.HasPrefix(line, "  #") {
			break
		}
		if in {
			block = append(block, "  "+strings.TrimPrefix(line, "  # "))
		}
	}
	if len(block) < 10 {
		t.Fatalf("configs/example.yaml has no commented notify.discord example")
	}
	doc := "notify:\n" + strings.Join(block, "\n") + "\n"
	cfg, err := configs.Parse([]byte(doc), "example.yaml", func(k string) (string, bool) { return testToken, k == "DISCORD_BOT_TOKEN" })
	if err != nil {
		t.Fatalf("%v\n%s", err, doc)
	}
	c, err := Load(cfg.Notify.Discord)
	if err != nil {
		t.Fatalf("%v\n%s", err, doc)
	}
	if c.Mode != ModeGateway || c.ChannelID != "112233445566778899" || len(c.Roles.Analysts) != 1 || c.RawEventURL != DefaultRawEventURL {
		t.Fatalf("example=%+v", c)
	}
}
