package bot

import (
	"context"
	"errors"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/trailhound/trailhound/workflows"
)

// TestFencedServiceChangesNothing: once the instance has lost its lease,
// a card action and a command are answered that another instance is
// active, and nothing is written, not even an audit entry.
func TestFencedServiceChangesNothing(t *testing.T) {
	s, id := newService(t)
	s.Fence = func() error { return errors.New("lease lost") }
	lastTx := func() int {
		n := 0
		_ = s.Store.DB().View(func(tx *bolt.Tx) error { n = tx.ID(); return nil })
		return n
	}
	before := lastTx()
	r := s.Do(context.Background(), responder, Responder, OpAcknowledge, id, OpOptions{})
	if r.Failed == "" || !r.Ephemeral || !strings.Contains(r.Text, "Another Trailhound instance is active") {
		t.Fatalf("action reply=%+v", r)
	}
	r = s.Run(context.Background(), responder, Responder, Command{Name: "ack", ID: id})
	if r.Failed == "" || !strings.Contains(r.Text, "Another Trailhound instance is active") {
		t.Fatalf("command reply=%+v", r)
	}
	if got := lastTx(); got != before {
		t.Fatalf("a fenced service wrote (tx %d -> %d)", before, got)
	}
	if a, _ := s.Store.Get(id); a.State != workflows.StateNew {
		t.Fatalf("state=%s, want new", a.State)
	}
	// Holding the lease again (the fence passes), the action works.
	s.Fence = func() error { return nil }
	if r := s.Do(context.Background(), responder, Responder, OpAcknowledge, id, OpOptions{}); r.Failed != "" {
		t.Fatalf("unfenced reply=%+v", r)
	}
}
