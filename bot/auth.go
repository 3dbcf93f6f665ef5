package bot

import (
	"fmt"
	"strings"
)

// Role is what a chat user may do. Each role includes the ones below it.
type Role int

// Roles, from least to most trusted.
const (
	// NoRole may only ask for help.
	NoRole Role = iota
	// Viewer may query findings, tasks, sources and digests.
	Viewer
	// Responder may also acknowledge, escalate, open remediation tasks and
	// update tasks.
	Responder
	// Analyst may also resolve, mark false positive, suppress, silence and
	// reopen.
	Analyst
)

var roleNames = map[Role]string{NoRole: "none", Viewer: "viewer", Responder: "responder", Analyst: "analyst"}

// String returns the role's name.
func (r Role) String() string { return roleNames[r] }

// ParseRole parses a role name.
func ParseRole(s string) (Role, error) {
	for r, n := range roleNames {
		if strings.EqualFold(s, n) && r != NoRole {
			return r, nil
		}
	}
	return NoRole, fmt.Errorf("unknown role %q (want analyst, responder or viewer)", s)
}

// Identity is a chat user as the platform reports them.
type Identity struct {
	// Platform is "slack" or "discord".
	Platform string
	UserID   string
	// Name is a display name, for messages only: never for decisions.
	Name string
	// Groups are the user's Slack user-group ids or Discord role ids.
	Groups []string
}

// Actor returns how the audit log names the user: "slack:U123".
func (id Identity) Actor() string { return id.Platform + ":" + id.UserID }

// Mention returns a platform mention of the user.
func (id Identity) Mention() string {
	if id.Platform == "discord" {
		return "<@" + id.UserID + ">"
	}
	return "<@" + id.UserID + ">"
}

// Policy maps chat ids to roles. Each role lists user ids and group (Slack
// user group, Discord role) ids; "*" matches everyone. A user gets the
// highest role any of their ids has.
type Policy struct {
	Analysts   []string `yaml:"analyst"`
	Responders []string `yaml:"responder"`
	Viewers    []string `yaml:"viewer"`
}

// RoleOf returns the user's role.
func (p Policy) RoleOf(id Identity) Role {
	has := func(ids []string) bool {
		for _, want := range ids {
			if want == "*" || want == id.UserID {
				return true
			}
			for _, g := range id.Groups {
				if want == g {
					return true
				}
			}
		}
		return false
	}
	switch {
	case has(p.Analysts):
		return Analyst
	case has(p.Responders):
		return Responder
	case has(p.Viewers):
		return Viewer
	}
	return NoRole
}

// Empty reports whether no role lists anybody.
func (p Policy) Empty() bool {
	return len(p.Analysts)+len(p.Responders)+len(p.Viewers) == 0
}
