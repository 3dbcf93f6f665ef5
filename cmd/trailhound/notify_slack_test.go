package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/trailhound/trailhound/bot"
	"github.com/trailhound/trailhound/bot/slack"
)

const slackTestToken = "xoxb-1234-5678-not-a-real-token"

func TestSlackFromEnv(t *testing.T) {
	env := map[string]string{
		"SLACK_BOT_TOKEN":  slackTestToken,
		"SLACK_CHANNEL":    "C0SECURITY",
		"SLACK_APP_TOKEN":  "xapp-1-not-a-real-token",
		"SLACK_ANALYSTS":   "U0ALICE, S0SECOPS",
		"SLACK_RESPONDERS": "*",
	}
	sec, err := slackFromEnv(func(k string) string { return env[k] })
	if err != nil || sec.IsZero() {
		t.Fatalf("section=%v err=%v", sec, err)
	}
	cfg, err := slack.ParseConfig(sec, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := bot.Policy{Analysts: []string{"U0ALICE", "S0SECOPS"}, Responders: []string{"*"}}
	if cfg.Channel != "C0SECURITY" || cfg.Mode != slack.ModeSocket || !reflect.DeepEqual(cfg.Policy, want) {
		t.Fatalf("config=%+v", cfg)
	}

	env["SLACK_CHANNEL"] = "#alerts"
	sec, _ = slackFromEnv(func(k string) string { return env[k] })
	_, err = slack.ParseConfig(sec, nil)
	if err == nil || !strings.HasPrefix(err.Error(), "environment (SLACK_*):") || !strings.Contains(err.Error(), `channel: "#alerts" is not a channel id`) || strings.Contains(err.Error(), "not-a-real-token") {
		t.Fatalf("err=%v", err)
	}

	delete(env, "SLACK_BOT_TOKEN")
	if sec, err := slackFromEnv(func(k string) string { return env[k] }); err != nil || !sec.IsZero() {
		t.Fatalf("without a token: section=%v err=%v, want none", sec, err)
	}
}

func TestValidateSlackConfig(t *testing.T) {
	dir := inTempDir(t)
	write := func(name, slackSection string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("data_dir: ./data\nnotify:\n  slack:\n"+slackSection), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if err := os.WriteFile(filepath.Join(dir, "bot-token"), []byte(slackTestToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// bot_token_file is relative to the config file's directory.
	ok := write("ok.yaml", "    bot_token_file: bot-token\n    channel: C0SECURITY\n")
	code, out, errOut := runCLI(t, "validate", ok)
	if code != exitOK || !strings.Contains(out, "slack") {
		t.Fatalf("exit=%d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	noListen := write("http.yaml", "    bot_token: "+slackTestToken+"\n    channel: C0SECURITY\n    signing_secret: abc123\n")
	code, _, errOut = runCLI(t, "validate", noListen)
	if code != exitError || !strings.Contains(errOut, "notify.slack.mode: http mode needs http.listen") {
		t.Fatalf("exit=%d stderr=%s", code, errOut)
	}
	bad := write("bad.yaml", "    bot_token: xoxp-"+slackTestToken+"\n    channel: C0SECURITY\n")
	code, out, errOut = runCLI(t, "validate", bad)
	if code != exitError || !strings.Contains(errOut, "notify.slack.bot_token: must be a bot token starting with xoxb-") {
		t.Fatalf("exit=%d stderr=%s", code, errOut)
	}
	if strings.Contains(out+errOut, "not-a-real-token") {
		t.Fatalf("the token was printed")
	}
}
