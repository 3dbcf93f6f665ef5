package cloudwatch

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trailhound/trailhound/sources"
)

// insightsFake is an httptest server speaking CloudWatch Logs' JSON 1.1
// protocol for StartQuery and GetQueryResults, shaped like AWS's
// documented examples. Unlike moto it reports statistics.bytesScanned
// (the bytes of the group's events in the query's time range). Like moto
// it applies no filter; it honours the query's limit. Its first
// StartQuery is throttled, and each query is Running once before it is
// Complete.
type insightsFake struct {
	URL string

	mu       sync.Mutex
	events   map[string][]fakeEvent // by group
	queries  map[string]fakeQuery   // by id
	started  []fakeQuery
	throttle bool
}

type fakeEvent struct {
	at      time.Time
	stream  string
	message string
}

type fakeQuery struct {
	Group, Query     string
	Start, End       int64
	polls            int
	rows             [][]map[string]string
	scanned, matched float64
}

var limitRe = regexp.MustCompile(`\| limit (\d+)\s*$`)

func newInsightsFake(t *testing.T) *insightsFake {
	f := &insightsFake{events: map[string][]fakeEvent{}, queries: map[string]fakeQuery{}, throttle: true}
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(srv.Close)
	f.URL = srv.URL
	return f
}

func (f *insightsFake) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	fail := func(status int, code, msg string) {
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]string{"__type": code, "message": msg})
	}
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	switch r.Header.Get("X-Amz-Target") {
	case "Logs_20140328.StartQuery":
		var in struct {
			LogGroupName string `json:"logGroupName"`
			QueryString  string `json:"queryString"`
			StartTime    int64  `json:"startTime"`
			EndTime      int64  `json:"endTime"`
		}
		if err := json.Unmarshal(body, &in); err != nil {
			fail(400, "InvalidParameterException", err.Error())
			return
		}
		if f.throttle {
			f.throttle = false
			fail(400, "ThrottlingException", "Rate exceeded")
			return
		}
		m := limitRe.FindStringSubmatch(in.QueryString)
		if m == nil {
			fail(400, "MalformedQueryException", "the fake needs a limit")
			return
		}
		limit, _ := strconv.Atoi(m[1])
		q := fakeQuery{Group: in.LogGroupName, Query: in.QueryString, Start: in.StartTime, End: in.EndTime}
		for _, e := range f.events[in.LogGroupName] {
			if e.at.Unix() < in.StartTime || e.at.Unix() > in.EndTime {
				continue
			}
			q.scanned += float64(len(e.message))
			q.matched++
			if len(q.rows) < limit {
				q.rows = append(q.rows, []map[string]string{
					{"field": "@timestamp", "value": e.at.UTC().Format("2006-01-02 15:04:05.000")},
					{"field": "@message", "value": e.message},
					{"field": "@log", "value": "123456789012:" + in.LogGroupName},
					{"field": "@logStream", "value": e.stream},
				})
			}
		}
		id := "12ab3456-12ab-123a-789e-1234567890ab-" + strconv.Itoa(len(f.started))
		f.queries[id] = q
		f.started = append(f.started, q)
		json.NewEncoder(w).Encode(map[string]string{"queryId": id})
	case "Logs_20140328.GetQueryResults":
		var in struct {
			QueryID string `json:"queryId"`
		}
		json.Unmarshal(body, &in)
		q, ok := f.queries[in.QueryID]
		if !ok {
			fail(400, "ResourceNotFoundException", "no such query")
			return
		}
		q.polls++
		f.queries[in.QueryID] = q
		if q.polls == 1 {
			json.NewEncoder(w).Encode(map[string]any{"status": "Running", "results": []any{}, "statistics": map[string]float64{"bytesScanned": 0, "recordsMatched": 0, "recordsScanned": 0}})
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"status": "Complete", "results": q.rows,
			"statistics": map[string]float64{"bytesScanned": q.scanned, "recordsMatched": q.matched, "recordsScanned": q.matched}})
	default:
		fail(400, "UnknownOperationException", "unknown operation "+r.Header.Get("X-Amz-Target"))
	}
}

