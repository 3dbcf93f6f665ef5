package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trailhound/trailhound/bot/discord"
)

const discordTestToken = "MTE0MDAwMDAwMDAwMDAwMDA5.GhYx1a.test-token-not-real-0123456789abcdef"

func TestDiscordFromEnv(t *testing.T) {
	env := map[string]string{
		"DISCORD_BOT_TOKEN":  discordTestToken,
		"DISCORD_CHANNEL_ID": "1100000000000000001",
		"DISCORD_GUILD_ID":   "1200000000000000001",
		"DISCORD_ANALYSTS":   "1500000000000000003, 1400000000000000003",
		"DISCORD_VIEWERS":    "*",
	}
	sec, err := discordFromEnv(func(k string) string { return env[k] })
	if err != nil || sec.IsZero() {
		t.Fatalf("section=%v err=%v", sec, err)
	}
	cfg, err := discord.Load(sec)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ChannelID != "1100000000000000001" || cfg.GuildID != "1200000000000000001" || len(cfg.Roles.Analysts) != 2 || len(cfg.Roles.Viewers) != 1 || cfg.Mode != discord.ModeGateway {
		t.Fatalf("config=%+v", cfg)
	}

	env["DISCORD_CHANNEL_ID"] = "#alerts"
	sec, _ = discordFromEnv(func(k string) string { return env[k] })
	_, err = discord.Load(sec)
	if err == nil || !strings.HasPrefix(err.Error(), "environment (DISCORD_*):") || !strings.Contains(err.Error(), `channel_id: "#alerts" is not a Discord channel id`) || strings.Contains(err.Error(), "test-token") {
		t.Fatalf("err=%v", err)
	}

	delete(env, "DISCORD_BOT_TOKEN")
	if sec, err := discordFromEnv(func(k string) string { return env[k] }); err != nil || !sec.IsZero() {
		t.Fatalf("without a token: section=%v err=%v, want none", sec, err)
	}
}

func TestValidateDiscordConfig(t *testing.T) {
	dir := inTempDir(t)
	write := func(name, discordSection string) string {
		p := filepath.Join(dir, name)
		cfg := "data_dir: ./data\n" + discordSection
		if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ok := write("ok.yaml", "notify:\n  discord:\n    bot_token: "+discordTestToken+"\n    channel_id: \"1100000000000000001\"\n")
	code, out, errOut := runCLI(t, "validate", ok)
	if code != exitOK || !strings.Contains(out, "notifiers: discord") {
		t.Fatalf("exit=%d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	noListen := write("http.yaml", "notify:\n  discord:\n    bot_token: "+discordTestToken+"\n    channel_id: \"1100000000000000001\"\n    mode: http\n    public_key: \""+strings.Repeat("ab", 32)+"\"\n")
	code, _, errOut = runCLI(t, "validate", noListen)
	if code != exitError || !strings.Contains(errOut, "notify.discord.mode: http mode needs http.listen") {
		t.Fatalf("exit=%d stderr=%s", code, errOut)
	}
	if bytes.Contains([]byte(out+errOut), []byte("test-token-not-real")) {
		t.Fatalf("the token was printed")
	}
}
