// Package athenatest is an httptest server speaking Amazon Athena's JSON
// 1.1 protocol (StartQueryExecution, GetQueryExecution, GetQueryResults,
// StopQueryExecution) over a CloudTrail table, for what moto's Athena
// cannot do: FAILED and CANCELLED states, throttling, bytes scanned and
// paged results. Responses are shaped like the examples in AWS's Athena
// API reference.
//
// The server does not run SQL. For an events query it applies what the
// athena source's queries say in a fixed form: the date partitions
// ("timestamp" BETWEEN ...), the eventtime bounds and an optional
// `eventname IN (...)`; any other condition is ignored, which is coarser
// and so still correct, as the detectors judge every row again. Other
// queries are answered by Server.OnQuery.
package athenatest

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Failure is an error response.
type Failure struct {
	Status  int
	Code    string
	Message string
}

// Common failures.
var (
	Throttled      = Failure{400, "ThrottlingException", "Rate exceeded"}
	TooManyQueries = Failure{400, "TooManyRequestsException", "You have exceeded the limit for the number of queries you can run concurrently."}
	AccessDenied   = Failure{400, "AccessDeniedException", "User: arn:aws:iam::111122223333:user/reader is not authorized to perform: athena:StartQueryExecution"}
)

// End says how a query ends.
type End struct {
	// State is SUCCEEDED (the zero value), FAILED or CANCELLED.
	State string
	// Reason is the StateChangeReason.
	Reason string
	// Category is AthenaError.ErrorCategory: 1 system, 2 user, 3 other.
	Category int
	// Retryable is AthenaError.Retryable.
	Retryable bool
}

// Result is the answer to a query the server does not know how to run.
type Result struct {
	Columns []string
	Rows    [][]*string
	// BytesScanned is reported in the query's statistics.
	BytesScanned int64
}

// Server is the fake. Set its fields before the first request.
type Server struct {
	URL string

	// Running is how many GetQueryExecution calls see a query QUEUED, then
	// RUNNING, before it ends: the first answer is QUEUED, the others
	// RUNNING. Default 0: it has ended on the first call.
	Running int
	// Ends, when set, says how each query ends, in order; queries past the
	// list succeed.
	Ends []End
	// OnQuery answers a query that is not an events query.
	OnQuery func(query string) (Result, bool)

	mu         sync.Mutex
	records    []tableRecord
	partitions map[string]*partition
	queries    map[string]*query
	order      []string
	failures   []Failure
	stopped    []string
	calls      map[string]int
}

type tableRecord struct {
	time    string
	name    string
	id      string
	date    string
	columns map[string]*string
}

type partition struct {
	records [][]byte
	size    int64
}

type query struct {
	id, sql    string
	result     Result
	end        End
	polls      int
	stopped    bool
	scanned    int64
	outputPath string
}

// New starts a server that stops when the test ends.
func New(t testing.TB) *Server {
	s := &Server{partitions: map[string]*partition{}, queries: map[string]*query{}, calls: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// Add puts CloudTrail records (as CloudTrail delivers them) into the
// table, each in the date partition of its eventTime. A partition's size,
// which a query naming it scans, is that of its records gzip-compressed
// as one delivery file, as Athena reads the trail's .json.gz files whole.
func (s *Server) Add(t testing.TB, records ...[]byte) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, raw := range records {
		cols, err := TableRow(raw)
		if err != nil {
			t.Fatalf("athenatest: %v", err)
		}
		et := deref(cols["eventtime"])
		at, err := time.Parse(time.RFC3339, et)
		if err != nil {
			t.Fatalf("athenatest: record eventTime %q: %v", et, err)
		}
		date := at.UTC().Format("2006/01/02")
		s.records = append(s.records, tableRecord{time: et, name: deref(cols["eventname"]), id: deref(cols["eventid"]), date: date, columns: cols})
		p := s.partitions[date]
		if p == nil {
			p = &partition{}
			s.partitions[date] = p
		}
		p.records = append(p.records, raw)
		p.size = -1 // computed when first asked
	}
	sort.SliceStable(s.records, func(i, j int) bool {
		if s.records[i].time != s.records[j].time {
			return s.records[i].time < s.records[j].time
		}
		return s.records[i].id < s.records[j].id
	})
}

// ReadLines reads a JSON Lines file of CloudTrail records, one record a
// line (lines up to 1 MiB), for Add.
func ReadLines(t testing.TB, path string) [][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		out = append(out, append([]byte(nil), sc.Bytes()...))
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("athenatest: read %s: %v", path, err)
	}
	return out
}

