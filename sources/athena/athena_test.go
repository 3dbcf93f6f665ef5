package athena

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trailhound/trailhound/configs"
	"github.com/trailhound/trailhound/internal/shareddata"
	"github.com/trailhound/trailhound/sources"
	"github.com/trailhound/trailhound/sources/athena/athenatest"
	awssrc "github.com/trailhound/trailhound/sources/aws"
	"github.com/trailhound/trailhound/sources/internal/awstest"
)

func TestMain(m *testing.M) { os.Exit(awstest.MotoMain(m)) }

// subset reads the bundled CloudTrail records (see testdata/README.md).
func subset(t testing.TB) [][]byte {
	t.Helper()
	return athenatest.ReadLines(t, "testdata/invictus-subset.jsonl")
}

// newSource builds a source through the config path, pointed at url.
func newSource(t *testing.T, url string, yaml string) *Source {
	t.Helper()
	awstest.Credentials(t)
	sec := section(t, "endpoint_url: "+url+"\nregions: [eu-west-1]\ndatabase: cloudtrail\ntable: cloudtrail_logs_pp\noutput_location: s3://athena-results/trailhound/\nmax_attempts: 2\nmax_backoff: 5ms\n"+yaml)
	var opts Options
	if err := sec.Decode(&opts); err != nil {
		t.Fatal(err)
	}
	srcs, err := Build(context.Background(), "ath", opts, sec)
	if err != nil {
		t.Fatal(err)
	}
	s := srcs[0].(*Source)
	s.firstWait, s.maxWait = time.Millisecond, 2*time.Millisecond
	return s
}

