package rules_test

import (
	"context"
	"fmt"
	"github.com/trailhound/trailhound/internal/shareddata"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/trailhound/trailhound/detectors"
	"github.com/trailhound/trailhound/detectors/rules"
	"github.com/trailhound/trailhound/sources"
	"github.com/trailhound/trailhound/sources/file"
)

const thresholdRule = `- id: test-burst
  title: Burst
  severity: medium
  description: D.
  recommendation: R.
  reason: "{count} failures from {source_ip} within {window}"
  match: {action: ConsoleLogin, failed: "true"}
  threshold: {count: 3, window: 10m, group_by: [account, source_ip]}
`

func openDB(t *testing.T, path string) *bolt.DB {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func loadRule(t *testing.T, src string, db *bolt.DB) *rules.Rule {
	t.Helper()
	defs, err := rules.Parse([]byte(src), "t.yaml", "test")
	if err != nil {
		t.Fatal(err)
	}
	p, err := rules.Assemble([][]rules.Definition{defs}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.LoadState(db); err != nil {
		t.Fatal(err)
	}
	return p.Rules()[0]
}

func failedLogin(t *testing.T, id string, at time.Time, ip string) *sources.Event {
	t.Helper()
	return normalize(t, fmt.Sprintf(`{"eventTime":%q,"eventID":%q,"eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin","recipientAccountId":"111122223333","sourceIPAddress":%q,"errorMessage":"Failed authentication","userIdentity":{"type":"IAMUser","userName":"alice"},"responseElements":{"ConsoleLogin":"Failure"}}`,
		at.UTC().Format(time.RFC3339), id, ip))
}

func detect(t *testing.T, r *rules.Rule, ev *sources.Event) []detectors.Finding {
	t.Helper()
	fs, err := r.Detect(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

func save(t *testing.T, db *bolt.DB, r *rules.Rule) {
	t.Helper()
	if err := db.Update(r.Save); err != nil {
		t.Fatal(err)
	}
}

// TestThresholdSurvivesRestart counts two failures, saves, reopens the
// database, reads the same two failures again (as a source does after a
// restart) and a third: exactly one finding, counting three.
func TestThresholdSurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "trailhound.db")
	t0 := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	e1 := failedLogin(t, "e1", t0, "203.0.113.7")
	e2 := failedLogin(t, "e2", t0.Add(time.Minute), "203.0.113.7")
	e3 := failedLogin(t, "e3", t0.Add(2*time.Minute), "203.0.113.7")

	db := openDB(t, path)
	r := loadRule(t, thresholdRule, db)
	if fs := append(detect(t, r, e1), detect(t, r, e2)...); len(fs) != 0 {
		t.Fatalf("findings=%d before the threshold, want 0", len(fs))
	}
	save(t, db, r)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db = openDB(t, path)
	defer db.Close()
	r = loadRule(t, thresholdRule, db)
	if fs := append(detect(t, r, e1), detect(t, r, e2)...); len(fs) != 0 {
		t.Fatalf("re-read events counted again: %d findings", len(fs))
	}
	fs := detect(t, r, e3)
	if len(fs) != 1 {
		t.Fatalf("findings=%d, want 1", len(fs))
	}
	f := fs[0]
	if f.EventCount != 3 || f.Reason != "3 failures from 203.0.113.7 within 10m" {
		t.Errorf("count=%d reason=%q", f.EventCount, f.Reason)
	}
	if got := strings.Join(f.EventIDs, ","); got != "e3,e2,e1" {
		t.Errorf("event ids=%s, want e3,e2,e1", got)
	}
	// The same events again yield the same fingerprint, which the alert
	// store drops as a duplicate.
	r2 := loadRule(t, thresholdRule, db)
	detect(t, r2, e1)
	detect(t, r2, e2)
	if again := detect(t, r2, e3); len(again) != 1 || again[0].Fingerprint != f.Fingerprint || again[0].GroupKey != f.GroupKey {
		t.Errorf("re-detection gave a different fingerprint or group key")
	}
}

// TestThresholdWindowSlides checks that old events leave the window, that
// keys are counted apart, and that Save drops expired windows.
func TestThresholdWindowSlides(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "trailhound.db"))
	defer db.Close()
	r := loadRule(t, thresholdRule, db)
	t0 := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	detect(t, r, failedLogin(t, "a1", t0, "203.0.113.7"))
	detect(t, r, failedLogin(t, "a2", t0.Add(time.Minute), "203.0.113.7"))
	detect(t, r, failedLogin(t, "b1", t0.Add(2*time.Minute), "198.51.100.1"))
	if fs := detect(t, r, failedLogin(t, "a3", t0.Add(11*time.Minute), "203.0.113.7")); len(fs) != 0 {
		t.Fatalf("a1 fell out of the window, yet findings=%d", len(fs))
	}
	if fs := detect(t, r, failedLogin(t, "a4", t0.Add(11*time.Minute), "203.0.113.7")); len(fs) != 1 {
		t.Fatalf("a2..a4 within 10m: findings=%d, want 1", len(fs))
	}
	// A window idle for less than a day past its rule's window stays, for
	// late events; older ones are dropped when state is saved.
	stored := func() string {
		var keys []string
		db.View(func(tx *bolt.Tx) error {
			return tx.Bucket(rules.BucketThreshold).ForEach(func(k, _ []byte) error {
				keys = append(keys, strings.NewReplacer("\x00", "|", "\x1f", "/").Replace(string(k)))
				return nil
			})
		})
		return strings.Join(keys, " ")
	}
	detect(t, r, failedLogin(t, "c1", t0.Add(time.Hour), "192.0.2.1"))
	save(t, db, r)
	if got, want := stored(), "test-burst|111122223333/192.0.2.1 test-burst|111122223333/198.51.100.1 test-burst|111122223333/203.0.113.7"; got != want {
		t.Errorf("stored windows=%q, want %q", got, want)
	}
	detect(t, r, failedLogin(t, "d1", t0.Add(25*time.Hour), "192.0.2.2"))
	save(t, db, r)
	if got, want := stored(), "test-burst|111122223333/192.0.2.1 test-burst|111122223333/192.0.2.2"; got != want {
		t.Errorf("stored windows=%q, want %q", got, want)
	}
}

