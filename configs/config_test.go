package configs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestBadConfigs(t *testing.T) {
	tests := []struct {
		file string
		want string
	}{
		{"unknown-key.yaml", `unknown-key.yaml:5: sources[0].shedule: unknown key (did you mean "schedule"?)`},
		{"wrong-type.yaml", `wrong-type.yaml:3: log.level: want a string, got a list`},
		{"bad-level.yaml", `bad-level.yaml:2: log.level: must be debug, info, warn or error, not "loud"`},
		{"missing-env.yaml", `missing-env.yaml:3: environment variable TRAILHOUND_TEST_UNSET_VAR is not set`},
		{"duplicate-source.yaml", `duplicate-source.yaml:4: sources[1].name: duplicate source name "a"`},
		{"bad-schedule.yaml", `bad-schedule.yaml:4: sources[0].schedule: invalid schedule "every five minutes"`},
		{"not-a-mapping.yaml", `not-a-mapping.yaml:1: config must be a mapping of keys to values`},
		{"syntax.yaml", `syntax.yaml:1: did not find expected ',' or ']'`},
		{"empty.yaml", `empty.yaml: config is empty`},
		{"no-type.yaml", `no-type.yaml:2: sources[0].type: is required`},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			_, err := Load(filepath.Join("testdata", "bad", tc.file))
			if err == nil {
				t.Fatal("no error")
			}
			got := strings.TrimPrefix(err.Error(), filepath.Join("testdata", "bad")+string(filepath.Separator))
			if !strings.HasPrefix(got, tc.want) {
				t.Fatalf("error=%q, want prefix %q", got, tc.want)
			}
		})
	}
}

// TestExampleConfigs loads every config shipped in configs/.
func TestExampleConfigs(t *testing.T) {
	files, _ := filepath.Glob("*.yaml")
	if len(files) < 2 {
		t.Fatalf("found %v, want demo.yaml and example.yaml at least", files)
	}
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			if _, err := Load(f); err != nil {
				t.Fatal(err)
			}
		})
	}
	t.Run("embedded", func(t *testing.T) {
		cfg, err := Load("")
		if err != nil {
			t.Fatal(err)
		}
		if cfg.File != DemoName || cfg.FS == nil || len(cfg.Sources) == 0 {
			t.Fatalf("embedded config=%+v", cfg)
		}
	})
}

