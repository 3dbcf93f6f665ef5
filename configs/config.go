// Package configs holds the configuration schema, its strict loader and the
// example configs. configs/demo.yaml, with the bundled sample logs in
// configs/samples, is embedded in the binary as the default.
package configs

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/robfig/cron/v3"
	"gopkg.in/yaml.v3"
)

//go:embed demo.yaml samples
var embedded embed.FS

// DemoName is how the embedded default config is named in messages.
const DemoName = "embedded:configs/demo.yaml"

// Config is the whole configuration.
type Config struct {
	// DataDir holds the bbolt database. Load makes a relative path
	// relative to the config file's directory, as source paths are; the
	// embedded demo's directory is the working directory.
	// TRAILHOUND_DATA_DIR overrides it (relative to the working directory).
	DataDir string `yaml:"data_dir"`
	// Log configures structured logging.
	Log LogConfig `yaml:"log"`
	// Sources are the log sources to read.
	Sources []SourceConfig `yaml:"sources"`
	// Detectors configures the rule pack and the stateful detectors; the
	// detectors package decodes it.
	Detectors Section `yaml:"detectors"`
	// Notify configures where alerts go.
	Notify NotifyConfig `yaml:"notify"`
	// Workflows configures routing, escalation, tasks and digests; the
	// workflows package decodes it.
	Workflows Section `yaml:"workflows"`
	// SecurityHub configures writing responders' decisions about AWS
	// findings back to Security Hub and GuardDuty; the
	// workflows/securityhub package decodes it.
	SecurityHub Section `yaml:"securityhub"`
	// Dispatch is the cron schedule on which the outbox is retried.
	Dispatch string `yaml:"dispatch_schedule"`
	// HTTP configures the listener for chat webhooks, health and metrics.
	HTTP HTTPConfig `yaml:"http"`
	// Activity bounds the lookups of a principal's activity from chat.
	Activity ActivityConfig `yaml:"activity"`
	// State configures snapshots of the database to S3 and restoring one
	// at start (snapshot: {url, every, keep}, restore: auto); the ha
	// package decodes it.
	State Section `yaml:"state"`
	// HA configures the lease replicas compete for, so that a standby
	// takes over when the active one stops (lease, renew, ttl); the ha
	// package decodes it.
	HA Section `yaml:"ha"`

	// File is the path the config was read from, or DemoName.
	File string `yaml:"-"`
	// Dir is the directory relative paths (data_dir, source options)
	// resolve against: the config file's, or "." for the embedded demo.
	Dir string `yaml:"-"`
	// FS is set when the config is the embedded default: file sources then
	// read the bundled samples from it.
	FS fs.FS `yaml:"-"`
}

// HTTPConfig configures `trailhound run`'s HTTP listeners: the chat
// listener (Slack and Discord interaction endpoints, reachable from the
// internet) and the admin listener (/metrics, /healthz, /readyz, on
// loopback). http.go holds its defaults and checks.
type HTTPConfig struct {
	// Listen is the chat listener's address, e.g. ":8080"; empty turns it
	// off.
	Listen string `yaml:"listen"`
	// AdminListen is the admin listener's address, DefaultAdminListen when
	// empty; "off" turns it off.
	AdminListen string `yaml:"admin_listen"`
	// ReadHeaderTimeout, ReadTimeout, WriteTimeout and IdleTimeout bound
	// how long the chat listener waits on a slow or idle client.
	ReadHeaderTimeout Duration `yaml:"read_header_timeout"`
	ReadTimeout       Duration `yaml:"read_timeout"`
	WriteTimeout      Duration `yaml:"write_timeout"`
	IdleTimeout       Duration `yaml:"idle_timeout"`
	// MaxUnverified caps the chat requests being received and verified at
	// once; more are answered 503 at once.
	MaxUnverified int `yaml:"max_unverified"`
}

// LogConfig configures logging.
type LogConfig struct {
	// Level is debug, info, warn or error.
	Level string `yaml:"level"`
	// Format is text or json.
	Format string `yaml:"format"`
}

