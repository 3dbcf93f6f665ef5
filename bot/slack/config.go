// Package slack posts Trailhound alerts to Slack and lets responders act on
// them there: buttons, modals and the /trailhound slash command, over
// Socket Mode or signed HTTP requests. It only translates the
// platform-neutral core in package bot.
package slack

import (
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/trailhound/trailhound/bot"
	"github.com/trailhound/trailhound/configs"
)

// Modes of receiving interactions and slash commands.
const (
	// ModeSocket receives them over Slack's Socket Mode websocket: no
	// public URL is needed. It needs an app-level token.
	ModeSocket = "socket"
	// ModeHTTP receives them as signed HTTP requests on /slack/commands,
	// /slack/interactions and /slack/events. It needs the signing secret.
	ModeHTTP = "http"
	// ModeOff only posts: buttons and commands get no answer.
	ModeOff = "off"
)

// DefaultRawEventURL links an alert to its CloudTrail event in the AWS
// console.
const DefaultRawEventURL = "https://{region}.console.aws.amazon.com/cloudtrailv2/home?region={region}#/events/{event_id}"

// DefaultCommand is the slash command users type.
const DefaultCommand = "/trailhound"

// DefaultGroupCacheTTL is how long the user-group memberships read with
// usergroups.list are trusted.
const DefaultGroupCacheTTL = 5 * time.Minute

// DefaultMaxRateLimitWait is the longest Notify waits inside one call when
// Slack answers 429; a longer Retry-After is left to the dispatcher's
// retry.
const DefaultMaxRateLimitWait = 30 * time.Second

// Options is the notify.slack section of the config file, as written.
type Options struct {
	// BotToken (xoxb-...) posts and updates messages.
	BotToken     configs.Secret `yaml:"bot_token"`
	BotTokenFile string         `yaml:"bot_token_file"`
	// AppToken (xapp-...) opens the Socket Mode connection.
	AppToken     configs.Secret `yaml:"app_token"`
	AppTokenFile string         `yaml:"app_token_file"`
	// SigningSecret verifies HTTP requests from Slack.
	SigningSecret     configs.Secret `yaml:"signing_secret"`
	SigningSecretFile string         `yaml:"signing_secret_file"`
	// Mode is socket, http or off; by default socket when an app token is
	// given, else http when a signing secret is given, else off.
	Mode string `yaml:"mode"`
	// Channel is the id of the channel alerts go to (C0123ABCD).
	Channel string `yaml:"channel"`
	// APIURL overrides https://slack.com/api/ (tests, proxies).
	APIURL string `yaml:"api_url"`
	// Command is the slash command's name, /trailhound by default.
	Command string `yaml:"command"`
	// RawEventURL is the link template of an alert's raw event; see
	// bot.EventURL. "off" shows no link.
	RawEventURL string `yaml:"raw_event_url"`
	// Roles maps Slack user ids (U...) and user-group ids (S...) to roles.
	Roles configs.Section `yaml:"roles"`
	// GroupCacheTTL is how long user-group memberships are cached.
	GroupCacheTTL configs.Duration `yaml:"group_cache_ttl"`
	// MaxRateLimitWait bounds the wait for a 429's Retry-After inside one
	// delivery attempt.
	MaxRateLimitWait configs.Duration `yaml:"max_rate_limit_wait"`
}

// Config is the validated Slack configuration with secrets resolved.
type Config struct {
	BotToken      configs.Secret
	AppToken      configs.Secret
	SigningSecret configs.Secret
	Mode          string
	Channel       string
	// APIURL ends with a slash.
	APIURL           string
	Command          string
	RawEventURL      string
	Policy           bot.Policy
	GroupCacheTTL    time.Duration
	MaxRateLimitWait time.Duration
}

var (
	channelIDRe = regexp.MustCompile(`^[CGD][A-Z0-9]{2,20}$`)
	userIDRe    = regexp.MustCompile(`^[UW][A-Z0-9]{2,20}$`)
	groupIDRe   = regexp.MustCompile(`^S[A-Z0-9]{2,20}$`)
	commandRe   = regexp.MustCompile(`^/[a-z0-9_-]{1,31}$`)
)

