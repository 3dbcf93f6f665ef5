// Package discord posts Trailhound alerts to a Discord channel as embeds
// with buttons, and receives the buttons, modals and /trailhound commands
// over the gateway or the HTTP interactions endpoint. It only translates the
// platform-neutral core in package bot.
package discord

import (
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"

	"github.com/trailhound/trailhound/bot"
	"github.com/trailhound/trailhound/configs"
)

// Options are the notify.discord settings as written in the config file.
type Options struct {
	// BotToken is the bot's token (Developer Portal, Bot, Reset Token);
	// BotTokenFile reads it from a file instead. Exactly one is required.
	BotToken     configs.Secret `yaml:"bot_token"`
	BotTokenFile string         `yaml:"bot_token_file"`
	// ApplicationID is the application's id; when empty it is looked up
	// with the token at start.
	ApplicationID string `yaml:"application_id"`
	// PublicKey is the application's hex ed25519 public key, required for
	// the HTTP interactions endpoint.
	PublicKey string `yaml:"public_key"`
	// ChannelID is where alerts go unless routing names another channel.
	ChannelID string `yaml:"channel_id"`
	// GuildID, when set, registers /trailhound in that server only (at
	// once, where global commands may take a while) and ignores
	// interactions from other servers.
	GuildID string `yaml:"guild_id"`
	// Mode is how interactions arrive: gateway (default: an outbound
	// websocket, no public URL needed), http (Discord POSTs to
	// /discord/interactions on http.listen) or both.
	Mode string `yaml:"mode"`
	// APIURL replaces https://discord.com/api/v10/, e.g. for a rate-limit
	// proxy or tests.
	APIURL string `yaml:"api_url"`
	// Roles map Discord role ids and user ids to Trailhound roles.
	Roles bot.Policy `yaml:"roles"`
	// RawEventURL is the link template for the raw event, with {account},
	// {region}, {event_id} and {source}; "off" (or "") turns the link off.
	// The default opens the event in the CloudTrail console.
	RawEventURL *string `yaml:"raw_event_url"`
	// RegisterCommands registers /trailhound at start (default true).
	RegisterCommands *bool `yaml:"register_commands"`
}

// DefaultRawEventURL opens a CloudTrail event in the AWS console.
const DefaultRawEventURL = "https://{region}.console.aws.amazon.com/cloudtrailv2/home?region={region}#/events/{event_id}"

// DefaultAPIURL is Discord's REST API base for the API version discordgo
// speaks.
const DefaultAPIURL = "https://discord.com/api/v10/"

// Interaction modes.
const (
	ModeGateway = "gateway"
	ModeHTTP    = "http"
	ModeBoth    = "both"
)

// Config is a checked notify.discord section, ready for New.
type Config struct {
	Token         configs.Secret
	ApplicationID string
	PublicKey     ed25519.PublicKey
	ChannelID     string
	GuildID       string
	Mode          string
	// APIURL is the REST base, ending in "/".
	APIURL           string
	Roles            bot.Policy
	RawEventURL      string
	RegisterCommands bool
}

// Gateway reports whether interactions arrive over the gateway.
func (c Config) Gateway() bool { return c.Mode == ModeGateway || c.Mode == ModeBoth }

// HTTP reports whether interactions arrive on the HTTP endpoint.
func (c Config) HTTP() bool { return c.Mode == ModeHTTP || c.Mode == ModeBoth }

// Load decodes and checks the notify.discord section. Errors name the file,
// line and key, and never contain the token.
func Load(sec configs.Section) (Config, error) {
	var o Options
	if err := sec.Decode(&o); err != nil {
		return Config{}, err
	}
	return o.Check(sec)
}