func section(t *testing.T, text string) configs.Section {
	t.Helper()
	indented := "    " + strings.ReplaceAll(strings.TrimRight(text, "\n"), "\n", "\n      ")
	cfg, err := configs.Parse([]byte("sources:\n  - name: ath\n    type: athena\n    options:\n  "+indented+"\n"), "test.yaml", func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Sources[0].Options
}

// collect gathers what a source hands on.
type collect struct {
	events    []sources.Event
	malformed []sources.Malformed
	scanned   []int64
}

func (c *collect) sink() sources.FuncSink {
	return sources.FuncSink{
		OnEvent:     func(_ context.Context, ev *sources.Event) error { c.events = append(c.events, *ev); return nil },
		OnMalformed: func(m sources.Malformed) { c.malformed = append(c.malformed, m) },
		OnScanned:   func(n int64) { c.scanned = append(c.scanned, n) },
	}
}

func (c *collect) ids() []string {
	var ids []string
	for _, e := range c.events {
		ids = append(ids, e.ID)
	}
	return ids
}

// TestRecordRoundTrip: a record stored in the table and selected back is
// judged as the record CloudTrail delivered: the same normalised event
// and the same nested fields rules read.
func TestRecordRoundTrip(t *testing.T) {
	fields := []string{
		"userIdentity.sessionContext.sessionIssuer.userName", "userIdentity.sessionContext.attributes.mfaAuthenticated",
		"userIdentity.accessKeyId", "requestParameters", "responseElements", "resources", "tlsDetails.tlsVersion", "readOnly",
		"additionalEventData",
	}
	for _, raw := range subset(t) {
		want, err := sources.Normalize(raw, "ath")
		if err != nil {
			t.Fatal(err)
		}
		row, err := athenatest.TableRow(raw)
		if err != nil {
			t.Fatal(err)
		}
		back, err := record(row)
		if err != nil {
			t.Fatal(err)
		}
		got, err := sources.Normalize(back, "ath")
		if err != nil {
			t.Fatalf("event %s: %v", want.ID, err)
		}
		gotRaw, wantRaw := got.Raw, want.Raw
		got.Raw, want.Raw = nil, nil
		if !reflect.DeepEqual(got, want) {
			t.Errorf("event %s:\n got %+v\nwant %+v", want.ID, got, want)
		}
		got.Raw, want.Raw = gotRaw, wantRaw
		for _, f := range fields {
			gv, gok := got.Field(f)
			wv, wok := want.Field(f)
			if gok != wok || !reflect.DeepEqual(jsonOf(gv), jsonOf(wv)) {
				t.Errorf("event %s field %s=%v (%v), want %v (%v)", want.ID, f, jsonOf(gv), gok, jsonOf(wv), wok)
			}
		}
	}
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestEventsQuery(t *testing.T) {
	tb := Table{Database: "cloudtrail", Table: "org_trail", Layout: LayoutAccountRegionDate, Accounts: []string{"111122223333"}, Regions: []string{"eu-west-1", "us-east-1"}}
	w := sources.Window{Start: time.Date(2023, 7, 10, 23, 45, 0, 0, time.UTC), End: time.Date(2023, 7, 11, 0, 0, 0, 0, time.UTC)}
	q := tb.EventsQuery(w, EventNameCondition([]string{"StopLogging", "ConsoleLogin"}))
	for _, want := range []string{
		`FROM "cloudtrail"."org_trail"`,
		// Records are filed under their delivery date, up to a day later.
		`WHERE "timestamp" BETWEEN '2023/07/10' AND '2023/07/12' AND account IN ('111122223333') AND region IN ('eu-west-1', 'us-east-1')`,
		`AND eventtime >= '2023-07-10T23:45:00Z' AND eventtime < '2023-07-11T00:00:00Z'`,
		`AND (eventname IN ('ConsoleLogin', 'StopLogging'))`,
		`json_format(CAST(useridentity AS JSON)) AS useridentity`,
		"ORDER BY eventtime, eventid",
	} {
		if !strings.Contains(q, want) {
			t.Errorf("query lacks %q:\n%s", want, q)
		}
	}
	if got := EventNameCondition(nil); got != "" {
		t.Errorf("condition of any event=%q, want none", got)
	}
	if got := EventNameCondition([]string{}); got != "FALSE" {
		t.Errorf("condition of no event=%q, want FALSE", got)
	}
	if got := quote("it's"); got != "'it''s'" {
		t.Errorf("quote=%s", got)
	}
}

// TestFetchPages: one poll runs one query for its window with the
// pushed-down condition, waits through QUEUED and RUNNING, reads every
// page without the header row, reports the bytes scanned and moves the
// checkpoint to the window's end; the next poll overlaps by the lag.
func TestFetchPages(t *testing.T) {
	fake := athenatest.New(t)
	fake.Running = 3
	recs := subset(t)
	fake.Add(t, recs...)
	s := newSource(t, fake.URL, "initial_lookback: 2h\nlag: 15m\n")
	s.pageSize = 7
	s.Now = func() time.Time { return time.Date(2023, 7, 10, 12, 40, 0, 0, time.UTC) }
	var c collect
	cp, err := s.Fetch(context.Background(), nil, c.sink())
	if err != nil {
		t.Fatal(err)
	}
	if len(c.events) != len(recs) || len(c.malformed) != 0 {
		t.Fatalf("events=%d malformed=%v, want %d and none", len(c.events), c.malformed, len(recs))
	}
	for i := 1; i < len(c.events); i++ {
		if c.events[i].Time.Before(c.events[i-1].Time) {
			t.Fatalf("event %d out of time order", i)
		}
	}
	if want := fake.PartitionBytes("2023/07/10", "2023/07/10"); len(c.scanned) != 1 || c.scanned[0] != want || want == 0 {
		t.Errorf("scanned=%v, want one query of %d bytes", c.scanned, want)
	}
	if got, want := fake.Calls("GetQueryResults"), (len(recs)+1+6)/7; got != want {
		t.Errorf("GetQueryResults calls=%d, want %d pages of 7", got, want)
	}
	mk, _ := awssrc.ParseCheckpoint(cp)
	if got := mk.Marks[""].End; !got.Equal(s.Now()) {
		t.Errorf("checkpoint end=%v, want now", got)
	}
	// The next poll reads from the end less the lag, with the condition.
	s.SetCondition(EventNameCondition([]string{"ConsoleLogin", "GetCallerIdentity"}))
	s.Now = func() time.Time { return time.Date(2023, 7, 10, 13, 0, 0, 0, time.UTC) }
	var c2 collect
	if _, err := s.Fetch(context.Background(), cp, c2.sink()); err != nil {
		t.Fatal(err)
	}
	qs := fake.Queries()
	if len(qs) != 2 || !strings.Contains(qs[1], "eventtime >= '2023-07-10T12:25:00Z' AND eventtime < '2023-07-10T13:00:00Z'") ||
		!strings.Contains(qs[1], "eventname IN ('ConsoleLogin', 'GetCallerIdentity')") {
		t.Fatalf("second query:\n%s", qs[len(qs)-1])
	}
	for _, e := range c2.events {
		if e.Action != "ConsoleLogin" && e.Action != "GetCallerIdentity" {
			t.Errorf("event %s %s outside the condition", e.ID, e.Action)
		}
	}
}

// TestQueryEnds: failed and cancelled queries end the poll with an error
// classified by what a person must do, naming the query and the reason.
func TestQueryEnds(t *testing.T) {
	for _, tc := range []struct {
		name      string
		end       athenatest.End
		class     sources.Class
		permanent bool
		says      string
	}{
		{"bad SQL", athenatest.End{State: "FAILED", Reason: "COLUMN_NOT_FOUND: line 1:8: Column 'tlsdetails' cannot be resolved", Category: 2}, sources.ClassInvalid, true, "Column 'tlsdetails' cannot be resolved"},
		{"system error", athenatest.End{State: "FAILED", Reason: "GENERIC_INTERNAL_ERROR: Internal error", Category: 1, Retryable: true}, sources.ClassTransient, false, "GENERIC_INTERNAL_ERROR"},
		{"no access to bucket", athenatest.End{State: "FAILED", Reason: "Access denied when writing output to url: s3://athena-results/trailhound/", Category: 2}, sources.ClassUnauthorized, true, "Access denied"},
		{"workgroup cutoff", athenatest.End{State: "CANCELLED", Reason: "Query cancelled! : Bytes scanned limit was exceeded"}, sources.ClassInvalid, true, "bytes-scanned cutoff"},
		{"cancelled elsewhere", athenatest.End{State: "CANCELLED", Reason: "Query was cancelled by the user"}, sources.ClassTransient, false, "was cancelled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := athenatest.New(t)
			fake.Running = 2
			fake.Ends = []athenatest.End{tc.end}
			fake.Add(t, subset(t)...)
			s := newSource(t, fake.URL, "")
			s.Now = func() time.Time { return time.Date(2023, 7, 10, 12, 40, 0, 0, time.UTC) }
			var c collect
			cp, err := s.Fetch(context.Background(), nil, c.sink())
			if err == nil {
				t.Fatal("fetch succeeded, want an error")
			}
			if cp != nil || len(c.events) != 0 {
				t.Errorf("checkpoint=%s events=%d, want none", cp, len(c.events))
			}
			if got := sources.Classify(err); got != tc.class {
				t.Errorf("class=%v, want %v (%v)", got, tc.class, err)
			}
			if got := sources.IsPermanent(err); got != tc.permanent {
				t.Errorf("permanent=%v, want %v", got, tc.permanent)
			}
			if !strings.Contains(err.Error(), tc.says) || !strings.Contains(err.Error(), "a1b2c3d4-") {
				t.Errorf("error %q should name the query and say %q", err, tc.says)
			}
		})
	}
}

// TestThrottling: throttled calls are retried by the SDK's retryer; when
// throttling outlasts the attempts the poll fails as throttled, which is
// not permanent.
func TestThrottling(t *testing.T) {
	fake := athenatest.New(t)
	fake.Add(t, subset(t)...)
	s := newSource(t, fake.URL, "")
	s.Now = func() time.Time { return time.Date(2023, 7, 10, 12, 40, 0, 0, time.UTC) }
	fake.Fail(athenatest.TooManyQueries)
	var c collect
	if _, err := s.Fetch(context.Background(), nil, c.sink()); err != nil {
		t.Fatalf("one throttled start: %v", err)
	}
	if len(c.events) == 0 {
		t.Fatal("no events after a retried throttle")
	}
	fake.Fail(athenatest.Throttled, athenatest.Throttled, athenatest.Throttled)
	var c2 collect
	_, err := s.Fetch(context.Background(), nil, c2.sink())
	if err == nil || sources.Classify(err) != sources.ClassThrottled || sources.IsPermanent(err) {
		t.Fatalf("err=%v class=%v, want a throttled, passing error", err, sources.Classify(err))
	}
	if len(c2.scanned) != 0 {
		t.Errorf("scanned=%v reported for a query that never started", c2.scanned)
	}
}

// TestByteCap: a query that scans more than max_bytes_scanned while
// running is stopped, the poll fails saying so, and what it scanned is
// still reported.
func TestByteCap(t *testing.T) {
	fake := athenatest.New(t)
	fake.Running = 4
	fake.Add(t, subset(t)...)
	s := newSource(t, fake.URL, "max_bytes_scanned: 10485760\n")
	full := fake.PartitionBytes("2023/07/10", "2023/07/10")
	// Scale the cap to the test data: half of what the query scans.
	s.maxBytes = full / 2
	s.Now = func() time.Time { return time.Date(2023, 7, 10, 12, 40, 0, 0, time.UTC) }
	var c collect
	_, err := s.Fetch(context.Background(), nil, c.sink())
	if err == nil || !strings.Contains(err.Error(), "over max_bytes_scanned") || !sources.IsPermanent(err) {
		t.Fatalf("err=%v, want a permanent error over max_bytes_scanned", err)
	}
	if got := fake.Stopped(); len(got) != 1 {
		t.Errorf("stopped=%v, want the query stopped", got)
	}
	if len(c.scanned) != 1 || c.scanned[0] <= s.maxBytes {
		t.Errorf("scanned=%v, want the bytes past the cap reported", c.scanned)
	}
	if len(c.events) != 0 {
		t.Errorf("events=%d from a stopped query", len(c.events))
	}
}

// TestCancelStops: a poll whose context ends while the query runs stops
// the query, so it does not go on scanning.
func TestCancelStops(t *testing.T) {
	fake := athenatest.New(t)
	fake.Running = 1 << 30
	fake.Add(t, subset(t)...)
	s := newSource(t, fake.URL, "")
	s.Now = func() time.Time { return time.Date(2023, 7, 10, 12, 40, 0, 0, time.UTC) }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := s.Fetch(ctx, nil, (&collect{}).sink())
		done <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	for fake.Calls("GetQueryExecution") < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the query was never polled")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("err=%v, want context.Canceled", err)
	}
	if got := fake.Stopped(); len(got) != 1 {
		t.Errorf("stopped=%v, want the running query stopped", got)
	}
}