// SourceConfig is one log source.
type SourceConfig struct {
	// Name identifies the source in checkpoints, health and findings.
	Name string `yaml:"name"`
	// Type names the source kind (file, cloudtrail, cloudwatch, s3); the
	// binary checks it against the kinds it knows.
	Type string `yaml:"type"`
	// Schedule is a cron expression ("*/5 * * * *") or "@every 5m" saying
	// when `trailhound run` polls the source.
	Schedule string `yaml:"schedule"`
	// Options are the type's own settings, decoded by its package.
	Options Section `yaml:"options"`
	// Line is where the source is defined in the file, for errors.
	Line int `yaml:"-"`
}

// Errorf returns an Error located at the source's definition.
func (s SourceConfig) Errorf(file, key, format string, args ...any) error {
	return &Error{File: file, Line: s.Line, Key: key, Msg: fmt.Sprintf(format, args...)}
}

// NotifyConfig says where alerts go.
type NotifyConfig struct {
	// Terminal prints alerts to standard output. "auto" (the default)
	// prints when neither Slack nor Discord is configured.
	Terminal string `yaml:"terminal"`
	// Slack and Discord are decoded by bot/slack and bot/discord.
	Slack   Section `yaml:"slack"`
	Discord Section `yaml:"discord"`
}

// Load reads and validates a config file. An empty path loads the embedded
// default (configs/demo.yaml over the bundled samples).
func Load(path string) (*Config, error) {
	if path == "" {
		b, err := embedded.ReadFile("demo.yaml")
		if err != nil {
			return nil, err
		}
		cfg, err := Parse(b, DemoName, os.LookupEnv)
		if err != nil {
			return nil, err
		}
		cfg.Dir = "."
		cfg.FS = embedded
		cfg.overrideFromEnv()
		return cfg, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	cfg, err := Parse(b, path, os.LookupEnv)
	if err != nil {
		return nil, err
	}
	cfg.Dir = filepath.Dir(path)
	if !filepath.IsAbs(cfg.DataDir) {
		cfg.DataDir = filepath.Join(cfg.Dir, cfg.DataDir)
	}
	cfg.overrideFromEnv()
	return cfg, nil
}

// DataDirEnv, when set, overrides data_dir: container images and the
// systemd unit use it to put state in their own volume.
const DataDirEnv = "TRAILHOUND_DATA_DIR"

func (c *Config) overrideFromEnv() {
	if d := os.Getenv(DataDirEnv); d != "" {
		c.DataDir = d
	}
}

// Parse decodes and validates config bytes; file names the source in
// errors and lookup resolves ${VAR} references.
func Parse(b []byte, file string, lookup func(string) (string, bool)) (*Config, error) {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &Error{File: file, Msg: "config is empty"}
		}
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		if m := lineRe.FindStringSubmatch(msg); m != nil {
			line, _ := strconv.Atoi(m[1])
			return nil, &Error{File: file, Line: line, Msg: m[2]}
		}
		return nil, &Error{File: file, Msg: msg}
	}
	if len(root.Content) == 0 {
		return nil, &Error{File: file, Msg: "config is empty"}
	}
	doc := root.Content[0]
	if doc.Kind != yaml.MappingNode {
		return nil, &Error{File: file, Line: doc.Line, Msg: "config must be a mapping of keys to values"}
	}
	// The chat sections are expanded on their own: a variable they name
	// that is unset is an error only for the commands that talk to chat
	// (when the section is decoded), so `findings` or `sources` run
	// without the chat secrets in their environment.
	chat := map[string]error{}
	done := map[*yaml.Node]bool{}
	for _, kind := range []string{"slack", "discord"} {
		if n := findKey(doc, "notify", kind); n != nil {
			if err := expandEnv(file, n, lookup, nil); err != nil {
				chat[kind] = err
			}
			done[n] = true
		}
	}
	if err := expandEnv(file, doc, lookup, done); err != nil {
		return nil, err
	}
	cfg := &Config{}
	if err := decodeStrict(file, "", doc, cfg); err != nil {
		return nil, err
	}
	cfg.Notify.Slack.err, cfg.Notify.Discord.err = chat["slack"], chat["discord"]
	cfg.File = file
	cfg.applyDefaults()
	if err := cfg.validate(doc); err != nil {
		return nil, err
	}
	return cfg, nil
}