// PartitionBytes returns the size of the date partitions from and to
// (yyyy/MM/dd, both included): what a query naming them scans.
func (s *Server) PartitionBytes(from, to string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.partitionBytes(from, to)
}

func (s *Server) partitionBytes(from, to string) int64 {
	var n int64
	for d, p := range s.partitions {
		if d >= from && d <= to {
			if p.size < 0 {
				p.size = gzipSize(p.records)
			}
			n += p.size
		}
	}
	return n
}

// Fail queues failures: the next requests of any operation fail with
// them, in order.
func (s *Server) Fail(f ...Failure) {
	s.mu.Lock()
	s.failures = append(s.failures, f...)
	s.mu.Unlock()
}

// Queries returns the SQL of every query started, in order.
func (s *Server) Queries() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, id := range s.order {
		out = append(out, s.queries[id].sql)
	}
	return out
}

// Stopped returns the ids of the queries StopQueryExecution was called on.
func (s *Server) Stopped() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.stopped...)
}

// Calls returns how many requests of an operation (GetQueryResults) were
// answered, failed ones included.
func (s *Server) Calls(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[op]
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "AmazonAthena.")
	s.calls[op]++
	body, _ := io.ReadAll(r.Body)
	var in map[string]any
	if err := json.Unmarshal(body, &in); err != nil {
		fail(w, Failure{400, "InvalidRequestException", "request body is not JSON"})
		return
	}
	if len(s.failures) > 0 {
		f := s.failures[0]
		s.failures = s.failures[1:]
		fail(w, f)
		return
	}
	id, _ := in["QueryExecutionId"].(string)
	q := s.queries[id]
	if op != "StartQueryExecution" && q == nil {
		fail(w, Failure{400, "InvalidRequestException", "QueryExecution " + id + " was not found"})
		return
	}
	switch op {
	case "StartQueryExecution":
		s.start(w, in)
	case "GetQueryExecution":
		s.execution(w, q)
	case "GetQueryResults":
		s.results(w, q, in)
	case "StopQueryExecution":
		q.stopped = true
		s.stopped = append(s.stopped, q.id)
		w.Write([]byte("{}"))
	default:
		fail(w, Failure{400, "UnknownOperationException", "unknown operation " + op})
	}
}

func fail(w http.ResponseWriter, f Failure) {
	w.WriteHeader(f.Status)
	json.NewEncoder(w).Encode(map[string]string{"__type": f.Code, "Message": f.Message})
}

var (
	partRe   = regexp.MustCompile(`"timestamp" BETWEEN '([0-9/]+)' AND '([0-9/]+)'`)
	windowRe = regexp.MustCompile(`eventtime >= '([^']+)' AND eventtime < '([^']+)'`)
	namesRe  = regexp.MustCompile(`\(eventname IN \(([^)]*)\)\)`)
	selectRe = regexp.MustCompile(`(?s)^SELECT (.*?)\nFROM `)
)

func (s *Server) start(w http.ResponseWriter, in map[string]any) {
	sql, _ := in["QueryString"].(string)
	q := &query{id: fmt.Sprintf("a1b2c3d4-5678-90ab-cdef-%012d", len(s.order)+1), sql: sql}
	if rc, ok := in["ResultConfiguration"].(map[string]any); ok {
		q.outputPath, _ = rc["OutputLocation"].(string)
	}
	if n := len(s.order); n < len(s.Ends) {
		q.end = s.Ends[n]
	}
	if res, ok := s.aggregates(sql); ok {
		q.result = res
	} else if res, ok := s.events(sql); ok {
		q.result = res
	} else if s.OnQuery != nil {
		if res, ok := s.OnQuery(sql); ok {
			q.result = res
		} else {
			q.end = End{State: "FAILED", Reason: "SYNTAX_ERROR: the fake cannot run this query", Category: 2}
		}
	} else {
		q.end = End{State: "FAILED", Reason: "SYNTAX_ERROR: the fake cannot run this query", Category: 2}
	}
	s.queries[q.id] = q
	s.order = append(s.order, q.id)
	json.NewEncoder(w).Encode(map[string]string{"QueryExecutionId": q.id})
}

