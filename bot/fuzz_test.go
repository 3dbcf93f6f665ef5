package bot

import (
	"strings"
	"testing"
)

// FuzzParseCommand feeds arbitrary slash-command text to the parser: it
// must never panic, errors are usage errors, and accepted ids are
// well-formed.
func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{"", "help", "findings since 24h severity high", "show TH-1", "silence r 2h x", "task T-1 done", "tasks mine", "findings account=111122223333", "digest since 7d",
		"activity alice --around TH-12", "activity --since=24h AKIAEXAMPLEALICE", "activity arn:aws:iam::1:user/a since 90d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		c, err := ParseCommand(text)
		if err != nil {
			if !IsUsage(err) {
				t.Fatalf("non-usage error %v", err)
			}
			return
		}
		if _, ok := Usage[c.Name]; !ok {
			t.Fatalf("accepted unknown command %q", c.Name)
		}
		if c.ID != "" && !(validAlertID(c.ID) || validID(c.ID, "T-") || validID(c.ID, "S-")) {
			t.Fatalf("accepted malformed id %q", c.ID)
		}
		if strings.ContainsAny(c.RuleID, " <>\n") {
			t.Fatalf("accepted rule id %q", c.RuleID)
		}
		if c.Name == "activity" {
			if c.Principal == "" && c.ID == "" || c.ID != "" && c.Since != 0 || c.Since < 0 || c.Since > MaxActivitySince ||
				c.Principal != "" && (!validPrincipal(c.Principal) || strings.Contains(c.Principal, "*")) {
				t.Fatalf("accepted activity command %+v from %q", c, text)
			}
		}
	})
}

// FuzzParseActionID checks button ids from chat payloads.
func FuzzParseActionID(f *testing.F) {
	f.Add(ActionID(OpAcknowledge, "TH-1"))
	f.Add("trailhound:task:TH-99")
	f.Add("trailhound::")
	f.Fuzz(func(t *testing.T, s string) {
		op, id, err := ParseActionID(s)
		if err != nil {
			return
		}
		if _, ok := MinRole[op]; !ok || !validAlertID(id) {
			t.Fatalf("accepted %q as %q %q", s, op, id)
		}
	})
}