// TestQueryTimeout: a query still running after query_timeout is stopped
// and the poll fails as transient.
func TestQueryTimeout(t *testing.T) {
	fake := athenatest.New(t)
	fake.Running = 1 << 30
	s := newSource(t, fake.URL, "")
	now := time.Date(2023, 7, 10, 12, 40, 0, 0, time.UTC)
	// Each look at the clock is a minute later.
	s.Now = func() time.Time { now = now.Add(time.Minute); return now }
	_, err := s.Fetch(context.Background(), nil, (&collect{}).sink())
	if err == nil || !strings.Contains(err.Error(), "query_timeout") || sources.IsPermanent(err) {
		t.Fatalf("err=%v, want a passing query_timeout error", err)
	}
	if len(fake.Stopped()) != 1 {
		t.Errorf("stopped=%v", fake.Stopped())
	}
}

// TestPollHealth: a stateful poll through the real job and bbolt stores
// every event's finding once and records the bytes scanned in the
// source's health; a second poll over the overlap stores nothing twice.
func TestPollHealth(t *testing.T) {
	fake := athenatest.New(t)
	recs := subset(t)
	fake.Add(t, recs...)
	s := newSource(t, fake.URL, "initial_lookback: 2h\n")
	s.Now = func() time.Time { return time.Date(2023, 7, 10, 12, 40, 0, 0, time.UTC) }
	h := awstest.NewHarness(t)
	if _, err := h.Poll(s); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range recs {
		var v struct{ EventID string }
		json.Unmarshal(r, &v)
		ids = append(ids, v.EventID)
	}
	h.Restart()
	if _, err := h.Poll(s); err != nil {
		t.Fatal(err)
	}
	h.ExactlyOnce(ids)
	per := fake.PartitionBytes("2023/07/10", "2023/07/10")
	hl := h.Health("ath")
	if hl.BytesScanned != 2*per || hl.LastBytesScanned != per || hl.Events != int64(len(recs)) {
		t.Errorf("health bytes=%d last=%d events=%d, want %d, %d, %d", hl.BytesScanned, hl.LastBytesScanned, hl.Events, 2*per, per, len(recs))
	}
}

