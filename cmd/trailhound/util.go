package main

import (
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