// ParseConfig decodes and validates the notify.slack section. resolve
// makes the *_file paths relative to the config file (nil keeps them as
// written). Every error names the file, line and key; none contains a
// secret.
func ParseConfig(sec configs.Section, resolve func(string) string) (Config, error) {
	var o Options
	if err := sec.Decode(&o); err != nil {
		return Config{}, err
	}
	if resolve != nil {
		for _, p := range []*string{&o.BotTokenFile, &o.AppTokenFile, &o.SigningSecretFile} {
			if *p != "" {
				*p = resolve(*p)
			}
		}
	}
	var c Config
	var err error
	if c.BotToken, err = configs.ResolveSecret(sec, "bot_token", o.BotToken, o.BotTokenFile, false); err != nil {
		return Config{}, err
	}
	if !strings.HasPrefix(c.BotToken.Reveal(), "xoxb-") {
		return Config{}, sec.Errorf(tokenKey("bot_token", o.BotTokenFile), "must be a bot token starting with xoxb-")
	}
	if c.AppToken, err = configs.ResolveSecret(sec, "app_token", o.AppToken, o.AppTokenFile, true); err != nil {
		return Config{}, err
	}
	if !c.AppToken.IsZero() && !strings.HasPrefix(c.AppToken.Reveal(), "xapp-") {
		return Config{}, sec.Errorf(tokenKey("app_token", o.AppTokenFile), "must be an app-level token starting with xapp-")
	}
	if c.SigningSecret, err = configs.ResolveSecret(sec, "signing_secret", o.SigningSecret, o.SigningSecretFile, true); err != nil {
		return Config{}, err
	}
	c.Mode = o.Mode
	switch {
	case c.Mode == "" && !c.AppToken.IsZero():
		c.Mode = ModeSocket
	case c.Mode == "" && !c.SigningSecret.IsZero():
		c.Mode = ModeHTTP
	case c.Mode == "":
		c.Mode = ModeOff
	case c.Mode == ModeSocket:
		if c.AppToken.IsZero() {
			return Config{}, sec.Errorf("mode", "socket mode needs app_token or app_token_file")
		}
	case c.Mode == ModeHTTP:
		if c.SigningSecret.IsZero() {
			return Config{}, sec.Errorf("mode", "http mode needs signing_secret or signing_secret_file")
		}
	case c.Mode == ModeOff:
	default:
		return Config{}, sec.Errorf("mode", "must be socket, http or off, not %q", o.Mode)
	}
	c.Channel = o.Channel
	if c.Channel == "" {
		return Config{}, sec.Errorf("channel", "is required: the id of the channel alerts go to, like C0123ABCD")
	}
	if !channelIDRe.MatchString(c.Channel) {
		return Config{}, sec.Errorf("channel", "%q is not a channel id (like C0123ABCD; find it under the channel's details)", o.Channel)
	}
	c.APIURL = o.APIURL
	if c.APIURL == "" {
		c.APIURL = "https://slack.com/api/"
	}
	if u, err := url.Parse(c.APIURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return Config{}, sec.Errorf("api_url", "must be an http or https URL, like https://slack.com/api/")
	}
	if !strings.HasSuffix(c.APIURL, "/") {
		c.APIURL += "/"
	}
	c.Command = o.Command
	if c.Command == "" {
		c.Command = DefaultCommand
	}
	if !commandRe.MatchString(c.Command) {
		return Config{}, sec.Errorf("command", "%q is not a slash command (like /trailhound)", o.Command)
	}
	switch c.RawEventURL = o.RawEventURL; c.RawEventURL {
	case "":
		c.RawEventURL = DefaultRawEventURL
	case "off":
		c.RawEventURL = ""
	default:
		if err := checkURLTemplate(c.RawEventURL); err != "" {
			return Config{}, sec.Errorf("raw_event_url", "%s", err)
		}
	}
	if err := o.Roles.Decode(&c.Policy); err != nil {
		return Config{}, err
	}
	for _, r := range []struct {
		key string
		ids []string
	}{{"analyst", c.Policy.Analysts}, {"responder", c.Policy.Responders}, {"viewer", c.Policy.Viewers}} {
		for _, id := range r.ids {
			if id != "*" && !userIDRe.MatchString(id) && !groupIDRe.MatchString(id) {
				return Config{}, o.Roles.Errorf(r.key, "%q is not a Slack user id (U...), user-group id (S...) or *", id)
			}
		}
	}
	c.GroupCacheTTL = o.GroupCacheTTL.D()
	if c.GroupCacheTTL == 0 {
		c.GroupCacheTTL = DefaultGroupCacheTTL
	}
	if c.GroupCacheTTL < 10*time.Second {
		return Config{}, sec.Errorf("group_cache_ttl", "must be at least 10s, so usergroups.list stays within Slack's rate limits")
	}
	c.MaxRateLimitWait = o.MaxRateLimitWait.D()
	if o.MaxRateLimitWait == 0 {
		c.MaxRateLimitWait = DefaultMaxRateLimitWait
	}
	if c.MaxRateLimitWait > 5*time.Minute {
		return Config{}, sec.Errorf("max_rate_limit_wait", "must be at most 5m")
	}
	return c, nil
}

// tokenKey names the key a token came from, for errors.
func tokenKey(key, file string) string {
	if file != "" {
		return key + "_file"
	}
	return key
}

// checkURLTemplate returns what is wrong with a raw event link template.
func checkURLTemplate(t string) string {
	probe := strings.NewReplacer("{account}", "123456789012", "{region}", "us-east-1", "{event_id}", "e", "{source}", "s").Replace(t)
	if strings.ContainsAny(probe, "{}") {
		return "unknown placeholder: use " + strings.Join(bot.EventURLPlaceholders, ", ")
	}
	u, err := url.Parse(probe)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "must be an http or https URL template, or off"
	}
	return ""
}
