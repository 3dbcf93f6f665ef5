package workflows

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/trailhound/trailhound/detectors"
	"github.com/trailhound/trailhound/internal/testdb"
	"github.com/trailhound/trailhound/sources"
)

// TestDispatchPassesDoNotOverlap starts a second dispatch pass (the
// dispatch schedule firing again) while the first is waiting on a slow
// post. The second pass posts nothing itself; the first delivers every
// card once, including one queued while it was posting, before it
// returns. Before passes were serialised, the second pass posted the card
// the first was waiting on, and the first pass's record of its post
// landed after the second's (in the split-brain test, after the process
// had been stopped and woken without the lease).
func TestDispatchPassesDoNotOverlap(t *testing.T) {
	db := testdb.OpenAt(t, t.TempDir()+"/th.db")
	alerts, _ := NewStore(db)
	srcStore, _ := sources.NewStore(db)
	run := func(evs int) {
		job := &Job{Source: &listSource{events: events(evs), failAfter: -1}, Detectors: detectors.NewEngine(everyEvent{}), Alerts: alerts, Sources: srcStore, Stateful: true}
		if _, err := job.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	run(2)

	var mu sync.Mutex
	posted := map[string]int{} // alert id -> cards posted
	entered, release := make(chan struct{}), make(chan struct{})
	first := true
	n := &lockedNotifier{name: "chat", notify: func(note Notification) (MessageRef, bool, error) {
		mu.Lock()
		posted[note.Alert.ID]++
		wait := first
		first = false
		mu.Unlock()
		if wait {
			close(entered)
			<-release
		}
		return MessageRef{Channel: "C", MessageID: "m-" + note.Alert.ID}, false, nil
	}}
	d := &Dispatcher{Store: alerts, Notifiers: []Notifier{n}}
	done := dispatchAsync(t, d)
	<-entered
	// A poll stores another alert, and its dispatch pass starts while
	// the first pass waits on its post.
	run(3)
	second := dispatchAsync(t, d)
	select {
	case got := <-second:
		if got != 0 {
			t.Errorf("the overlapping pass delivered %d cards, want 0 (the running pass delivers them)", got)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the overlapping pass waited for the running one instead of leaving the work to it")
	}
	close(release)
	delivered := <-done
	all, _ := alerts.List(Filter{})
	if len(all) != 3 {
		t.Fatalf("alerts=%d, want 3", len(all))
	}
	mu.Lock()
	defer mu.Unlock()
	for _, a := range all {
		if posted[a.ID] != 1 {
			t.Errorf("%s: %d cards posted, want 1", a.ID, posted[a.ID])
		}
	}
	if delivered != 3 {
		t.Errorf("the first pass delivered %d, want all 3 (the third was queued while it ran)", delivered)
	}
	if p, _ := alerts.Pending(); p != 0 {
		t.Errorf("pending=%d after the passes, want 0", p)
	}
}

// dispatchAsync runs a dispatch pass in a goroutine; the channel gets how
// many notifications it delivered.
func dispatchAsync(t *testing.T, d *Dispatcher) <-chan int {
	out := make(chan int, 1)
	go func() {
		got, err := d.Dispatch(context.Background())
		if err != nil {
			t.Error(err)
		}
		out <- got
	}()
	return out
}

// lockedNotifier is a Notifier safe for concurrent passes.
type lockedNotifier struct {
	name   string
	notify func(Notification) (MessageRef, bool, error)
}

func (l *lockedNotifier) Name() string { return l.name }

func (l *lockedNotifier) Notify(_ context.Context, n Notification) (MessageRef, bool, error) {
	return l.notify(n)
}

// TestDispatcherFencedBetweenPostAndRecord loses the lease after a post
// has answered and its fence check has passed, before the post is
// recorded (a process paused there, woken after another replica took
// over): the dispatcher commits nothing, neither the message reference
// nor the outbox item.
func TestDispatcherFencedBetweenPostAndRecord(t *testing.T) {
	db := testdb.OpenAt(t, t.TempDir()+"/th.db")
	alerts, _ := NewStore(db)
	srcStore, _ := sources.NewStore(db)
	job := &Job{Source: &listSource{events: events(2), failAfter: -1}, Detectors: detectors.NewEngine(everyEvent{}), Alerts: alerts, Sources: srcStore, Stateful: true}
	if _, err := job.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	posted, fenced, tx := false, false, 0
	n := &funcNotifier{name: "chat"}
	n.notify = func(Notification) (MessageRef, bool, error) {
		posted, tx = true, lastTx(t, db)
		return MessageRef{Channel: "C", MessageID: "1"}, false, nil
	}
	d := &Dispatcher{Store: alerts, Notifiers: []Notifier{n}, Fence: func() error {
		if fenced {
			return errFenced
		}
		// The check right after the post passes; the lease is lost
		// just after it.
		fenced = posted
		return nil
	}}
	if _, err := d.Dispatch(context.Background()); !errors.Is(err, errFenced) {
		t.Fatalf("err=%v, want the fence's error", err)
	}
	if len(n.got) != 1 {
		t.Fatalf("%d posts, want 1", len(n.got))
	}
	if got := lastTx(t, db); got != tx {
		t.Fatalf("the dispatcher committed after losing the lease (tx %d -> %d)", tx, got)
	}
	all, _ := alerts.List(Filter{})
	for _, a := range all {
		if len(a.Messages) != 0 {
			t.Fatalf("%s: message recorded after the lease was lost: %+v", a.ID, a.Messages)
		}
	}
}
