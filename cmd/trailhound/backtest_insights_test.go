package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"

	"github.com/trailhound/trailhound/detectors/rules"
	"github.com/trailhound/trailhound/detectors/rules/pushdown"
	"github.com/trailhound/trailhound/internal/moto"
	"github.com/trailhound/trailhound/sources"
	"github.com/trailhound/trailhound/sources/cloudwatch"
)

// TestBacktestInsights: a backtest over a cloudwatch source runs Logs
// Insights with the backtested rules' compiled filter (captured on its way
// to moto, which, like the real service, is sent it but, unlike it,
// ignores it), judges every returned record in process, and finds exactly
// what the file-based backtest of the same records finds.
func TestBacktestInsights(t *testing.T) {
	endpoint, stop, err := moto.Start()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("moto_server is required under CI: %v", err)
		}
		t.Skipf("skipping: moto_server unavailable: %v", err)
	}
	t.Cleanup(stop)
	awsEnv(t)

	// A recording proxy in front of moto keeps every StartQuery body, and
	// adds to GetQueryResults what moto leaves out: statistics.bytesScanned
	// (here the bytes of the messages returned).
	up, _ := url.Parse(endpoint)
	proxy := httputil.NewSingleHostReverseProxy(up)
	var mu sync.Mutex
	var started []string
	var scanned int64
	proxy.ModifyResponse = func(resp *http.Response) error {
		if resp.Request.Header.Get("X-Amz-Target") != "Logs_20140328.GetQueryResults" || resp.StatusCode != 200 {
			return nil
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		var out map[string]any
		if err := json.Unmarshal(body, &out); err != nil {
			return err
		}
		n := 0
		for _, row := range out["results"].([]any) {
			for _, c := range row.([]any) {
				if c := c.(map[string]any); c["field"] == "@message" {
					n += len(c["value"].(string))
				}
			}
		}
		out["statistics"] = map[string]any{"bytesScanned": float64(n), "recordsMatched": 0, "recordsScanned": 0}
		if out["status"] == "Complete" {
			mu.Lock()
			scanned += int64(n)
			mu.Unlock()
		}
		body, _ = json.Marshal(out)
		resp.Body = io.NopCloser(bytes.NewReader(body))
		resp.ContentLength = int64(len(body))
		resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
		return nil
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		if r.Header.Get("X-Amz-Target") == "Logs_20140328.StartQuery" {
			var in struct {
				QueryString string `json:"queryString"`
			}
			json.Unmarshal(body, &in)
			mu.Lock()
			started = append(started, in.QueryString)
			mu.Unlock()
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)

	// The shared Invictus subset (see sources/athena/testdata), moved to
	// the last hour (moto, like AWS, refuses events older than 14 days),
	// written to a log group and to a file.
	f, err := os.Open(repoFile(t, "sources/athena/testdata/invictus-subset.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var recs []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r map[string]any
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	f.Close()
	now := time.Now().UTC().Truncate(time.Second)
	group := "/aws/cloudtrail/backtest"
	var events []types.InputLogEvent
	var lines []string
	for i, r := range recs {
		at := now.Add(-time.Duration(len(recs)-i) * 30 * time.Second)
		r["eventTime"] = at.Format(time.RFC3339)
		b, _ := json.Marshal(r)
		lines = append(lines, string(b))
		events = append(events, types.InputLogEvent{Message: aws.String(string(b)), Timestamp: aws.Int64(at.UnixMilli())})
	}
	dir := t.TempDir()
	sample := filepath.Join(dir, "records.jsonl")
	if err := os.WriteFile(sample, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(moto.Region), awsconfig.WithBaseEndpoint(endpoint))
	if err != nil {
		t.Fatal(err)
	}
	logs := cloudwatchlogs.NewFromConfig(awsCfg)
	stream := "123837392027_CloudTrail_eu-west-1"
	if _, err := logs.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: &group}); err != nil {
		t.Fatal(err)
	}
	if _, err := logs.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{LogGroupName: &group, LogStreamName: &stream}); err != nil {
		t.Fatal(err)
	}
	if _, err := logs.PutLogEvents(ctx, &cloudwatchlogs.PutLogEventsInput{LogGroupName: &group, LogStreamName: &stream, LogEvents: events}); err != nil {
		t.Fatal(err)
	}
	// A second group of plain lines (the test lines of web-sql-injection,
	// detectors/rules/builtin/web.yaml), which the rules' CloudTrail filter
	// alone would drop.
	web, webStream := "/aws/alb/web", "alb"
	webLines := []string{
		`https 2024-05-01T12:00:01.000000Z app/web/50dc6c495c0c9188 203.0.113.9:2817 10.0.1.5:80 0.001 0.002 0.000 200 200 34 366 "GET https://shop.example.com:443/item?id=1%20UNION%20SELECT%20username,password%20FROM%20users-- HTTP/1.1" "sqlmap/1.7" - -`,
		`203.0.113.9 - - [01/May/2024:12:00:01 +0000] "GET /login?user=admin%2527%2520OR%2520%25271%2527%253D%25271 HTTP/1.1" 200 512`,
		`https 2024-05-01T12:00:01.000000Z app/web/50dc6c495c0c9188 198.51.100.4:2817 10.0.1.5:80 0.001 0.002 0.000 200 200 34 366 "GET https://shop.example.com:443/search?q=select+a+union+card HTTP/1.1" "Mozilla/5.0 (X11; Linux x86_64)" - -`,
		`{"timestamp":1714564801000,"action":"BLOCK","httpRequest":{"clientIp":"203.0.113.9","uri":"/api/orders","args":"id=1%27%20AND%20SLEEP(5)--%20-","httpMethod":"GET"}}`,
	}
	var webEvents []types.InputLogEvent
	for i, l := range webLines {
		webEvents = append(webEvents, types.InputLogEvent{Message: aws.String(l), Timestamp: aws.Int64(now.Add(-time.Duration(len(webLines)-i) * time.Minute).UnixMilli())})
	}
	if _, err := logs.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: &web}); err != nil {
		t.Fatal(err)
	}
	if _, err := logs.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{LogGroupName: &web, LogStreamName: &webStream}); err != nil {
		t.Fatal(err)
	}
	if _, err := logs.PutLogEvents(ctx, &cloudwatchlogs.PutLogEventsInput{LogGroupName: &web, LogStreamName: &webStream, LogEvents: webEvents}); err != nil {
		t.Fatal(err)
	}

	cfg := filepath.Join(dir, "c.yaml")
	body := fmt.Sprintf(`data_dir: %s
sources:
  - name: trail-logs
    type: cloudwatch
    schedule: "@every 5m"
    options:
      endpoint_url: %s
      regions: [%s]
      log_groups: [%s, %s]
      max_attempts: 2
      max_backoff: 5ms
`, filepath.Join(dir, "data"), srv.URL, moto.Region, group, web)
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	ids := []string{"aws-network-change", "aws-ec2-password-data-retrieval", "aws-unauthorized-api-calls", "web-sql-injection"}
	window := []string{"--since", now.Add(-2 * time.Hour).Format(time.RFC3339), "--until", now.Add(time.Minute).Format(time.RFC3339)}
	args := []string{"--config", cfg}
	for _, id := range ids {
		args = append(args, "--rule", id)
	}
	rep, _ := backtestJSON(t, append(args, window...)...)
	want, n := findingsOf(t, ids[:3], sample)
	// What the engine makes of the plain lines, as the source reads them.
	p, err := rules.Load(rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sqli, _ := p.Rule("web-sql-injection")
	for i, l := range webLines {
		ev, err := sources.LogEvent("", strconv.FormatInt(*webEvents[i].Timestamp, 10), l, web, webStream, "", "trail-logs")
		if err != nil {
			t.Fatal(err)
		}
		fs, _ := sqli.Detect(ctx, &ev)
		want["web-sql-injection"] += len(fs)
		n++
	}
	if want[ids[0]] == 0 || want[ids[1]] == 0 || want[ids[3]] == 0 {
		t.Fatalf("the rules make too few findings on the records: %v", want)
	}
	checkReport(t, rep, want, n)
	fileRep, _ := backtestJSON(t, append(append([]string{"--rule", ids[0], "--rule", ids[1], "--rule", ids[2]}, window...), sample)...)
	for i, r := range fileRep.ByRule {
		if r != rep.ByRule[i] {
			t.Errorf("insights backtest %+v, file backtest %+v", rep.ByRule[i], r)
		}
	}

	// The compiled filter of the rules, widened to keep plain lines,
	// reached the server in one query per group (fewer rows than the
	// limit: no split).
	var rs []*rules.Rule
	for _, id := range ids {
		// As the backtest compiles them: fresh, without the pack's other rules.
		r, _ := p.Rule(id)
		fresh, err := rules.Compile(r.Definition())
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, fresh)
	}
	q, unfiltered := pushdown.InsightsQuery(rs, pushdown.MaxInsightsQuery-len("\n| limit 10000")-cloudwatch.PlainLinesExtra)
	if len(unfiltered) > 0 || !strings.Contains(q, "\n| filter ") {
		t.Fatalf("the rules compile to no filter (%v): the test shows nothing", unfiltered)
	}
	q = strings.Replace(q, "\n| filter ", "\n| filter not ispresent(eventVersion) or (", 1)
	q = strings.Replace(q, "\n| sort", ")\n| sort", 1) + "\n| limit 10000"
	mu.Lock()
	defer mu.Unlock()
	if len(started) != 2 || started[0] != q || started[1] != q {
		t.Fatalf("StartQuery queries=%q, want two of:\n%s", started, q)
	}
	if len(rep.Sources) != 1 || rep.Sources[0].Via != "insights" || rep.InsightsCost.Queries != 2 || rep.Cost.Queries != 0 {
		t.Fatalf("sources=%+v cost=%+v insights cost=%+v, want two insights queries", rep.Sources, rep.Cost, rep.InsightsCost)
	}
	// $0.005 per GB scanned.
	if rep.InsightsCost.BytesScanned != scanned || scanned == 0 || math.Abs(rep.InsightsCost.Dollars-float64(scanned)/1e9*0.005) > 1e-15 {
		t.Fatalf("insights cost=%+v, want %d bytes at $0.005 per GB", rep.InsightsCost, scanned)
	}
}

