package anomaly

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/trailhound/trailhound/configs"
	"github.com/trailhound/trailhound/detectors"
	"github.com/trailhound/trailhound/internal/testdb"
	"github.com/trailhound/trailhound/sources"
)

// snapshot renders every detector's state, for comparisons.
func snapshot(t *testing.T, s *Suite) map[string]string {
	t.Helper()
	out := map[string]string{}
	add := func(name string, m any) {
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		out[name] = string(b)
	}
	add("first-seen", s.FirstSeen.tab.m)
	add("spike", s.Spike.tab.m)
	add("off-hours", s.OffHours.tab.m)
	add("location", s.Location.tab.m)
	add("silence", s.Silence.tab.m)
	return out
}

// mixed is a history with every detector's food: two users, a role,
// sign-ins from two countries, three sources.
func mixed() []*sources.Event {
	evs := routine(14, t0.AddDate(0, 0, -14), "alice")
	evs = append(evs, routine(14, t0.AddDate(0, 0, -14), "bob")...)
	for i := 0; i < 50; i++ {
		tm := t0.AddDate(0, 0, -10).Add(time.Duration(i) * 4 * time.Hour)
		evs = append(evs, mkEvent(consoleLogin, ip("198.51.100.7"), at(tm), source("console-trail")))
		evs = append(evs, mkEvent(user("bob"), consoleLogin, ip("192.0.2.5"), at(tm.Add(time.Minute)), source("console-trail")))
		evs = append(evs, mkEvent(func(e *sources.Event) {
			e.Principal = sources.Principal{ARN: "arn:aws:sts::" + acct + ":assumed-role/ci/" + fmt.Sprint(i), Type: "AssumedRole", AccountID: acct}
		}, at(tm.Add(2*time.Minute)), source("ci-logs")))
	}
	return evs
}

