package main

import (
	"fmt"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/trailhound/trailhound/configs"
)

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func kindNames[V any](m map[string]V) string {
	return strings.Join(sortedKeys(m), ", ")
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string { return strings.Join(*s, ",") }

func (s *stringList) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*s = append(*s, p)
		}
	}
	return nil
}

// sectionFromEnv turns options a demo notifier read from the environment
// into a notify.<kind> config section, adding roles from PREFIX_ANALYSTS,
// PREFIX_RESPONDERS and PREFIX_VIEWERS (comma-separated ids, or "*"). It
// is parsed like a config file, so the same checks and messages apply.
func sectionFromEnv(getenv func(string) string, kind, prefix string, opts map[string]any) (configs.Section, error) {
	roles := map[string]any{}
	for role, env := range map[string]string{"analyst": prefix + "_ANALYSTS", "responder": prefix + "_RESPONDERS", "viewer": prefix + "_VIEWERS"} {
		var ids []string
		for _, id := range strings.Split(getenv(env), ",") {
			if id = strings.TrimSpace(id); id != "" {
				ids = append(ids, id)
			}
		}
		if len(ids) > 0 {
			roles[role] = ids
		}
	}
	if len(roles) > 0 {
		opts["roles"] = roles
	}
	b, err := yaml.Marshal(map[string]any{"notify": map[string]any{kind: opts}})
	if err != nil {
		return configs.Section{}, err
	}
	cfg, err := configs.Parse(b, "environment ("+prefix+"_*)", func(string) (string, bool) { return "", false })
	if err != nil {
		return configs.Section{}, err
	}
	return notifySection(cfg, kind), nil
}

// plural counts a noun: "1 event", "3 events", "0 sources".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// demoChatEnv describes the environment variables through which the
// embedded demo config posts to a chat platform: the ones it needs
// together, the optional ones, and those it does not read.
var demoChatEnv = []struct {
	platform string
	need     []string
	optional []string
	// unread are variables a user may set expecting them to work; the
	// demo cannot use them (they need a config file) and says so.
	unread map[string]string
}{
	{"Slack", []string{"SLACK_BOT_TOKEN", "SLACK_CHANNEL"}, []string{"SLACK_APP_TOKEN", "SLACK_ANALYSTS", "SLACK_RESPONDERS", "SLACK_VIEWERS"},
		map[string]string{"SLACK_SIGNING_SECRET": "Slack's HTTP mode needs a config file with notify.slack.signing_secret and http.listen; the demo connects through Socket Mode (SLACK_APP_TOKEN)"}},
	{"Discord", []string{"DISCORD_BOT_TOKEN", "DISCORD_CHANNEL_ID"}, []string{"DISCORD_APPLICATION_ID", "DISCORD_GUILD_ID", "DISCORD_ANALYSTS", "DISCORD_RESPONDERS", "DISCORD_VIEWERS"},
		map[string]string{"DISCORD_PUBLIC_KEY": "Discord's HTTP interactions need a config file with notify.discord.public_key and http.listen; the demo uses the gateway"}},
}

// checkDemoChatEnv refuses a half-configured chat platform in the demo's
// environment (a token without a channel, a signing secret the demo
// cannot use) instead of falling back to the terminal without a word.
func checkDemoChatEnv(getenv func(string) string) error {
	for _, p := range demoChatEnv {
		var set, missing []string
		for _, k := range append(append([]string(nil), p.need...), p.optional...) {
			if getenv(k) != "" {
				set = append(set, k)
			}
		}
		for _, k := range p.need {
			if getenv(k) == "" {
				missing = append(missing, k)
			}
		}
		if len(set) > 0 && len(missing) > 0 {
			isAre := func(vs []string) string {
				if len(vs) == 1 {
					return vs[0] + " is"
				}
				return strings.Join(vs, " and ") + " are"
			}
			return fmt.Errorf("%s set but %s not: set %s to post to %s, or unset %s to print alerts to the terminal",
				isAre(set), isAre(missing), strings.Join(p.need, " and "), p.platform, strings.Join(set, " and "))
		}
		for _, k := range sortedKeys(p.unread) {
			if getenv(k) != "" {
				return fmt.Errorf("%s is set, but the embedded demo config does not read it: %s", k, p.unread[k])
			}
		}
	}
	return nil
}
