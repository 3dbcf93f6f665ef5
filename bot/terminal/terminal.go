// Package terminal prints alerts to a terminal or log file.
package terminal

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/trailhound/trailhound/bot"
	"github.com/trailhound/trailhound/detectors"
	"github.com/trailhound/trailhound/workflows"
)

// Notifier writes alerts as readable text.
type Notifier struct {
	mu    sync.Mutex
	w     io.Writer
	color bool
}

// New returns a notifier writing to w, with ANSI colour when color is set.
func New(w io.Writer, color bool) *Notifier { return &Notifier{w: w, color: color} }

// Name implements workflows.Notifier.
func (*Notifier) Name() string { return "terminal" }

// RouteBlind implements workflows.RouteBlind: the terminal has no channels,
// so it prints every alert whatever the routes.
func (*Notifier) RouteBlind() bool { return true }

var ansi = map[detectors.Severity]string{
	detectors.Info:     "\x1b[37m",
	detectors.Low:      "\x1b[32m",
	detectors.Medium:   "\x1b[33m",
	detectors.High:     "\x1b[31m",
	detectors.Critical: "\x1b[1;41;97m",
}

// Notify implements workflows.Notifier.
func (n *Notifier) Notify(_ context.Context, note workflows.Notification) (workflows.MessageRef, bool, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	m := bot.MessageFor(note)
	var b strings.Builder
	switch {
	case m.Replace:
		// A terminal cannot redraw: print the change as one line.
		fmt.Fprintf(&b, "%s %s: %s\n", note.Alert.ID, note.Alert.Finding.Title, bot.StatusLine(note.Alert))
	case m.Card != nil:
		if m.Text != "" {
			b.WriteString(m.Text + "\n")
		}
		b.WriteString(n.Render(*m.Card))
	case m.InThread:
		fmt.Fprintf(&b, "%s %s: %s\n", note.Alert.ID, note.Alert.Finding.Title, m.Text)
	default:
		b.WriteString(strings.TrimRight(m.Text, "\n") + "\n")
		if m.Attachment != nil {
			fmt.Fprintf(&b, "(attachment %s, %d bytes, not shown in the terminal)\n", m.Attachment.Name, len(m.Attachment.Data))
		}
	}
	_, err := io.WriteString(n.w, b.String())
	if err != nil {
		return workflows.MessageRef{}, false, fmt.Errorf("terminal: %w", err)
	}
	return workflows.MessageRef{}, false, nil
}

// Render formats a card as text.
func (n *Notifier) Render(c bot.Card) string {
	var b strings.Builder
	title := c.Title
	if n.color {
		title = ansi[c.Severity] + title + "\x1b[0m"
	}
	fmt.Fprintf(&b, "%s\n  %s\n", title, c.Summary)
	if c.Reason != "" {
		fmt.Fprintf(&b, "  why: %s\n", c.Reason)
	}
	width := 0
	for _, f := range c.Fields {
		width = max(width, len(f.Label))
	}
	for _, f := range c.Fields {
		fmt.Fprintf(&b, "  %-*s  %s\n", width, f.Label, f.Value)
	}
	if c.Recommendation != "" {
		fmt.Fprintf(&b, "  what to do: %s\n", c.Recommendation)
	}
	fmt.Fprintf(&b, "  status: %s\n\n", c.Status)
	return b.String()
}