func TestStateSurvivesRestart(t *testing.T) {
	path := t.TempDir() + "/trailhound.db"
	db := testdb.OpenAt(t, path)
	c := geoConfig(t)
	s := newSuite(t, db, c)
	for _, e := range mixed() {
		detect(t, s, e)
	}
	saveSuite(t, db, s)
	before := snapshot(t, s)
	testdb.Close(t, db)

	db = testdb.OpenAt(t, path)
	s2 := newSuite(t, db, c)
	after := snapshot(t, s2)
	for name := range before {
		if before[name] != after[name] {
			t.Errorf("%s state differs after restart:\nbefore %.300s\nafter  %.300s", name, before[name], after[name])
		}
		if len(after[name]) < 10 {
			t.Errorf("%s state is empty: %s", name, after[name])
		}
	}
	// Buckets are the package's own.
	err := db.View(func(tx *bolt.Tx) error {
		for _, b := range []string{"first-seen", "spike", "off-hours", "location", "silence"} {
			if tx.Bucket([]byte("detectors.anomaly."+b)) == nil {
				return fmt.Errorf("no bucket detectors.anomaly.%s", b)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestRereadDoesNotDoubleCount(t *testing.T) {
	c := geoConfig(t)
	once := newSuite(t, nil, c)
	twice := newSuite(t, nil, c)
	evs := mixed()
	for _, e := range evs {
		detect(t, once, e)
	}
	// Read in two overlapping windows: everything, then the second half
	// again, then all again.
	for _, e := range evs {
		detect(t, twice, e)
	}
	for _, e := range evs[len(evs)/2:] {
		if fs := detect(t, twice, e); len(fs) != 0 {
			t.Fatalf("re-read event %s found %v", e.ID, reasons(fs))
		}
	}
	for _, e := range evs {
		detect(t, twice, e)
	}
	a, b := snapshot(t, once), snapshot(t, twice)
	for name := range a {
		if a[name] != b[name] {
			t.Errorf("%s state differs after re-reading", name)
		}
	}
}

func TestBaselineThenRun(t *testing.T) {
	// `trailhound baseline` learns 14 days and stops; `trailhound run`
	// then reads the last hours again (a source's first-poll lookback):
	// those events are not learned twice, and later ones are judged.
	path := t.TempDir() + "/trailhound.db"
	db := testdb.OpenAt(t, path)
	hist := routine(14, t0.AddDate(0, 0, -14), "alice")
	s := newSuite(t, db, testConfig())
	learnAll(s, hist)
	s.Covered(t0.AddDate(0, 0, -14))
	saveSuite(t, db, s)
	sum := s.Summary()
	if sum.Learned != int64(len(hist)) || len(sum.Accounts) != 1 || sum.Accounts[0].Principals != 1 || sum.Ready != 1 {
		t.Fatalf("summary=%+v", sum)
	}
	testdb.Close(t, db)

	db = testdb.OpenAt(t, path)
	run := newSuite(t, db, testConfig())
	for _, e := range hist[len(hist)-30:] {
		detect(t, run, e)
	}
	p := run.FirstSeen.tab.get("principal|"+acct+"|arn:aws:iam::"+acct+":user/alice", false)
	if p.H.Events != int64(len(hist)) {
		t.Fatalf("events=%d after re-reading the covered hours, want %d", p.H.Events, len(hist))
	}
	fs := only(detect(t, run, mkEvent(write("iam.amazonaws.com", "CreateUser"))), RuleFirstSeen)
	if len(fs) != 1 {
		t.Fatalf("findings=%v, want the new call", reasons(fs))
	}
}

func TestConcurrentJobs(t *testing.T) {
	// `trailhound run` polls sources in parallel through one engine.
	db := testdb.Open(t)
	s := newSuite(t, db, geoConfig(t))
	eng := detectors.NewEngine(s.Detectors()...)
	evs := mixed()
	var wg sync.WaitGroup
	for w := 0; w < 3; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < len(evs); i += 3 {
				if _, err := eng.Detect(context.Background(), evs[i]); err != nil {
					t.Error(err)
					return
				}
				if i%200 == 0 {
					if err := db.Update(eng.Save); err != nil {
						t.Error(err)
						return
					}
				}
			}
		}(w)
	}
	wg.Wait()
	if err := db.Update(eng.Save); err != nil {
		t.Fatal(err)
	}
	p := s.FirstSeen.tab.get("principal|"+acct+"|arn:aws:iam::"+acct+":user/alice", false)
	if p == nil || p.H.Events != 530 {
		t.Fatalf("alice's events=%v, want 530", p)
	}
}

func TestCorruptStateIsDropped(t *testing.T) {
	db := testdb.Open(t)
	s := newSuite(t, db, testConfig())
	learnAll(s, routine(14, t0.AddDate(0, 0, -14), "alice"))
	saveSuite(t, db, s)
	key := "principal|" + acct + "|arn:aws:iam::" + acct + ":user/alice"
	err := db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("detectors.anomaly.first-seen")).Put([]byte(key), []byte("{not json"))
	})
	if err != nil {
		t.Fatal(err)
	}
	s2 := newSuite(t, db, testConfig())
	if s2.FirstSeen.tab.get(key, false) != nil {
		t.Fatal("corrupt record loaded")
	}
	// Alice learns again from scratch: no flood of first-seen findings.
	if fs := only(detect(t, s2, mkEvent(write("iam.amazonaws.com", "CreateUser"))), RuleFirstSeen); len(fs) != 0 {
		t.Fatalf("relearning principal fired: %v", reasons(fs))
	}
	saveSuite(t, db, s2)
}

func TestStaleKeysPruned(t *testing.T) {
	c := testConfig()
	c.Limits.StaleAfter = configs.Duration(30 * 24 * time.Hour)
	c.Limits.MaxKeys = 3
	db := testdb.Open(t)
	s := newSuite(t, db, c)
	s.Learn(mkEvent(user("old"), at(t0.AddDate(0, 0, -60))))
	for i, u := range []string{"u1", "u2", "u3", "u4"} {
		s.Learn(mkEvent(user(u), at(t0.Add(time.Duration(i)*time.Minute))))
	}
	saveSuite(t, db, s)
	s2 := newSuite(t, db, c)
	n := 0
	for k := range s2.FirstSeen.tab.m {
		if k[:len("principal|")] == "principal|" {
			n++
		}
	}
	if n > 3 {
		t.Fatalf("principals kept=%d, want at most max_keys 3", n)
	}
	if s2.FirstSeen.tab.get("principal|"+acct+"|arn:aws:iam::"+acct+":user/old", false) != nil {
		t.Fatal("stale principal kept")
	}
}