func TestEnvExpansion(t *testing.T) {
	env := map[string]string{"DIR": "/var/lib/th"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	cfg, err := Parse([]byte("data_dir: ${DIR}/data\nlog:\n  level: ${LEVEL:-warn}\n"), "t.yaml", lookup)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DataDir != "/var/lib/th/data" || cfg.Log.Level != "warn" {
		t.Fatalf("data_dir=%q level=%q", cfg.DataDir, cfg.Log.Level)
	}
}

func TestSectionDecode(t *testing.T) {
	type opts struct {
		Paths  []string `yaml:"paths"`
		Window Duration `yaml:"window"`
		Nested struct {
			N int `yaml:"n"`
		} `yaml:"nested"`
	}
	src := "sources:\n  - name: a\n    type: file\n    options:\n      paths: [x]\n      window: 2d3h\n      nested:\n        n: 4\n"
	cfg, err := Parse([]byte(src), "s.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	var o opts
	if err := cfg.Sources[0].Options.Decode(&o); err != nil {
		t.Fatal(err)
	}
	if o.Window.D() != 51*time.Hour || o.Nested.N != 4 || len(o.Paths) != 1 {
		t.Fatalf("decoded %+v", o)
	}
	bad := strings.Replace(src, "n: 4", "m: 4", 1)
	cfg, _ = Parse([]byte(bad), "s.yaml", nil)
	err = cfg.Sources[0].Options.Decode(&o)
	if err == nil || err.Error() != `s.yaml:8: sources[0].options.nested.m: unknown key (did you mean "n"?)` {
		t.Fatalf("err=%v", err)
	}
	bad = strings.Replace(src, "2d3h", "soon", 1)
	cfg, _ = Parse([]byte(bad), "s.yaml", nil)
	err = cfg.Sources[0].Options.Decode(&o)
	if err == nil || !strings.HasPrefix(err.Error(), `s.yaml:6: sources[0].options.window: invalid duration "soon"`) {
		t.Fatalf("err=%v", err)
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{"90s", 90 * time.Second, false},
		{"14d", 14 * 24 * time.Hour, false},
		{"1d12h", 36 * time.Hour, false},
		{"-5m", 0, true},
		{"d", 0, true},
		{"1.5d", 0, true},
		{"", 0, true},
		// 2^48+1 days wraps to exactly one day without an overflow check.
		{"281474976710657d", 0, true},
		{"106751d", 106751 * 24 * time.Hour, false},
		{"106751d23h59m", 0, true},
	}
	for _, tc := range tests {
		got, err := ParseDuration(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ParseDuration(%q)=%v,%v, want %v, err %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestSecrets(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "token")
	if err := os.WriteFile(path, []byte("xoxb-secret-value\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	type opts struct {
		Token     Secret `yaml:"token"`
		TokenFile string `yaml:"token_file"`
	}
	parse := func(body string) (Section, opts) {
		cfg, err := Parse([]byte("notify:\n  slack:\n"+body), "n.yaml", nil)
		if err != nil {
			t.Fatal(err)
		}
		var o opts
		if err := cfg.Notify.Slack.Decode(&o); err != nil {
			t.Fatal(err)
		}
		return cfg.Notify.Slack, o
	}
	sec, o := parse("    token_file: " + path + "\n")
	s, err := ResolveSecret(sec, "token", o.Token, o.TokenFile, false)
	if err != nil || s.Reveal() != "xoxb-secret-value" {
		t.Fatalf("secret from file: %v %q", err, s.Reveal())
	}
	if s.String() != "[redacted]" {
		t.Fatalf("String()=%q", s.String())
	}
	sec, o = parse("    token: xoxb-inline\n    token_file: " + path + "\n")
	_, err = ResolveSecret(sec, "token", o.Token, o.TokenFile, false)
	if err == nil || err.Error() != "n.yaml:3: notify.slack.token: give only one of token and token_file" {
		t.Fatalf("both: %v", err)
	}
	if strings.Contains(err.Error(), "xoxb-inline") {
		t.Fatal("error shows the secret")
	}
	sec, o = parse("    token_file: " + filepath.Join(dir, "nope") + "\n")
	if _, err = ResolveSecret(sec, "token", o.Token, o.TokenFile, false); err == nil || !strings.Contains(err.Error(), "notify.slack.token_file: read secret file") {
		t.Fatalf("missing file: %v", err)
	}
}

// TestDataDirRelativeToConfig: a relative data_dir is relative to the
// config file, as source paths are, whatever the working directory; the
// embedded demo keeps ./trailhound-data in the working directory.
func TestDataDirRelativeToConfig(t *testing.T) {
	t.Setenv(DataDirEnv, "")
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Chdir(t.TempDir())
	tests := []struct {
		name, file, want string
	}{
		{"relative", write("rel.yaml", "data_dir: ./state\n"), filepath.Join(dir, "state")},
		{"default", write("default.yaml", "log: {level: info}\n"), filepath.Join(dir, "trailhound-data")},
		{"absolute", write("abs.yaml", "data_dir: /var/lib/trailhound\n"), "/var/lib/trailhound"},
		{"demo", "", "./trailhound-data"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Load(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.DataDir != tc.want {
				t.Fatalf("data_dir=%q, want %q", cfg.DataDir, tc.want)
			}
		})
	}
	// The environment variable, for containers and systemd, wins as given.
	t.Setenv(DataDirEnv, "/srv/th")
	if cfg, err := Load(filepath.Join(dir, "rel.yaml")); err != nil || cfg.DataDir != "/srv/th" {
		t.Fatalf("with %s: data_dir=%q err=%v", DataDirEnv, cfg.DataDir, err)
	}
}

// TestChatSecretsOnlyForChat: an unset variable in a chat section is an
// error only when the section is decoded (by the commands that talk to
// chat); anywhere else it stays an error at load.
func TestChatSecretsOnlyForChat(t *testing.T) {
	lookup := func(k string) (string, bool) {
		if k == "SET" {
			return "xoxb-1", true
		}
		return "", false
	}
	body := "notify:\n  slack:\n    bot_token: ${SET}\n    app_token: ${SLACK_APP_TOKEN_UNSET}\n  discord:\n    bot_token: ${SET}\n"
	cfg, err := Parse([]byte(body), "c.yaml", lookup)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	var slack struct {
		BotToken string `yaml:"bot_token"`
		AppToken string `yaml:"app_token"`
	}
	err = cfg.Notify.Slack.Decode(&slack)
	if err == nil || err.Error() != "c.yaml:4: environment variable SLACK_APP_TOKEN_UNSET is not set" {
		t.Fatalf("slack Decode err=%v", err)
	}
	var discord struct {
		BotToken string `yaml:"bot_token"`
	}
	if err := cfg.Notify.Discord.Decode(&discord); err != nil || discord.BotToken != "xoxb-1" {
		t.Fatalf("discord Decode: %+v err=%v", discord, err)
	}
	_, err = Parse([]byte("data_dir: ${DATA_UNSET}\n"+body), "c.yaml", lookup)
	if err == nil || !strings.Contains(err.Error(), "DATA_UNSET is not set") {
		t.Fatalf("unset variable outside chat: err=%v", err)
	}
}

// TestTypeErrorsInWords: a value of the wrong type is described in the
// user's words, not Go's.
func TestTypeErrorsInWords(t *testing.T) {
	cfg, err := Load(filepath.Join("testdata", "bad", "paths-not-a-list.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var opts struct {
		Paths  []string `yaml:"paths"`
		Rescan bool     `yaml:"rescan"`
	}
	err = cfg.Sources[0].Options.Decode(&opts)
	want := "paths-not-a-list.yaml:5: sources[0].options.paths: want a list of paths, got a string"
	if err == nil || !strings.HasSuffix(err.Error(), want) {
		t.Fatalf("err=%v, want %q", err, want)
	}
	tests := []struct {
		yaml string
		v    any
		want string
	}{
		{"rescan: maybe", &opts, "k.rescan: want true or false, got a string"},
		{"n: ten", &struct {
			N int `yaml:"n"`
		}{}, "k.n: want a whole number, got a string"},
		{"d: 5 parsecs", &struct {
			D time.Duration `yaml:"d"`
		}{}, "k.d: want a duration like 90s, 10m or 2h, got a string"},
		{"m: [1, 2]", &struct {
			M map[string]string `yaml:"m"`
		}{}, "k.m: want a mapping of keys to values, got a list"},
		{"principal_terms: network", &struct {
			T []string `yaml:"principal_terms"`
		}{}, "k.principal_terms: want a list, each item a string, got a string"},
	}
	for _, tc := range tests {
		t.Run(tc.yaml, func(t *testing.T) {
			var doc yaml.Node
			if err := yaml.Unmarshal([]byte(tc.yaml), &doc); err != nil {
				t.Fatal(err)
			}
			sec := Section{file: "t.yaml", path: "k", node: doc.Content[0]}
			err := sec.Decode(tc.v)
			if want := "t.yaml:1: " + tc.want; err == nil || err.Error() != want {
				t.Fatalf("err=%v, want %q", err, want)
			}
		})
	}
}