// TestFetchRangeQuery: a filtered range read sends the caller's query,
// with the row limit, in every StartQuery; splits windows that fill the
// limit until every event is read exactly once; and reports the bytes each
// query scanned.
func TestFetchRangeQuery(t *testing.T) {
	fake := newInsightsFake(t)
	now := time.Now().UTC().Truncate(time.Second)
	group := "/aws/cloudtrail/org"
	msgs, at, ids := sampleRecords(t, 7, now.Add(-time.Minute), 20*time.Second)
	for i := range msgs {
		fake.events[group] = append(fake.events[group], fakeEvent{at: at[i], stream: "123456789012_CloudTrail_eu-west-1", message: msgs[i]})
	}
	o := options(t, fake.URL, func(o *Options) { o.LogGroups = []string{group}; o.Backfill = BackfillInsights })
	srcs, _ := build(t, o, now)
	src := srcs[0]
	src.queryLimit, src.queryPoll = 3, time.Millisecond
	qs := "fields @timestamp, @message, @log, @logStream\n| filter eventName = \"ConsoleLogin\"\n| sort @timestamp asc"
	var scanned []int64
	evs, bad, err := collect(t, func(sink sources.Sink) error {
		return src.FetchRangeQuery(context.Background(), sources.Window{Start: now.Add(-10 * time.Minute), End: now}, qs, func(n int64) { scanned = append(scanned, n) }, sink)
	})
	if err != nil || len(bad) > 0 {
		t.Fatalf("fetch: err=%v malformed=%v", err, bad)
	}
	var got []string
	for _, ev := range evs {
		got = append(got, ev.ID)
	}
	sort.Strings(got)
	want := append([]string(nil), ids...)
	sort.Strings(want)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("ids=%v, want each of %v once", got, want)
	}
	if len(fake.started) < 4 {
		t.Fatalf("queries=%d: windows over the row limit were not split", len(fake.started))
	}
	var wantScanned []int64
	for _, q := range fake.started {
		if q.Query != qs+"\n| limit 3" || q.Group != group {
			t.Fatalf("StartQuery group=%q query=%q, want %q with the limit", q.Group, q.Query, qs)
		}
		wantScanned = append(wantScanned, int64(q.scanned))
	}
	if len(scanned) != len(wantScanned) || scanned[0] == 0 {
		t.Fatalf("scanned=%v, want one report per query: %v", scanned, wantScanned)
	}
	for i := range scanned {
		if scanned[i] != wantScanned[i] {
			t.Fatalf("scanned=%v, want %v", scanned, wantScanned)
		}
	}
	if err := src.FetchRangeQuery(context.Background(), sources.Window{Start: now.Add(-time.Hour), End: now}, qs+"\n| limit 5", nil, sources.FuncSink{}); err == nil {
		t.Fatal("a query with its own limit was accepted")
	}
}

// TestWithPlainLines: the CloudTrail filter of a query is widened to keep
// every line without a top-level eventVersion; a query without a filter
// stays as it is.
func TestWithPlainLines(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"filter", "fields @timestamp, @message\n| filter eventName = \"StopLogging\" or errorCode like /x|y/\n| sort @timestamp asc",
			"fields @timestamp, @message\n| filter not ispresent(eventVersion) or (eventName = \"StopLogging\" or errorCode like /x|y/)\n| sort @timestamp asc"},
		{"rules on plain lines only", "fields @timestamp, @message\n| filter 1 = 0\n| sort @timestamp asc",
			"fields @timestamp, @message\n| filter not ispresent(eventVersion) or (1 = 0)\n| sort @timestamp asc"},
		{"filter last", "fields @message\n| filter a = 1", "fields @message\n| filter not ispresent(eventVersion) or (a = 1)"},
		{"no filter", "fields @timestamp, @message\n| sort @timestamp asc", "fields @timestamp, @message\n| sort @timestamp asc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := WithPlainLines(tc.in)
			if got != tc.want {
				t.Fatalf("got\n%s\nwant\n%s", got, tc.want)
			}
			if len(got) > len(tc.in)+PlainLinesExtra {
				t.Fatalf("grew by %d, more than PlainLinesExtra=%d", len(got)-len(tc.in), PlainLinesExtra)
			}
		})
	}
}