// TestThresholdCorruptState reports a corrupt window instead of starting
// silently from scratch.
func TestThresholdCorruptState(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "trailhound.db"))
	defer db.Close()
	err := db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(rules.BucketThreshold)
		if err != nil {
			return err
		}
		return b.Put([]byte("test-burst\x00k"), []byte("{not json"))
	})
	if err != nil {
		t.Fatal(err)
	}
	defs, _ := rules.Parse([]byte(thresholdRule), "t.yaml", "test")
	p, _ := rules.Assemble([][]rules.Definition{defs}, nil, nil)
	err = p.LoadState(db)
	if err == nil || !strings.Contains(err.Error(), `rules: load threshold state of test-burst: window "k" is corrupt`) {
		t.Fatalf("error=%v", err)
	}
}

// TestThresholdDistinct counts distinct values, not events.
func TestThresholdDistinct(t *testing.T) {
	src := `- id: test-distinct
  title: T
  severity: low
  description: D.
  recommendation: R.
  reason: "{count} secrets: {values}"
  match: {action: GetSecretValue}
  threshold: {count: 3, window: 10m, distinct: requestParameters.secretId}
`
	r := loadRule(t, src, nil)
	read := func(id, secret string) []detectors.Finding {
		return detect(t, r, normalize(t, fmt.Sprintf(`{"eventTime":"2024-01-01T00:00:00Z","eventID":%q,"eventSource":"secretsmanager.amazonaws.com","eventName":"GetSecretValue","userIdentity":{"type":"IAMUser","userName":"a","arn":"arn:a"},"requestParameters":{"secretId":%q}}`, id, secret)))
	}
	read("1", "db")
	read("2", "db")
	read("3", "api")
	if fs := read("4", "api"); len(fs) != 0 {
		t.Fatalf("two distinct secrets fired")
	}
	fs := read("5", "tls")
	if len(fs) != 1 || fs[0].Reason != "3 secrets: db, api, tls" {
		t.Fatalf("findings=%v", fs)
	}
}