// Check validates options decoded from sec; errors are located in sec.
func (o Options) Check(sec configs.Section) (Config, error) {
	tok, err := configs.ResolveSecret(sec, "bot_token", o.BotToken, o.BotTokenFile, false)
	if err != nil {
		return Config{}, err
	}
	key := "bot_token"
	if o.BotTokenFile != "" {
		key = "bot_token_file"
	}
	raw := strings.TrimSpace(strings.TrimPrefix(tok.Reveal(), "Bot "))
	if raw == "" || strings.ContainsAny(raw, " \t\r\n") || strings.Count(raw, ".") != 2 {
		return Config{}, sec.Errorf(key, "does not look like a Discord bot token (three dot-separated parts, from Developer Portal > Bot > Reset Token)")
	}
	c := Config{
		Token:            configs.NewSecret(raw),
		ApplicationID:    o.ApplicationID,
		ChannelID:        o.ChannelID,
		GuildID:          o.GuildID,
		Mode:             o.Mode,
		Roles:            o.Roles,
		RawEventURL:      DefaultRawEventURL,
		RegisterCommands: o.RegisterCommands == nil || *o.RegisterCommands,
	}
	if o.ApplicationID != "" && !isSnowflake(o.ApplicationID) {
		return Config{}, sec.Errorf("application_id", "%q is not a Discord id (a number of 17 to 20 digits)", short(o.ApplicationID))
	}
	if o.ChannelID == "" {
		return Config{}, sec.Errorf("channel_id", "is required: the id of the channel alerts go to (Developer Mode, right-click the channel, Copy Channel ID)")
	}
	if !isSnowflake(o.ChannelID) {
		return Config{}, sec.Errorf("channel_id", "%q is not a Discord channel id (a number of 17 to 20 digits)", short(o.ChannelID))
	}
	if o.GuildID != "" && !isSnowflake(o.GuildID) {
		return Config{}, sec.Errorf("guild_id", "%q is not a Discord server id (a number of 17 to 20 digits)", short(o.GuildID))
	}
	switch o.Mode {
	case "":
		c.Mode = ModeGateway
	case ModeGateway, ModeHTTP, ModeBoth:
	default:
		return Config{}, sec.Errorf("mode", "must be gateway, http or both, not %q", short(o.Mode))
	}
	if o.PublicKey != "" {
		k, err := hex.DecodeString(o.PublicKey)
		if err != nil || len(k) != ed25519.PublicKeySize {
			return Config{}, sec.Errorf("public_key", "must be the application's public key: 64 hex digits (Developer Portal > General Information)")
		}
		c.PublicKey = ed25519.PublicKey(k)
	} else if c.HTTP() {
		return Config{}, sec.Errorf("public_key", "is required in %s mode, to verify that interactions come from Discord", c.Mode)
	}
	c.APIURL = DefaultAPIURL
	if o.APIURL != "" {
		u, err := url.Parse(o.APIURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return Config{}, sec.Errorf("api_url", "must be an http or https URL such as %s", DefaultAPIURL)
		}
		c.APIURL = strings.TrimSuffix(u.String(), "/") + "/"
	}
	for _, r := range []struct {
		name string
		ids  []string
	}{{"analyst", o.Roles.Analysts}, {"responder", o.Roles.Responders}, {"viewer", o.Roles.Viewers}} {
		for i, id := range r.ids {
			if id != "*" && !isSnowflake(id) {
				return Config{}, sec.Errorf("roles", "%s[%d]: %q is not a Discord role or user id (a number of 17 to 20 digits) or \"*\"", r.name, i, short(id))
			}
		}
	}
	if o.RawEventURL != nil {
		c.RawEventURL = *o.RawEventURL
		if c.RawEventURL == "off" {
			c.RawEventURL = ""
		}
		if err := checkURLTemplate(c.RawEventURL); err != nil {
			return Config{}, sec.Errorf("raw_event_url", "%v", err)
		}
	}
	return c, nil
}

// checkURLTemplate accepts "" or an http(s) URL whose {placeholders} are
// those bot.EventURL expands.
func checkURLTemplate(t string) error {
	if t == "" {
		return nil
	}
	probe := t
	for _, p := range bot.EventURLPlaceholders {
		probe = strings.ReplaceAll(probe, p, "x")
	}
	if i := strings.IndexAny(probe, "{}"); i >= 0 {
		return fmt.Errorf("unknown placeholder in %q (use %s)", short(t), strings.Join(bot.EventURLPlaceholders, ", "))
	}
	u, err := url.Parse(probe)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an http or https URL", short(t))
	}
	return nil
}

// isSnowflake reports whether s looks like a Discord id.
func isSnowflake(s string) bool {
	if len(s) < 17 || len(s) > 20 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// short keeps config values in errors readable.
func short(s string) string {
	r := []rune(s)
	if len(r) > 64 {
		return string(r[:63]) + "…"
	}
	return s
}