func TestOptionsErrors(t *testing.T) {
	base := "regions: [eu-west-1]\ndatabase: cloudtrail\ntable: logs\n"
	for _, tc := range []struct{ name, yaml, key, says string }{
		{"two regions", "regions: [eu-west-1, us-east-1]\ndatabase: d\ntable: t\n", "regions", "exactly one region"},
		{"no database", "regions: [eu-west-1]\ntable: t\n", "database", "is not a Glue database name"},
		{"bad table", "regions: [eu-west-1]\ndatabase: d\ntable: \"a;b\"\n", "table", "is not a Glue table name"},
		{"output not s3", base + "output_location: https://bucket/x\n", "output_location", "is not an s3:// location"},
		{"tiny cap", base + "max_bytes_scanned: 1000\n", "max_bytes_scanned", "at least 10485760"},
		{"bad layout", base + "layout: hourly\n", "layout", `"hourly" is not date or account_region_date`},
		{"accounts need layout", base + "partition_accounts: [\"111122223333\"]\n", "layout", "need layout account_region_date"},
		{"bad account", base + "layout: account_region_date\npartition_accounts: [1234]\n", "partition_accounts[0]", "12-digit"},
		{"short timeout", base + "query_timeout: 1s\n", "query_timeout", "at least 10s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sec := section(t, tc.yaml)
			var o Options
			if err := sec.Decode(&o); err != nil {
				t.Fatal(err)
			}
			err := o.Validate(sec)
			if err == nil || !strings.Contains(err.Error(), tc.key) || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("err=%v, want it to name %s and say %q", err, tc.key, tc.says)
			}
		})
	}
	sec := section(t, base)
	var o Options
	if err := sec.Decode(&o); err != nil {
		t.Fatal(err)
	}
	if err := o.Validate(sec); err != nil {
		t.Fatal(err)
	}
	if o.Workgroup != "primary" || o.Catalog != "AwsDataCatalog" || o.MaxBytesScanned != DefaultMaxBytesScanned || o.Layout != LayoutDate {
		t.Errorf("defaults: %+v", o)
	}
}

