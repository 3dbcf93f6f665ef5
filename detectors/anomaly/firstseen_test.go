package anomaly

import (
	"strings"
	"testing"
	"time"

	"github.com/trailhound/trailhound/detectors"
	"github.com/trailhound/trailhound/internal/testdb"
	"github.com/trailhound/trailhound/sources"
)

func TestFirstSeen(t *testing.T) {
	history := routine(14, t0.AddDate(0, 0, -14), "alice")
	tests := []struct {
		name string
		ev   *sources.Event
		// want are the first-seen tags expected, in order.
		want       []string
		wantReason string
		wantSev    detectors.Severity
	}{
		{
			name:       "new write call",
			ev:         mkEvent(write("iam.amazonaws.com", "CreateUser")),
			want:       []string{"first-seen:api_call"},
			wantReason: "first call of iam:CreateUser by alice in 14 days of history (480 events)",
			wantSev:    detectors.Low,
		},
		{
			name:       "secret read counts as sensitive",
			ev:         mkEvent(call("secretsmanager.amazonaws.com", "GetSecretValue")),
			want:       []string{"first-seen:api_call"},
			wantReason: "first call of secretsmanager:GetSecretValue by alice",
		},
		{name: "new read call is not judged", ev: mkEvent(call("s3.amazonaws.com", "ListBuckets"))},
		{name: "failed new write is not judged", ev: mkEvent(write("iam.amazonaws.com", "CreateUser"), failed("AccessDenied"))},
		{name: "known write", ev: mkEvent(write("ec2.amazonaws.com", "CreateTags"))},
		{name: "known everything", ev: mkEvent()},
		{
			name:       "new client family",
			ev:         mkEvent(ua("stratus-red-team_5c59eb79-6dac-405c-a4c4-e19aec03c")),
			want:       []string{"first-seen:user_agent"},
			wantReason: `first use of "stratus-red-team" by alice in 14 days of history (480 events); known: aws-cli`,
			wantSev:    detectors.Medium,
		},
		{name: "same family, other version", ev: mkEvent(ua("aws-cli/1.29.0 Python/3.8"))},
		{
			name:       "new network",
			ev:         mkEvent(ip("203.0.113.50")),
			want:       []string{"first-seen:network"},
			wantReason: "first activity of alice from 203.0.113.0/24",
		},
		{name: "same /24, other address", ev: mkEvent(ip("198.51.100.200"))},
		{name: "call made by AWS on her behalf", ev: mkEvent(ip("AWS Internal"), ua("AWS Internal"), write("kms.amazonaws.com", "ReEncrypt"))},
		{
			name:       "new region of the account",
			ev:         mkEvent(region("ap-south-1")),
			want:       []string{"first-seen:region"},
			wantReason: "first activity in region ap-south-1 by account " + acct,
			wantSev:    detectors.Medium,
		},
		{
			name: "attacker: new client, network and call at once",
			ev:   mkEvent(ip("200.1.2.3"), ua("Boto3/1.26.165 Python/3.10.6"), write("iam.amazonaws.com", "AttachUserPolicy")),
			want: []string{"first-seen:network", "first-seen:user_agent", "first-seen:api_call"},
		},
		{name: "new principal is learning", ev: mkEvent(user("bob"), write("iam.amazonaws.com", "CreateUser"), ua("curl/8.0"))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSuite(t, nil, testConfig())
			learnAll(s, history)
			fs := only(detect(t, s, tc.ev), RuleFirstSeen)
			var got []string
			for _, f := range fs {
				got = append(got, f.Tags[2])
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("findings=%v, want %v (reasons: %v)", got, tc.want, reasons(fs))
			}
			if len(fs) == 0 {
				return
			}
			if tc.wantReason != "" && !strings.Contains(fs[0].Reason, tc.wantReason) {
				t.Fatalf("reason=%q, want it to contain %q", fs[0].Reason, tc.wantReason)
			}
			if tc.wantSev != 0 && fs[0].Severity != tc.wantSev {
				t.Fatalf("severity=%v, want %v", fs[0].Severity, tc.wantSev)
			}
			// The same event again (an overlapping read) finds nothing.
			if again := only(detect(t, s, tc.ev), RuleFirstSeen); len(again) != 0 {
				t.Fatalf("repeat found %v", reasons(again))
			}
		})
	}
}

func reasons(fs []detectors.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.RuleID+": "+f.Reason)
	}
	return out
}

