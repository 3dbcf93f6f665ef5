package anomaly

import (
	"strings"
	"testing"
	"time"

	"github.com/trailhound/trailhound/detectors"
	"github.com/trailhound/trailhound/sources"
)

func TestOffHours(t *testing.T) {
	// t0 is Monday 2026-03-02 10:00 UTC.
	night := time.Date(2026, 3, 3, 2, 30, 0, 0, time.UTC)    // Tuesday 02:30
	sunday := time.Date(2026, 3, 8, 11, 0, 0, 0, time.UTC)   // Sunday 11:00
	evening := time.Date(2026, 3, 3, 18, 30, 0, 0, time.UTC) // Tuesday 18:30
	signin := func(e *sources.Event) {
		e.Service, e.Action, e.ReadOnly = "signin.amazonaws.com", "ConsoleLogin", false
		e.UserAgent = "Mozilla/5.0 (X11; Linux x86_64)"
	}
	tests := []struct {
		name       string
		ev         *sources.Event
		fires      bool
		wantSev    detectors.Severity
		wantReason string
	}{
		{"write at night", mkEvent(at(night), write("iam.amazonaws.com", "CreateAccessKey")), true, detectors.Low,
			"alice called iam:CreateAccessKey at Tue 02:30 UTC, outside business hours (Mon-Fri 08:00-19:00 UTC); usually active 09-17 over 10 days"},
		{"console sign-in at night", mkEvent(at(night), signin), true, detectors.Medium, "alice signed in to the console at Tue 02:30"},
		{"write on Sunday", mkEvent(at(sunday), write("ec2.amazonaws.com", "CreateTags")), true, detectors.Low, "at Sun 11:00"},
		{"read at night", mkEvent(at(night)), false, 0, ""},
		{"failed write at night", mkEvent(at(night), write("iam.amazonaws.com", "CreateAccessKey"), failed("AccessDenied")), false, 0, ""},
		{"write in business hours", mkEvent(write("iam.amazonaws.com", "CreateAccessKey")), false, 0, ""},
		// 18:30 is outside alice's usual 09-17 (with an hour's slack) but
		// inside business hours.
		{"write in the evening, in business hours", mkEvent(at(evening), write("iam.amazonaws.com", "CreateAccessKey")), false, 0, ""},
		{"new principal at night is learning", mkEvent(user("bob"), at(night), write("iam.amazonaws.com", "CreateAccessKey")), false, 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSuite(t, nil, testConfig())
			learnAll(s, routine(14, t0.AddDate(0, 0, -14), "alice"))
			fs := only(detect(t, s, tc.ev), RuleOffHours)
			if got := len(fs) > 0; got != tc.fires {
				t.Fatalf("fired=%v, want %v (%v)", got, tc.fires, reasons(fs))
			}
			if !tc.fires {
				return
			}
			if fs[0].Severity != tc.wantSev {
				t.Fatalf("severity=%v, want %v", fs[0].Severity, tc.wantSev)
			}
			if !strings.Contains(fs[0].Reason, tc.wantReason) {
				t.Fatalf("reason=%q, want it to contain %q", fs[0].Reason, tc.wantReason)
			}
		})
	}
}

func TestOffHoursLearnedNightOwl(t *testing.T) {
	// Dave works 01:00-04:00 UTC every day, weekends too: his nights are
	// usual and do not fire; a write at 14:00 on Saturday is outside
	// business days and outside his hours.
	s := newSuite(t, nil, testConfig())
	start := t0.AddDate(0, 0, -14)
	for d := 0; d < 14; d++ {
		for h := 1; h < 4; h++ {
			base := time.Date(start.Year(), start.Month(), start.Day()+d, h, 0, 0, 0, time.UTC)
			for i := 0; i < 3; i++ {
				s.Learn(mkEvent(user("dave"), at(base.Add(time.Duration(i)*10*time.Minute)), write("ec2.amazonaws.com", "CreateTags")))
			}
		}
	}
	tue := time.Date(2026, 3, 3, 2, 15, 0, 0, time.UTC)
	if fs := only(detect(t, s, mkEvent(user("dave"), at(tue), write("ec2.amazonaws.com", "CreateTags"))), RuleOffHours); len(fs) != 0 {
		t.Fatalf("usual night fired: %v", reasons(fs))
	}
	sat := time.Date(2026, 3, 7, 14, 0, 0, 0, time.UTC)
	fs := only(detect(t, s, mkEvent(user("dave"), at(sat), write("ec2.amazonaws.com", "CreateTags"))), RuleOffHours)
	if len(fs) != 1 || !strings.Contains(fs[0].Reason, "usually active 01-04 over 15 days") {
		t.Fatalf("findings=%v, want one naming dave's hours", reasons(fs))
	}
}