// events answers an events query from the table.
func (s *Server) events(sql string) (Result, bool) {
	pm, wm, sm := partRe.FindStringSubmatch(sql), windowRe.FindStringSubmatch(sql), selectRe.FindStringSubmatch(sql)
	if pm == nil || wm == nil || sm == nil || strings.Contains(sql, "GROUP BY") {
		return Result{}, false
	}
	var names map[string]bool
	if nm := namesRe.FindStringSubmatch(sql); nm != nil {
		names = map[string]bool{}
		for _, n := range strings.Split(nm[1], ", ") {
			names[strings.Trim(n, "'")] = true
		}
	}
	var cols []string
	for _, c := range strings.Split(sm[1], ", ") {
		f := strings.Fields(c)
		cols = append(cols, f[len(f)-1])
	}
	res := Result{Columns: cols, BytesScanned: s.partitionBytes(pm[1], pm[2])}
	for _, r := range s.records {
		if r.date < pm[1] || r.date > pm[2] || r.time < wm[1] || r.time >= wm[2] {
			continue
		}
		if names != nil && !names[r.name] {
			continue
		}
		row := make([]*string, len(cols))
		for i, c := range cols {
			row[i] = r.columns[c]
		}
		res.Rows = append(res.Rows, row)
	}
	return res, true
}

var aliasRe = regexp.MustCompile(` AS (\w+)(?:,|\n)`)

// aggregates answers an aggregate query of the athena source (GROUP BY
// the columns it names, count(*) AS n, min and max eventtime) from the
// table, computing each named column as its SQL does.
func (s *Server) aggregates(sql string) (Result, bool) {
	pm, wm, sm := partRe.FindStringSubmatch(sql), windowRe.FindStringSubmatch(sql), selectRe.FindStringSubmatch(sql)
	if pm == nil || wm == nil || sm == nil || !strings.Contains(sql, "GROUP BY") || !strings.Contains(sql, "count(*) AS n") {
		return Result{}, false
	}
	var cols []string
	for _, m := range aliasRe.FindAllStringSubmatch(sm[1]+",", -1) {
		cols = append(cols, m[1])
	}
	res := Result{Columns: cols, BytesScanned: s.partitionBytes(pm[1], pm[2])}
	type group struct {
		vals                []*string
		n                   int
		first, last, sample string
	}
	computed := func(c string) bool { return c == "n" || c == "first" || c == "last" || c == "sample" }
	groups := map[string]*group{}
	var order []string
	for _, r := range s.records {
		if r.date < pm[1] || r.date > pm[2] || r.time < wm[1] || r.time >= wm[2] {
			continue
		}
		var vals []*string
		var key strings.Builder
		for _, c := range cols {
			if computed(c) {
				continue
			}
			v := aggregateColumn(c, r)
			vals = append(vals, v)
			key.WriteString(deref(v) + "\x00")
			if v == nil {
				key.WriteString("\x01")
			}
		}
		g := groups[key.String()]
		if g == nil {
			g = &group{vals: vals, first: r.time, last: r.time, sample: r.id}
			groups[key.String()] = g
			order = append(order, key.String())
		}
		g.n++
		if r.time < g.first {
			g.sample = r.id
		}
		g.first, g.last = min(g.first, r.time), max(g.last, r.time)
	}
	firstCol := 0
	for _, k := range order {
		g := groups[k]
		row := make([]*string, 0, len(cols))
		vals := g.vals
		for i, c := range cols {
			n, first, last, sample := strconv.Itoa(g.n), g.first, g.last, g.sample
			switch c {
			case "n":
				row = append(row, &n)
			case "first":
				row, firstCol = append(row, &first), i
			case "last":
				row = append(row, &last)
			case "sample":
				row = append(row, &sample)
			default:
				row, vals = append(row, vals[0]), vals[1:]
			}
		}
		res.Rows = append(res.Rows, row)
	}
	sort.SliceStable(res.Rows, func(i, j int) bool { return deref(res.Rows[i][firstCol]) < deref(res.Rows[j][firstCol]) })
	return res, true
}

