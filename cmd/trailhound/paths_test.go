package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSameConfigFromAnotherDirectory: run from another working directory,
// a config with a relative data_dir finds the same database, so nothing
// is alerted twice.
func TestSameConfigFromAnotherDirectory(t *testing.T) {
	dir := t.TempDir()
	cfg := writeFileConfig(t, dir, repoFile(t, "configs/samples"))
	t.Chdir(dir)
	if code, out, errOut := runCLI(t, "scan", "--no-notify", "--config", "trailhound.yaml"); code != exitOK || strings.Contains(out, "; 0 new alerts") {
		t.Fatalf("first scan: exit=%d\n%s\n%s", code, out, errOut)
	}
	t.Chdir(t.TempDir())
	code, out, errOut := runCLI(t, "scan", "--no-notify", "--config", cfg)
	if code != exitOK || !strings.Contains(out, "; 0 new alerts") {
		t.Fatalf("scan from another directory alerted again: exit=%d\n%s\n%s", code, out, errOut)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "trailhound.db")); err != nil {
		t.Fatalf("database not beside the config: %v", err)
	}
	if _, err := os.Stat("data"); !os.IsNotExist(err) {
		t.Fatalf("a database was started in the working directory (%v)", err)
	}
}

// runCLIEnv runs the command with exactly the environment vars (plus the
// process's own for anything else but chat).
func runCLIEnv(t *testing.T, vars map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb strings.Builder
	e := &env{stdout: &out, stderr: &errb, getenv: func(k string) string {
		if v, ok := vars[k]; ok {
			return v
		}
		if strings.HasPrefix(k, "SLACK_") || strings.HasPrefix(k, "DISCORD_") {
			return ""
		}
		return os.Getenv(k)
	}}
	code = realMain(e, args)
	return code, out.String(), errb.String()
}

// TestDemoChatMisconfiguration: a half-set chat environment is an error
// at validate and at start, never a silent fallback to the terminal.
func TestDemoChatMisconfiguration(t *testing.T) {
	inTempDir(t)
	tests := []struct {
		name string
		vars map[string]string
		want string
	}{
		{"slack token without channel", map[string]string{"SLACK_BOT_TOKEN": "xoxb-1"}, "SLACK_BOT_TOKEN is set but SLACK_CHANNEL is not: set SLACK_BOT_TOKEN and SLACK_CHANNEL to post to Slack, or unset SLACK_BOT_TOKEN to print alerts to the terminal"},
		{"slack channel without token", map[string]string{"SLACK_CHANNEL": "C0"}, "SLACK_CHANNEL is set but SLACK_BOT_TOKEN is not"},
		{"slack app token alone", map[string]string{"SLACK_APP_TOKEN": "xapp-1"}, "SLACK_APP_TOKEN is set but SLACK_BOT_TOKEN and SLACK_CHANNEL are not"},
		{"slack http mode", map[string]string{"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_CHANNEL": "C0", "SLACK_SIGNING_SECRET": "s"}, "SLACK_SIGNING_SECRET is set, but the embedded demo config does not read it"},
		{"discord token without channel", map[string]string{"DISCORD_BOT_TOKEN": "x"}, "DISCORD_BOT_TOKEN is set but DISCORD_CHANNEL_ID is not"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, args := range [][]string{{"validate"}, {"scan"}, {"run", "--once"}} {
				code, out, errOut := runCLIEnv(t, tc.vars, args...)
				if code != exitError || !strings.Contains(errOut, tc.want) {
					t.Fatalf("%v: exit=%d, want an error %q\n%s\n%s", args, code, tc.want, out, errOut)
				}
			}
		})
	}
}

// TestChatSecretsNotNeededOffChat: commands that do not talk to chat run
// without the chat secrets the config names; those that do say which is
// missing.
func TestChatSecretsNotNeededOffChat(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "trailhound.yaml")
	body := "data_dir: ./data\nnotify:\n  slack:\n    bot_token: ${SLACK_BOT_TOKEN}\n    app_token: ${SLACK_APP_TOKEN}\n    channel: C0ALERTS\n"
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"findings"}, {"tasks"}, {"digest"}, {"sources"}, {"scan", "--no-notify"}} {
		code, out, errOut := runCLI(t, append(args, "--config", cfg)...)
		if code != exitOK {
			t.Fatalf("%v: exit=%d\n%s\n%s", args, code, out, errOut)
		}
	}
	code, _, errOut := runCLI(t, "validate", cfg)
	if code != exitError || !strings.Contains(errOut, "trailhound.yaml:4: environment variable SLACK_BOT_TOKEN is not set") {
		t.Fatalf("validate: exit=%d\n%s", code, errOut)
	}
}

// TestTypeErrorInWords: validate says what a key wants in words.
func TestTypeErrorInWords(t *testing.T) {
	code, _, errOut := runCLI(t, "validate", repoFile(t, "configs/testdata/bad/paths-not-a-list.yaml"))
	if code != exitError || !strings.Contains(errOut, "paths-not-a-list.yaml:5: sources[0].options.paths: want a list of paths, got a string") {
		t.Fatalf("exit=%d\n%s", code, errOut)
	}
}

// TestHelpWithoutEmptyFlags: a command without flags prints no "Flags:"
// header; every "Flags:" header has flags under it.
func TestHelpWithoutEmptyFlags(t *testing.T) {
	for _, n := range sortedKeys(commands) {
		_, _, errOut := runCLI(t, n, "--help")
		if i := strings.Index(errOut, "Flags:\n"); i >= 0 && !strings.HasPrefix(errOut[i+len("Flags:\n"):], "  -") {
			t.Errorf("%s --help has an empty Flags: header:\n%s", n, errOut)
		}
	}
	if _, _, errOut := runCLI(t, "version", "--help"); strings.Contains(errOut, "Flags:") {
		t.Fatalf("version --help:\n%s", errOut)
	}
}