func TestFirstSeenGroupsByPrincipal(t *testing.T) {
	s := newSuite(t, nil, testConfig())
	learnAll(s, routine(14, t0.AddDate(0, 0, -14), "alice"))
	var fs []detectors.Finding
	for _, a := range []string{"CreateUser", "CreateAccessKey", "AttachUserPolicy"} {
		fs = append(fs, only(detect(t, s, mkEvent(write("iam.amazonaws.com", a), ip("200.1.2.3"))), RuleFirstSeen)...)
	}
	if len(fs) != 4 {
		t.Fatalf("findings=%d (%v), want 4: three calls and one network", len(fs), reasons(fs))
	}
	fps := map[string]bool{}
	for _, f := range fs {
		if f.GroupKey != fs[0].GroupKey {
			t.Fatalf("group keys differ: %q vs %q", f.GroupKey, fs[0].GroupKey)
		}
		fps[f.Fingerprint] = true
	}
	if len(fps) != len(fs) {
		t.Fatalf("fingerprints not distinct: %d of %d", len(fps), len(fs))
	}
}

func TestFirstSeenLearningPeriod(t *testing.T) {
	tests := []struct {
		name   string
		days   int
		events int
		fires  bool
	}{
		{"no history", 0, 0, false},
		{"old enough but too few events", 10, 5, false},
		{"many events but too recent", 1, 200, false},
		{"both", 4, 30, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSuite(t, nil, testConfig()) // 3 days, 20 events
			start := t0.AddDate(0, 0, -tc.days)
			for i := 0; i < tc.events; i++ {
				step := time.Duration(0)
				if tc.events > 1 {
					step = t0.Sub(start) / time.Duration(tc.events)
				}
				s.Learn(mkEvent(user("carol"), at(start.Add(time.Duration(i)*step))))
			}
			fs := only(detect(t, s, mkEvent(user("carol"), write("iam.amazonaws.com", "CreateUser"))), RuleFirstSeen)
			if got := len(fs) > 0; got != tc.fires {
				t.Fatalf("fired=%v, want %v (%v)", got, tc.fires, reasons(fs))
			}
		})
	}
}

func TestFirstSeenBoundedTerms(t *testing.T) {
	c := testConfig()
	c.Limits.MaxTerms = 3
	s := newSuite(t, nil, c)
	learnAll(s, routine(14, t0.AddDate(0, 0, -14), "alice"))
	// Four networks overflow the bound of three: the kind is then too
	// varied to judge.
	for i, a := range []string{"192.0.2.1", "203.0.113.1", "200.1.2.3", "1.2.3.4"} {
		s.Learn(mkEvent(ip(a), at(t0.Add(-time.Duration(4-i)*time.Minute))))
	}
	p := s.FirstSeen.tab.get("principal|"+acct+"|arn:aws:iam::"+acct+":user/alice", false)
	if n := len(p.Sets[KindNetwork].Terms); n != 3 {
		t.Fatalf("networks kept=%d, want 3", n)
	}
	if !p.Sets[KindNetwork].Full {
		t.Fatal("network set not marked full")
	}
	if fs := only(detect(t, s, mkEvent(ip("8.8.8.8"))), RuleFirstSeen); len(fs) != 0 {
		t.Fatalf("full set judged: %v", reasons(fs))
	}
}

func TestFirstSeenAssumedRoleSessions(t *testing.T) {
	s := newSuite(t, nil, testConfig())
	role := func(session string) evOpt {
		return func(e *sources.Event) {
			e.Principal = sources.Principal{ARN: "arn:aws:sts::" + acct + ":assumed-role/deploy/" + session, Type: "AssumedRole", Name: "deploy/" + session, AccountID: acct}
		}
	}
	// Every session of the role is a new ARN; the baseline is the role's.
	for i := 0; i < 40; i++ {
		s.Learn(mkEvent(role("i-0abc"+string(rune('a'+i%26))), at(t0.Add(-time.Duration(40-i)*3*time.Hour))))
	}
	fs := only(detect(t, s, mkEvent(role("i-new-session"), write("iam.amazonaws.com", "CreateUser"))), RuleFirstSeen)
	if len(fs) != 1 || !strings.Contains(fs[0].Reason, "by deploy in") {
		t.Fatalf("findings=%v, want one for role deploy", reasons(fs))
	}
}

func TestFirstSeenPersists(t *testing.T) {
	path := t.TempDir() + "/trailhound.db"
	db := testdb.OpenAt(t, path)
	s := newSuite(t, db, testConfig())
	for _, e := range routine(14, t0.AddDate(0, 0, -14), "alice") {
		detect(t, s, e)
	}
	saveSuite(t, db, s)
	testdb.Close(t, db)

	db = testdb.OpenAt(t, path)
	s = newSuite(t, db, testConfig())
	if fs := only(detect(t, s, mkEvent(write("ec2.amazonaws.com", "CreateTags"))), RuleFirstSeen); len(fs) != 0 {
		t.Fatalf("known call after restart: %v", reasons(fs))
	}
	fs := only(detect(t, s, mkEvent(write("iam.amazonaws.com", "CreateUser"))), RuleFirstSeen)
	if len(fs) != 1 || !strings.Contains(fs[0].Reason, "14 days of history (481 events)") {
		t.Fatalf("after restart: %v", reasons(fs))
	}
}
