package athena

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/athena"
	"github.com/aws/aws-sdk-go-v2/service/athena/types"

	"github.com/trailhound/trailhound/sources"
	"github.com/trailhound/trailhound/sources/athena/athenatest"
	"github.com/trailhound/trailhound/sources/internal/awstest"
)

// motoPost sends one request to moto's own API.
func motoPost(t *testing.T, url string, body any) {
	t.Helper()
	b, _ := json.Marshal(body)
	resp, err := http.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("POST %s: %s", url, resp.Status)
	}
}

// motoStates makes moto's query executions advance one state (QUEUED,
// RUNNING, SUCCEEDED) every `times` GetQueryExecution calls.
func motoStates(t *testing.T, url string, times int) {
	t.Helper()
	motoPost(t, url+"/moto-api/state-manager/set-transition", map[string]any{
		"model_name": "athena::execution", "transition": map[string]any{"progression": "manual", "times": times},
	})
	t.Cleanup(func() {
		motoPost(t, url+"/moto-api/state-manager/unset-transition", map[string]any{"model_name": "athena::execution"})
	})
}

// motoResults queues the rows of records (as the events query selects
// them, header row first, as Athena answers) for moto's next query.
func motoResults(t *testing.T, url string, records [][]byte) {
	t.Helper()
	header := map[string]any{}
	var data []map[string]string
	var info []map[string]any
	for _, c := range columns {
		data = append(data, map[string]string{"VarCharValue": c.name})
		info = append(info, map[string]any{"CatalogName": "hive", "SchemaName": "", "TableName": "", "Name": c.name, "Label": c.name,
			"Type": "varchar", "Precision": 2147483647, "Scale": 0, "Nullable": "UNKNOWN", "CaseSensitive": true})
	}
	header["Data"] = data
	rows := []map[string]any{header}
	for _, r := range records {
		row, err := athenatest.TableRow(r)
		if err != nil {
			t.Fatal(err)
		}
		var data []map[string]string
		for _, c := range columns {
			if v := row[c.name]; v != nil {
				data = append(data, map[string]string{"VarCharValue": *v})
			} else {
				data = append(data, map[string]string{})
			}
		}
		rows = append(rows, map[string]any{"Data": data})
	}
	motoPost(t, url+"/moto-api/static/athena/query-results", map[string]any{
		"account_id": "123456789012", "region": awstest.Region,
		"results": []map[string]any{{"rows": rows, "column_info": info}},
	})
}

// TestMotoPoll: against moto's Athena, a poll starts its query in the
// workgroup with the output location, waits through QUEUED and RUNNING,
// and reads the rows back as the records they were, retrying a
// throttled GetQueryResults.
func TestMotoPoll(t *testing.T) {
	url := awstest.Moto(t)
	recs := subset(t)
	motoStates(t, url, 2)
	motoResults(t, url, recs)
	rec := awstest.NewRecorder(t, url)
	var throttled atomic.Bool
	rec.Before(func(c awstest.Call) (int, string) {
		if c.Op == "GetQueryResults" && throttled.CompareAndSwap(false, true) {
			return 400, `{"__type":"ThrottlingException","Message":"Rate exceeded"}`
		}
		return 0, ""
	})
	s := newSource(t, rec.URL, "initial_lookback: 2h\nworkgroup: primary\n")
	s.Now = func() time.Time { return time.Date(2023, 7, 10, 12, 40, 0, 0, time.UTC) }
	var c collect
	if _, err := s.Fetch(context.Background(), nil, c.sink()); err != nil {
		t.Fatal(err)
	}
	if len(c.events) != len(recs) || len(c.malformed) != 0 {
		t.Fatalf("events=%d malformed=%v, want %d", len(c.events), c.malformed, len(recs))
	}
	for i, r := range recs {
		var v struct{ EventID, EventName string }
		json.Unmarshal(r, &v)
		if c.events[i].ID != v.EventID || c.events[i].Action != v.EventName {
			t.Fatalf("event %d=%s %s, want %s %s", i, c.events[i].ID, c.events[i].Action, v.EventID, v.EventName)
		}
	}
	// moto moves a query one state every two looks: QUEUED, RUNNING,
	// SUCCEEDED take four; the throttled page was asked again.
	if got := len(rec.Calls("GetQueryExecution")); got < 4 {
		t.Errorf("GetQueryExecution calls=%d, want at least 4 (through QUEUED and RUNNING)", got)
	}
	if got := len(rec.Calls("GetQueryResults")); got != 2 {
		t.Errorf("GetQueryResults calls=%d, want 2 (one throttled, retried)", got)
	}
	// moto records the query and where its results go.
	ids, err := s.client.ListQueryExecutions(context.Background(), &athena.ListQueryExecutionsInput{WorkGroup: sdkaws.String("primary")})
	if err != nil {
		t.Fatal(err)
	}
	if len(ids.QueryExecutionIds) == 0 {
		t.Fatal("moto lists no query execution")
	}
	qe, err := s.client.GetQueryExecution(context.Background(), &athena.GetQueryExecutionInput{QueryExecutionId: sdkaws.String(ids.QueryExecutionIds[len(ids.QueryExecutionIds)-1])})
	if err != nil {
		t.Fatal(err)
	}
	if got := sdkaws.ToString(qe.QueryExecution.ResultConfiguration.OutputLocation); len(got) < len("s3://athena-results/trailhound/") || got[:31] != "s3://athena-results/trailhound/" {
		t.Errorf("output location=%q", got)
	}
	if got := sdkaws.ToString(qe.QueryExecution.QueryExecutionContext.Database); got != "cloudtrail" {
		t.Errorf("database=%q", got)
	}
}