// TestBacktestInsightsCostLine: the text report gives the Logs Insights
// cost beside Athena's.
func TestBacktestInsightsCostLine(t *testing.T) {
	var b bytes.Buffer
	printBacktest(&b, &backtestReport{Rules: []string{"r"}, InsightsCost: backtestCost{BytesScanned: 3 << 30, Queries: 2, Dollars: 0.0161}})
	want := "Query cost: no Athena query ran; 2 Logs Insights queries scanned 3.0 GiB, about $0.0161 (an estimate at $0.005 per GB)."
	if !strings.Contains(b.String(), want) {
		t.Fatalf("report:\n%s\nwant it to say %q", b.String(), want)
	}
	b.Reset()
	printBacktest(&b, &backtestReport{Rules: []string{"r"}, Cost: backtestCost{BytesScanned: 20 << 20, Queries: 1, Dollars: 0.0001},
		InsightsCost: backtestCost{BytesScanned: 1 << 20, Queries: 1, Dollars: 0.000005}})
	want = "1 Athena query scanned 20.0 MiB, about $0.0001 (an estimate at $5 per TB, at least 10 MB a query); 1 Logs Insights query scanned 1.0 MiB, about $0.0000 (an estimate at $0.005 per GB)."
	if !strings.Contains(b.String(), want) {
		t.Fatalf("report:\n%s\nwant it to say %q", b.String(), want)
	}
}