func (c *Config) applyDefaults() {
	if c.DataDir == "" {
		c.DataDir = "./trailhound-data"
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.Log.Format == "" {
		c.Log.Format = "text"
	}
	if c.Notify.Terminal == "" {
		c.Notify.Terminal = "auto"
	}
	if c.Dispatch == "" {
		c.Dispatch = "@every 30s"
	}
	c.HTTP.applyDefaults()
	c.Activity.applyDefaults()
	for i := range c.Sources {
		if c.Sources[i].Schedule == "" {
			c.Sources[i].Schedule = "@every 5m"
		}
	}
}

// findKey returns the value of a key path of mappings, or nil.
func findKey(n *yaml.Node, keys ...string) *yaml.Node {
	for _, k := range keys {
		if n.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == k {
				next = n.Content[i+1]
			}
		}
		if next == nil {
			return nil
		}
		n = next
	}
	return n
}

// find returns the node of a dotted key path, for error lines.
func find(n *yaml.Node, path ...any) *yaml.Node {
	cur := n
	for _, p := range path {
		switch k := p.(type) {
		case string:
			if cur.Kind != yaml.MappingNode {
				return cur
			}
			next := cur
			for i := 0; i+1 < len(cur.Content); i += 2 {
				if cur.Content[i].Value == k {
					next = cur.Content[i+1]
				}
			}
			if next == cur {
				return cur
			}
			cur = next
		case int:
			if cur.Kind != yaml.SequenceNode || k >= len(cur.Content) {
				return cur
			}
			cur = cur.Content[k]
		}
	}
	return cur
}

var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ParseSchedule parses a cron expression as `trailhound run` does.
func ParseSchedule(s string) (cron.Schedule, error) { return cronParser.Parse(s) }

func (c *Config) validate(doc *yaml.Node) error {
	errAt := func(key string, path []any, format string, args ...any) error {
		return &Error{File: c.File, Line: find(doc, path...).Line, Key: key, Msg: fmt.Sprintf(format, args...)}
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return errAt("log.level", []any{"log", "level"}, "must be debug, info, warn or error, not %q", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		return errAt("log.format", []any{"log", "format"}, "must be text or json, not %q", c.Log.Format)
	}
	switch c.Notify.Terminal {
	case "auto", "true", "false":
	default:
		return errAt("notify.terminal", []any{"notify", "terminal"}, "must be auto, true or false, not %q", c.Notify.Terminal)
	}
	if _, err := ParseSchedule(c.Dispatch); err != nil {
		return errAt("dispatch_schedule", []any{"dispatch_schedule"}, "invalid schedule: %v", err)
	}
	if err := c.HTTP.validate(errAt); err != nil {
		return err
	}
	if err := c.Activity.validate(errAt); err != nil {
		return err
	}
	names := map[string]bool{}
	for i, s := range c.Sources {
		key := fmt.Sprintf("sources[%d]", i)
		if s.Name == "" {
			return errAt(key+".name", []any{"sources", i}, "is required")
		}
		if names[s.Name] {
			return errAt(key+".name", []any{"sources", i, "name"}, "duplicate source name %q", s.Name)
		}
		names[s.Name] = true
		c.Sources[i].Line = find(doc, "sources", i).Line
		if s.Type == "" {
			return errAt(key+".type", []any{"sources", i}, "is required")
		}
		if _, err := ParseSchedule(s.Schedule); err != nil {
			return errAt(key+".schedule", []any{"sources", i, "schedule"}, "invalid schedule %q: %v", s.Schedule, err)
		}
	}
	return nil
}

// ResolvePath makes a path from the config relative to the config's
// directory, unless it is absolute or the config is embedded.
func (c *Config) ResolvePath(p string) string {
	if c.FS != nil || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.Dir, p)
}