// TestMotoStop: against moto, a poll cancelled while its query runs
// stops the query: moto then reports it CANCELLED.
func TestMotoStop(t *testing.T) {
	url := awstest.Moto(t)
	motoStates(t, url, 1<<20)
	s := newSource(t, url, "workgroup: stoptest\n")
	s.Now = func() time.Time { return time.Date(2023, 7, 10, 12, 40, 0, 0, time.UTC) }
	if _, err := s.client.CreateWorkGroup(context.Background(), &athena.CreateWorkGroupInput{Name: sdkaws.String("stoptest")}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := s.Fetch(ctx, nil, (&collect{}).sink())
		done <- err
	}()
	var id string
	deadline := time.Now().Add(10 * time.Second)
	for id == "" {
		out, err := s.client.ListQueryExecutions(context.Background(), &athena.ListQueryExecutionsInput{WorkGroup: sdkaws.String("stoptest")})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.QueryExecutionIds) > 0 {
			id = out.QueryExecutionIds[0]
		} else if time.Now().After(deadline) {
			t.Fatal("the query never started")
		}
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("err=%v, want context.Canceled", err)
	}
	qe, err := s.client.GetQueryExecution(context.Background(), &athena.GetQueryExecutionInput{QueryExecutionId: sdkaws.String(id)})
	if err != nil {
		t.Fatal(err)
	}
	if got := qe.QueryExecution.Status.State; got != types.QueryExecutionStateCancelled {
		t.Fatalf("state=%s, want CANCELLED", got)
	}
}

// TestMotoFailure: moto refuses the results of a query still running
// with Athena's InvalidRequestException; the source reports it, naming
// the query, classified as invalid.
func TestMotoFailure(t *testing.T) {
	url := awstest.Moto(t)
	motoStates(t, url, 1<<20)
	s := newSource(t, url, "")
	out, err := s.client.StartQueryExecution(context.Background(), &athena.StartQueryExecutionInput{QueryString: sdkaws.String("SELECT 1"), WorkGroup: sdkaws.String("primary")})
	if err != nil {
		t.Fatal(err)
	}
	st := Stats{ID: sdkaws.ToString(out.QueryExecutionId)}
	err = s.results(context.Background(), &st, func(map[string]*string) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "athena: query "+st.ID+" results: InvalidRequestException: Query has not yet finished") {
		t.Fatalf("err=%v", err)
	}
	if got := sources.Classify(err); got != sources.ClassInvalid {
		t.Errorf("class=%v, want invalid", got)
	}
}