// aggregateColumn computes one grouped column of the aggregate query for
// a record, as Athena would: nil for NULL.
func aggregateColumn(name string, r tableRecord) *string {
	str := func(v string) *string { return &v }
	ident := func(path ...string) *string {
		var v any
		if err := json.Unmarshal([]byte(deref(r.columns["useridentity"])), &v); err != nil {
			return nil
		}
		for _, p := range path {
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[p]
		}
		if x, ok := v.(string); ok {
			return &x
		}
		return nil
	}
	switch name {
	case "signinerror":
		if r.name == "ConsoleLogin" {
			return r.columns["errormessage"]
		}
		return nil
	case "signinresult":
		if r.name != "ConsoleLogin" {
			return nil
		}
		var re map[string]any
		if json.Unmarshal([]byte(deref(r.columns["responseelements"])), &re) != nil {
			return nil
		}
		if v, ok := re["ConsoleLogin"].(string); ok {
			return &v
		}
		return nil
	case "identitytype":
		return ident("type")
	case "identityarn":
		return ident("arn")
	case "principalid":
		return ident("principalid")
	case "identityaccount":
		return ident("accountid")
	case "username":
		return ident("username")
	case "invokedby":
		return ident("invokedby")
	case "issuer":
		return ident("sessioncontext", "sessionissuer", "username")
	case "hour":
		t, err := time.Parse(time.RFC3339, r.time)
		if err != nil {
			return nil
		}
		return str(t.UTC().Truncate(time.Hour).Format("2006-01-02 15:04:05.000 UTC"))
	}
	return r.columns[name]
}

func (s *Server) execution(w http.ResponseWriter, q *query) {
	q.polls++
	state, reason := "SUCCEEDED", ""
	scanned := q.result.BytesScanned
	switch {
	case q.stopped:
		state, reason = "CANCELLED", "Query was cancelled by the user"
	case q.polls == 1 && s.Running > 0:
		state, scanned = "QUEUED", 0
	case q.polls <= s.Running:
		state, scanned = "RUNNING", scanned*int64(q.polls-1)/int64(s.Running)
	case q.end.State != "":
		state, reason = q.end.State, q.end.Reason
	}
	q.scanned = scanned
	status := map[string]any{"State": state, "SubmissionDateTime": 1.7e9}
	if reason != "" {
		status["StateChangeReason"] = reason
	}
	if state == "FAILED" {
		status["AthenaError"] = map[string]any{"ErrorCategory": q.end.Category, "ErrorType": 1001, "Retryable": q.end.Retryable, "ErrorMessage": reason}
	}
	if state != "QUEUED" && state != "RUNNING" {
		status["CompletionDateTime"] = 1.7e9 + 3
	}
	out := map[string]any{"QueryExecution": map[string]any{
		"QueryExecutionId": q.id, "Query": q.sql, "StatementType": "DML", "WorkGroup": "primary",
		"ResultConfiguration":   map[string]any{"OutputLocation": q.outputPath + q.id + ".csv"},
		"QueryExecutionContext": map[string]any{"Database": "cloudtrail", "Catalog": "awsdatacatalog"},
		"Status":                status,
		"Statistics": map[string]any{
			"EngineExecutionTimeInMillis": 2000, "DataScannedInBytes": scanned, "TotalExecutionTimeInMillis": 2500,
			"QueryQueueTimeInMillis": 100, "QueryPlanningTimeInMillis": 300, "ServiceProcessingTimeInMillis": 100,
		},
		"EngineVersion": map[string]any{"SelectedEngineVersion": "AUTO", "EffectiveEngineVersion": "Athena engine version 3"},
	}}
	json.NewEncoder(w).Encode(out)
}

