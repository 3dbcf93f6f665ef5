package bot

import (
	"fmt"
	"strings"

	"github.com/trailhound/trailhound/workflows"
)

// Op is something a responder can do from an alert card.
type Op string

// The card's operations, in button order.
const (
	OpAcknowledge   Op = "ack"
	OpEscalate      Op = "escalate"
	OpTask          Op = "task"
	OpSuppress      Op = "suppress"
	OpResolve       Op = "resolve"
	OpFalsePositive Op = "false_positive"
	OpReopen        Op = "reopen"
	// OpActivity posts the principal's calls around the alert in its
	// thread; it changes nothing.
	OpActivity Op = "activity"
)

// The answers to a "was this you?" question, offered in the direct
// message to the person who performed the action.
const (
	OpConfirmMine Op = "mine"
	OpNotMine     Op = "not_mine"
)

// Button is one button on a card.
type Button struct {
	Op    Op
	Label string
	// Style is "primary", "danger" or "" for the default.
	Style string
}

var buttons = map[Op]Button{
	OpAcknowledge:   {OpAcknowledge, "Acknowledge", "primary"},
	OpEscalate:      {OpEscalate, "Escalate", "danger"},
	OpTask:          {OpTask, "Open remediation task", ""},
	OpSuppress:      {OpSuppress, "Suppress similar", ""},
	OpResolve:       {OpResolve, "Resolve", ""},
	OpFalsePositive: {OpFalsePositive, "Mark false positive", ""},
	OpReopen:        {OpReopen, "Reopen", ""},
	OpActivity:      {OpActivity, "Activity", ""},
	OpConfirmMine:   {OpConfirmMine, "Yes, that was me", "primary"},
	OpNotMine:       {OpNotMine, "No, it wasn't me", "danger"},
}

// MinRole is the least role allowed to perform each operation.
var MinRole = map[Op]Role{
	OpAcknowledge:   Responder,
	OpEscalate:      Responder,
	OpTask:          Responder,
	OpSuppress:      Analyst,
	OpResolve:       Analyst,
	OpFalsePositive: Analyst,
	OpReopen:        Analyst,
	// Looking changes nothing: viewers may ask.
	OpActivity: Viewer,
	// Anyone may answer; Service.Do checks that the user is the one asked.
	OpConfirmMine: NoRole,
	OpNotMine:     NoRole,
}

// workflowAction maps card operations to alert lifecycle actions; OpTask
// has none.
var workflowAction = map[Op]workflows.Action{
	OpAcknowledge:   workflows.ActionAcknowledge,
	OpEscalate:      workflows.ActionEscalate,
	OpSuppress:      workflows.ActionSuppress,
	OpResolve:       workflows.ActionResolve,
	OpFalsePositive: workflows.ActionFalsePositive,
	OpReopen:        workflows.ActionReopen,
}

// ButtonsFor returns the buttons an alert in a state offers.
func ButtonsFor(a workflows.Alert) []Button {
	var ops []Op
	switch a.State {
	case workflows.StateNew, workflows.StateEscalated:
		ops = []Op{OpAcknowledge, OpEscalate, OpTask, OpSuppress, OpResolve, OpFalsePositive}
	case workflows.StateAcknowledged:
		ops = []Op{OpEscalate, OpTask, OpSuppress, OpResolve, OpFalsePositive}
	default:
		ops = []Op{OpReopen}
	}
	// Every alert about a caller offers the caller's activity; an alert
	// about no event in particular (a silent source) has no caller.
	if f := a.Finding; f.Principal.Name != "" || f.Principal.ARN != "" {
		ops = append(ops, OpActivity)
	}
	out := make([]Button, len(ops))
	for i, op := range ops {
		out[i] = buttons[op]
	}
	return out
}

// AskActorButtons are the answers offered with a "was this you?"
// question.
func AskActorButtons() []Button {
	return []Button{buttons[OpConfirmMine], buttons[OpNotMine]}
}

// ActionPrefix starts every button's action id, so interaction handlers
// can tell Trailhound's buttons from others.
const ActionPrefix = "trailhound:"

// ActionID encodes an operation on an alert as a button's action id (Slack
// action_id, Discord custom_id): "trailhound:ack:TH-12".
func ActionID(op Op, alertID string) string {
	return ActionPrefix + string(op) + ":" + alertID
}

// ParseActionID decodes an action id made by ActionID.
func ParseActionID(s string) (Op, string, error) {
	rest, ok := strings.CutPrefix(s, ActionPrefix)
	if !ok {
		return "", "", fmt.Errorf("not a Trailhound action: %q", truncate(s, 64))
	}
	op, id, ok := strings.Cut(rest, ":")
	if !ok || !validAlertID(id) {
		return "", "", fmt.Errorf("malformed action id %q", truncate(s, 64))
	}
	if _, known := buttons[Op(op)]; !known {
		return "", "", fmt.Errorf("unknown action %q", truncate(op, 32))
	}
	return Op(op), id, nil
}

// validAlertID reports whether s looks like an alert id: TH-<digits>.
func validAlertID(s string) bool { return validID(s, "TH-") }

func validID(s, prefix string) bool {
	digits, ok := strings.CutPrefix(s, prefix)
	if !ok || len(digits) == 0 || len(digits) > 12 {
		return false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
