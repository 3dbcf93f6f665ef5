package anomaly

import (
	"context"
	"fmt"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/trailhound/trailhound/configs"
	"github.com/trailhound/trailhound/detectors"
	"github.com/trailhound/trailhound/internal/testdb"
	"github.com/trailhound/trailhound/sources"
)

const acct = "111122223333"

// t0 is a Monday, 10:00 UTC: inside default business hours.
var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

// ev builds a CloudTrail-like event by user name (an IAM user of acct).
type evOpt func(*sources.Event)

func at(t time.Time) evOpt     { return func(e *sources.Event) { e.Time = t } }
func ip(s string) evOpt        { return func(e *sources.Event) { e.SourceIP = s } }
func ua(s string) evOpt        { return func(e *sources.Event) { e.UserAgent = s } }
func region(s string) evOpt    { return func(e *sources.Event) { e.Region = s } }
func readOnly() evOpt          { return func(e *sources.Event) { e.ReadOnly = true } }
func failed(code string) evOpt { return func(e *sources.Event) { e.ErrorCode = code } }
func source(s string) evOpt    { return func(e *sources.Event) { e.Source = s } }
func id(s string) evOpt        { return func(e *sources.Event) { e.ID = s } }
func account(s string) evOpt {
	return func(e *sources.Event) { e.Account = s; e.Principal.AccountID = s }
}
func call(service, action string) evOpt {
	return func(e *sources.Event) { e.Service, e.Action = service, action }
}

func user(name string) evOpt {
	return func(e *sources.Event) {
		e.Principal = sources.Principal{ARN: "arn:aws:iam::" + acct + ":user/" + name, Type: "IAMUser", Name: name, AccountID: acct}
	}
}

var evSeq int

func mkEvent(opts ...evOpt) *sources.Event {
	evSeq++
	e := &sources.Event{
		Time:      t0,
		ID:        fmt.Sprintf("ev-%06d", evSeq),
		Source:    "trail",
		Account:   acct,
		Region:    "eu-west-1",
		Service:   "ec2.amazonaws.com",
		Action:    "DescribeInstances",
		ReadOnly:  true,
		SourceIP:  "198.51.100.7",
		UserAgent: "aws-cli/2.15.0 Python/3.11.6 Linux/6.5 exe/x86_64.ubuntu.22",
		Raw:       []byte(`{"eventName":"x"}`),
	}
	user("alice")(e)
	for _, o := range opts {
		o(e)
	}
	return e
}

// write makes an event a successful write call.
func write(service, action string) evOpt {
	return func(e *sources.Event) { e.Service, e.Action, e.ReadOnly = service, action, false }
}

// testConfig is the default config with a short learning period.
func testConfig() Config {
	c := DefaultConfig()
	c.Learning.MinAge = configs.Duration(3 * 24 * time.Hour)
	c.Learning.MinEvents = 20
	return c
}

func newSuite(t testing.TB, db *bolt.DB, c Config) *Suite {
	t.Helper()
	s, err := New(db, c, Options{Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// detect runs every detector of s on ev, as the engine does.
func detect(t testing.TB, s *Suite, ev *sources.Event) []detectors.Finding {
	t.Helper()
	fs, err := detectors.NewEngine(s.Detectors()...).Detect(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

// routine is alice's usual week-day work: days of read calls and a few
// writes from her office address with the CLI, 09:00-17:00 UTC.
func routine(days int, start time.Time, who string) []*sources.Event {
	var out []*sources.Event
	for d := 0; d < days; d++ {
		day := start.AddDate(0, 0, d)
		if wd := day.Weekday(); wd == time.Saturday || wd == time.Sunday {
			continue
		}
		for h := 9; h < 17; h++ {
			base := time.Date(day.Year(), day.Month(), day.Day(), h, 0, 0, 0, time.UTC)
			for i := 0; i < 5; i++ {
				out = append(out, mkEvent(user(who), at(base.Add(time.Duration(i)*7*time.Minute))))
			}
			out = append(out, mkEvent(user(who), at(base.Add(40*time.Minute)), write("ec2.amazonaws.com", "CreateTags")))
		}
	}
	return out
}

func learnAll(s *Suite, evs []*sources.Event) {
	for _, e := range evs {
		s.Learn(e)
	}
}

func saveSuite(t testing.TB, db *bolt.DB, s *Suite) {
	t.Helper()
	if err := db.Update(s.Save); err != nil {
		t.Fatal(err)
	}
}

func rules(fs []detectors.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.RuleID+"/"+f.Title)
	}
	return out
}

func only(fs []detectors.Finding, rule string) []detectors.Finding {
	var out []detectors.Finding
	for _, f := range fs {
		if f.RuleID == rule {
			out = append(out, f)
		}
	}
	return out
}

var _ = testdb.Open