// TestThresholdRestartIndependent replays real CloudTrail records, out of
// time order across files as CloudTrail delivers them, once without a
// break and once saving state, closing and reopening the database every
// 97 events: both must produce exactly the same findings.
func TestThresholdRestartIndependent(t *testing.T) {
	data := shareddata.Path(t, "")
	var events []*sources.Event
	collect := func(path string) {
		evs, err := readEvents(path)
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, evs...)
	}
	collect(filepath.Join("..", "..", "configs", "samples", "invictus-cloudtrail.json"))
	collect(filepath.Join(data, "stratus_red_team_detonation_logs"))
	// The rest of the same day, after a year of newer records.
	collect(filepath.Join(data, "invictus_sigma_aws_stratus", "invictus_sigma_aws_stratus.jsonl"))

	run := func(every int) map[string]bool {
		path := filepath.Join(t.TempDir(), "trailhound.db")
		db := openDB(t, path)
		open := func() *rules.Pack {
			p, err := rules.Load(rules.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if err := p.LoadState(db); err != nil {
				t.Fatal(err)
			}
			return p
		}
		p := open()
		got := map[string]bool{}
		for i, ev := range events {
			for _, r := range p.Rules() {
				fs, _ := r.Detect(context.Background(), ev)
				for _, f := range fs {
					got[f.Fingerprint+" "+f.GroupKey] = true
				}
			}
			if every > 0 && (i+1)%every == 0 {
				err := db.Update(func(tx *bolt.Tx) error {
					for _, r := range p.Rules() {
						if err := r.Save(tx); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				db.Close()
				db = openDB(t, path)
				p = open()
			}
		}
		db.Close()
		return got
	}
	want, got := run(0), run(97)
	if len(want) == 0 {
		t.Fatal("no findings at all")
	}
	for k := range want {
		if !got[k] {
			t.Errorf("finding lost with restarts: %s", k)
		}
	}
	for k := range got {
		if !want[k] {
			t.Errorf("finding only with restarts: %s", k)
		}
	}
	t.Logf("%d events, %d findings either way", len(events), len(want))
}

// readEvents reads a file or directory with the file source.
func readEvents(path string) ([]*sources.Event, error) {
	src, err := file.New("t", file.Options{Paths: []string{path}, Rescan: true}, nil)
	if err != nil {
		return nil, err
	}
	var out []*sources.Event
	_, err = src.Fetch(context.Background(), nil, sources.FuncSink{OnEvent: func(_ context.Context, ev *sources.Event) error {
		c := *ev
		out = append(out, &c)
		return nil
	}})
	return out, err
}

// TestThresholdConcurrentSources feeds one threshold rule from two
// goroutines, as two sources polled at once share an engine, while state
// is saved; run with -race.
func TestThresholdConcurrentSources(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "trailhound.db"))
	defer db.Close()
	r := loadRule(t, thresholdRule, db)
	t0 := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	done := make(chan int)
	for g := 0; g < 2; g++ {
		go func(g int) {
			n := 0
			for i := 0; i < 50; i++ {
				ev := failedLogin(t, fmt.Sprintf("g%d-%d", g, i), t0.Add(time.Duration(i)*time.Second), "203.0.113.7")
				fs, _ := r.Detect(context.Background(), ev)
				n += len(fs)
			}
			done <- n
		}(g)
	}
	for i := 0; i < 5; i++ {
		save(t, db, r)
	}
	total := <-done + <-done
	// 100 events in one window: every one from the third on fires.
	if total != 98 {
		t.Fatalf("findings=%d, want 98", total)
	}
}