func TestOffHoursAccountTimeZone(t *testing.T) {
	c := testConfig()
	c.OffHours.Accounts = map[string]BusinessHours{"444455556666": {TimeZone: "Asia/Tokyo"}}
	s := newSuite(t, nil, c)
	tokyo := func(e *sources.Event) {
		account("444455556666")(e)
		user("kenji")(e)
		e.Principal.ARN = "arn:aws:iam::444455556666:user/kenji"
	}
	// Kenji's history: 14 days, but no usual hours learned (one event a
	// day at 00:30 UTC = 09:30 Tokyo: inside Tokyo business hours).
	start := t0.AddDate(0, 0, -14)
	for d := 0; d < 14; d++ {
		for i := 0; i < 3; i++ {
			s.Learn(mkEvent(tokyo, at(time.Date(start.Year(), start.Month(), start.Day()+d, 0, 30+i, 0, 0, time.UTC))))
		}
	}
	// 01:00 UTC Tuesday is 10:00 in Tokyo: business hours there.
	if fs := only(detect(t, s, mkEvent(tokyo, at(time.Date(2026, 3, 3, 1, 0, 0, 0, time.UTC)), write("iam.amazonaws.com", "CreateUser"))), RuleOffHours); len(fs) != 0 {
		t.Fatalf("Tokyo morning fired: %v", reasons(fs))
	}
	// 14:00 UTC Tuesday is 23:00 in Tokyo.
	fs := only(detect(t, s, mkEvent(tokyo, at(time.Date(2026, 3, 3, 14, 0, 0, 0, time.UTC)), write("iam.amazonaws.com", "CreateUser"))), RuleOffHours)
	if len(fs) != 1 || !strings.Contains(fs[0].Reason, "at Tue 23:00 Asia/Tokyo") {
		t.Fatalf("findings=%v, want one at Tokyo night", reasons(fs))
	}
}

func TestBusinessHoursWithin(t *testing.T) {
	night := BusinessHours{TimeZone: "UTC", Days: []string{"mon", "tue", "wed", "thu", "fri"}, Start: "22:00", End: "06:00"}
	h, err := night.compile()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		t    time.Time
		want bool
	}{
		{time.Date(2026, 3, 2, 23, 0, 0, 0, time.UTC), true},  // Mon 23:00
		{time.Date(2026, 3, 3, 5, 59, 0, 0, time.UTC), true},  // Tue 05:59, Monday's shift
		{time.Date(2026, 3, 3, 6, 0, 0, 0, time.UTC), false},  // Tue 06:00
		{time.Date(2026, 3, 2, 3, 0, 0, 0, time.UTC), false},  // Mon 03:00, Sunday's shift
		{time.Date(2026, 3, 7, 1, 0, 0, 0, time.UTC), true},   // Sat 01:00, Friday's shift
		{time.Date(2026, 3, 7, 23, 0, 0, 0, time.UTC), false}, // Sat 23:00
	}
	for _, tc := range tests {
		t.Run(tc.t.Format("Mon 15:04"), func(t *testing.T) {
			if got := h.within(tc.t); got != tc.want {
				t.Fatalf("within=%v, want %v", got, tc.want)
			}
		})
	}
}
