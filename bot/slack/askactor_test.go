package slack

import (
	"bytes"
	"testing"

	"github.com/trailhound/trailhound/bot"
	"github.com/trailhound/trailhound/workflows"
)

// TestAskActorAnsweredLosesButtons: the person behind the sign-in is asked
// by direct message "was this you?"; their answer reaches the store, and
// the question is redrawn with the answer and without its buttons, so it
// cannot be pressed again.
func TestAskActorAnsweredLosesButtons(t *testing.T) {
	h := newHarness(t)
	h.store.Config = workflows.DefaultConfig()
	h.store.Config.AskActor.Rules = []string{"aws-console-login-without-mfa"}
	h.store.Config.AskActor.Users = []workflows.ActorUser{{Principal: "stratus-red-team-*", Slack: "U0ASKED"}}
	h.start()
	a := h.ingest(finding(t, 0)).New[0]
	h.dispatch(h.n)

	var q *fakeMsg
	h.fake.mu.Lock()
	for _, m := range h.fake.msgs {
		if m.Channel == "D0ASKED" && bytes.Contains(m.Blocks, []byte(bot.ActionID(bot.OpConfirmMine, a.ID))) {
			q = m
		}
	}
	h.fake.mu.Unlock()
	if q == nil {
		t.Fatal("no \"was this you?\" question posted to the actor's direct messages")
	}
	ref := workflows.MessageRef{Channel: q.Channel, MessageID: q.TS}
	p := h.buttonPayload("U0ASKED", bot.OpConfirmMine, a.ID, ref)
	p["message"].(map[string]any)["text"] = q.Text
	if code, body := h.signedPost(PathInteractions, interactionBody(p)); code != 200 {
		t.Fatalf("status=%d %s", code, body)
	}
	h.n.Wait()
	if got := h.alert(a.ID).ActorAnswer; got != workflows.AnswerConfirmed {
		t.Fatalf("answer=%q, want %q", got, workflows.AnswerConfirmed)
	}
	h.fake.mu.Lock()
	defer h.fake.mu.Unlock()
	var settled *fakeUpdate
	for i := range h.fake.updates {
		if u := h.fake.updates[i]; u.Channel == q.Channel && u.TS == q.TS {
			settled = &h.fake.updates[i]
		}
	}
	if settled == nil {
		t.Fatal("the answered question was not redrawn")
	}
	if bytes.Contains(settled.Blocks, []byte(`"type":"actions"`)) || bytes.Contains(settled.Blocks, []byte(bot.ActionPrefix)) {
		t.Fatalf("answered question keeps its buttons: %s", settled.Blocks)
	}
	if !bytes.Contains([]byte(settled.Text), []byte("Answered: yes, that was me.")) {
		t.Fatalf("text=%q", settled.Text)
	}
}