// TestBytesPerPollShared measures what one poll over the shared Invictus
// dataset scans (go test -run TestBytesPerPollShared -v): the fake bills a
// query the gzip-compressed size of the date partitions it names, as
// Athena scans a trail's .json.gz files whole. All 2,900 records fall in
// one day, so every poll of that day scans the whole day.
func TestBytesPerPollShared(t *testing.T) {
	path := filepath.Join(shareddata.Path(t, "invictus_sigma_aws_stratus"), "invictus_sigma_aws_stratus.jsonl")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fake := athenatest.New(t)
	var recs [][]byte
	for _, l := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		recs = append(recs, l)
	}
	fake.Add(t, recs...)
	s := newSource(t, fake.URL, "initial_lookback: 1h\n")
	s.Now = func() time.Time { return time.Date(2023, 7, 10, 12, 40, 0, 0, time.UTC) }
	var c collect
	if _, err := s.Fetch(context.Background(), nil, c.sink()); err != nil {
		t.Fatal(err)
	}
	day := fake.PartitionBytes("2023/07/10", "2023/07/10")
	if len(c.scanned) != 1 || c.scanned[0] != day {
		t.Fatalf("scanned=%v, want the day's partition, %d bytes", c.scanned, day)
	}
	t.Logf("one 1h poll: %d of %d records returned, %d bytes scanned (%s; billed as 10 MiB, $%.6f at $5/TB)",
		len(c.events), len(recs), c.scanned[0], sources.FormatBytes(c.scanned[0]), 10.0*(1<<20)/1e12*5)
}

