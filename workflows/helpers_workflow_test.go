package workflows

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/trailhound/trailhound/configs"
)

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// configFromYAML decodes a whole config file's text and returns its
// workflows section.
func configFromYAML(t *testing.T, text string) *Config {
	t.Helper()
	cfg, err := configs.Parse([]byte(text), "test.yaml", func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	c, err := LoadConfig(cfg.Workflows, testNotifiers)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// funcNotifier is a notifier whose behaviour is a function; by default it
// posts every new message with an id of its own and echoes references.
type funcNotifier struct {
	name   string
	notify func(n Notification) (MessageRef, bool, error)
	got    []Notification
}

func (f *funcNotifier) Name() string { return f.name }

func (f *funcNotifier) Notify(_ context.Context, n Notification) (MessageRef, bool, error) {
	f.got = append(f.got, n)
	if f.notify != nil {
		return f.notify(n)
	}
	switch {
	case n.Kind == NotifyEscalate && n.Ref.MessageID != "":
		// A reply in the thread of the alert's card.
	case n.Kind == NotifyNew, n.Kind == NotifyEscalate:
		ch := n.Channel
		if ch == "" {
			ch = "DEFAULT"
		}
		if n.DirectTo != "" {
			ch = "D-" + n.DirectTo
		}
		return MessageRef{Channel: ch, MessageID: fmt.Sprintf("%s-%d", f.name, len(f.got))}, false, nil
	}
	return n.Ref, false, nil
}

// kinds lists what the notifier received as "kind@channel" (or @user).
func (f *funcNotifier) kinds() []string {
	var out []string
	for _, n := range f.got {
		dest := n.Channel
		if n.DirectTo != "" {
			dest = "@" + n.DirectTo
		}
		out = append(out, string(n.Kind)+"@"+dest)
	}
	return out
}

func (f *funcNotifier) reset() { f.got = nil }

func dispatch(t *testing.T, s *Store, ns ...Notifier) {
	t.Helper()
	d := &Dispatcher{Store: s, Notifiers: ns}
	if _, err := d.Dispatch(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Pending(); err != nil || n != 0 {
		t.Fatalf("pending=%d after dispatch (err %v), want 0", n, err)
	}
}