func (s *Server) results(w http.ResponseWriter, q *query, in map[string]any) {
	if q.stopped || q.polls <= s.Running || (q.end.State != "" && q.end.State != "SUCCEEDED") {
		fail(w, Failure{400, "InvalidRequestException", "Query has not yet finished. Current state: RUNNING"})
		return
	}
	max := 1000
	if m, ok := in["MaxResults"].(float64); ok && m > 0 {
		max = int(m)
	}
	// Row 0 is the header row, as Athena puts the column names first.
	start := 0
	if tok, ok := in["NextToken"].(string); ok {
		start, _ = strconv.Atoi(strings.TrimPrefix(tok, "page-"))
	}
	total := len(q.result.Rows) + 1
	end := min(start+max, total)
	var rows []map[string]any
	for i := start; i < end; i++ {
		var vals []*string
		if i == 0 {
			for _, c := range q.result.Columns {
				vals = append(vals, &c)
			}
		} else {
			vals = q.result.Rows[i-1]
		}
		var data []map[string]string
		for _, v := range vals {
			if v == nil {
				data = append(data, map[string]string{})
			} else {
				data = append(data, map[string]string{"VarCharValue": *v})
			}
		}
		rows = append(rows, map[string]any{"Data": data})
	}
	var info []map[string]any
	for _, c := range q.result.Columns {
		info = append(info, map[string]any{"CatalogName": "hive", "SchemaName": "", "TableName": "", "Name": c, "Label": c,
			"Type": "varchar", "Precision": 2147483647, "Scale": 0, "Nullable": "UNKNOWN", "CaseSensitive": true})
	}
	out := map[string]any{"UpdateCount": 0, "ResultSet": map[string]any{"Rows": rows, "ResultSetMetadata": map[string]any{"ColumnInfo": info}}}
	if end < total {
		out["NextToken"] = "page-" + strconv.Itoa(end)
	}
	json.NewEncoder(w).Encode(out)
}

// tableColumns are the CloudTrail table's columns in AWS's documented
// DDL; struct columns hold nested objects, jsonColumns JSON text.
var (
	tableColumns = map[string]bool{
		"eventversion": true, "useridentity": true, "eventtime": true, "eventsource": true, "eventname": true,
		"awsregion": true, "sourceipaddress": true, "useragent": true, "errorcode": true, "errormessage": true,
		"requestparameters": true, "responseelements": true, "additionaleventdata": true, "requestid": true,
		"eventid": true, "readonly": true, "resources": true, "eventtype": true, "apiversion": true,
		"recipientaccountid": true, "serviceeventdetails": true, "sharedeventid": true, "vpcendpointid": true,
		"eventcategory": true, "tlsdetails": true,
	}
	structColumns = map[string]bool{"useridentity": true, "resources": true, "tlsdetails": true}
	jsonColumns   = map[string]bool{"requestparameters": true, "responseelements": true, "additionaleventdata": true, "serviceeventdetails": true}
)

// TableRow returns a CloudTrail record as the table's row, as Athena
// reads it with the CloudTrail SerDe and a query selects it: lower-case
// column names; struct columns as json_format(CAST(col AS JSON)) writes
// them (lower-case field names); request parameters, response elements
// and additional data as JSON text; every other value as text. Keys the
// table has no column for are dropped, as Athena drops them.
func TableRow(raw []byte) (map[string]*string, error) {
	var rec map[string]any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&rec); err != nil {
		return nil, fmt.Errorf("record is not a JSON object: %w", err)
	}
	out := map[string]*string{}
	for k, v := range rec {
		col := strings.ToLower(k)
		if !tableColumns[col] || v == nil {
			continue
		}
		var text string
		switch {
		case structColumns[col]:
			b, _ := json.Marshal(lower(v))
			text = string(b)
		case jsonColumns[col]:
			b, _ := json.Marshal(v)
			text = string(b)
		default:
			switch x := v.(type) {
			case string:
				text = x
			case bool:
				text = strconv.FormatBool(x)
			default:
				b, _ := json.Marshal(x)
				text = string(b)
			}
		}
		out[col] = &text
	}
	return out, nil
}

// lower writes struct field names in lower case, as Hive's schema does;
// map values (web identity attributes) keep their keys.
func lower(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, val := range x {
			if k == "attributes" {
				if m, ok := val.(map[string]any); ok && isWebID(x) {
					out[k] = m
					continue
				}
			}
			out[strings.ToLower(k)] = lower(val)
		}
		return out
	case []any:
		for i := range x {
			x[i] = lower(x[i])
		}
		return x
	}
	return v
}

func isWebID(m map[string]any) bool {
	_, ok := m["federatedProvider"]
	return ok
}

func gzipSize(records [][]byte) int64 {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(`{"Records":[`))
	for i, r := range records {
		if i > 0 {
			zw.Write([]byte(","))
		}
		zw.Write(r)
	}
	zw.Write([]byte("]}"))
	zw.Close()
	return int64(b.Len())
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