// TestRanger: `scan --since` reads an Athena source through FetchRange:
// one query over exactly the asked window, with the pushed-down
// condition, and no checkpoint.
func TestRanger(t *testing.T) {
	fake := athenatest.New(t)
	recs := subset(t)
	fake.Add(t, recs...)
	s := newSource(t, fake.URL, "")
	s.Now = func() time.Time { return time.Date(2023, 7, 12, 0, 0, 0, 0, time.UTC) }
	w := sources.Window{Start: time.Date(2023, 7, 10, 11, 50, 0, 0, time.UTC), End: time.Date(2023, 7, 10, 12, 10, 0, 0, time.UTC)}
	var names []string
	inWindow := 0
	for _, r := range recs {
		ev, _ := sources.Normalize(r, "ath")
		if w.Contains(ev.Time) {
			inWindow++
			if inWindow%2 == 0 {
				names = append(names, ev.Action)
			}
		}
	}
	s.SetCondition(EventNameCondition(names))
	want := 0
	for _, r := range recs {
		ev, _ := sources.Normalize(r, "ath")
		if w.Contains(ev.Time) && slices.Contains(names, ev.Action) {
			want++
		}
	}
	if want == 0 || want == inWindow {
		t.Fatalf("%d of %d events in the window match: the test shows nothing", want, inWindow)
	}
	var c collect
	cp, err := sources.InWindow(s, w).Fetch(context.Background(), nil, c.sink())
	if err != nil || cp != nil {
		t.Fatalf("cp=%s err=%v", cp, err)
	}
	qs := fake.Queries()
	if len(qs) != 1 || !strings.Contains(qs[0], "eventtime >= '2023-07-10T11:50:00Z' AND eventtime < '2023-07-10T12:10:00Z'") || !strings.Contains(qs[0], EventNameCondition(names)) {
		t.Fatalf("queries=%q", qs)
	}
	if len(c.events) != want || len(c.scanned) != 1 {
		t.Fatalf("events=%d scanned=%v, want %d events and one query", len(c.events), c.scanned, want)
	}
}

// BenchmarkRowToEvent measures turning one result row of the events query
// back into a normalised event (record, then sources.Normalize), over the
// bundled records in turn.
func BenchmarkRowToEvent(b *testing.B) {
	var rows []map[string]*string
	for _, r := range subset(b) {
		row, err := athenatest.TableRow(r)
		if err != nil {
			b.Fatal(err)
		}
		rows = append(rows, row)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		raw, err := record(rows[i%len(rows)])
		if err != nil {
			b.Fatal(err)
		}
		if _, err := sources.Normalize(raw, "ath"); err != nil {
			b.Fatal(err)
		}
	}
}
