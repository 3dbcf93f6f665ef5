package pushdown_test

// DuckDB stands in for Athena in tests: a real SQL engine, embedded, with
// the CloudTrail table in the schema AWS documents for Athena. It is
// imported only here, so the trailhound binary stays free of cgo.

import (
	"bufio"
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	_ "github.com/duckdb/duckdb-go/v2"
)

// ctColumns is the CloudTrail table of the Athena User Guide ("Creating
// the table for CloudTrail logs in Athena"), in DuckDB's type syntax.
var ctColumns = [][2]string{
	{"eventversion", "VARCHAR"},
	{"useridentity", "STRUCT(type VARCHAR, principalid VARCHAR, arn VARCHAR, accountid VARCHAR, invokedby VARCHAR, accesskeyid VARCHAR, username VARCHAR, " +
		"sessioncontext STRUCT(attributes STRUCT(mfaauthenticated VARCHAR, creationdate VARCHAR), " +
		"sessionissuer STRUCT(type VARCHAR, principalid VARCHAR, arn VARCHAR, accountid VARCHAR, username VARCHAR)))"},
	{"eventtime", "VARCHAR"},
	{"eventsource", "VARCHAR"},
	{"eventname", "VARCHAR"},
	{"awsregion", "VARCHAR"},
	{"sourceipaddress", "VARCHAR"},
	{"useragent", "VARCHAR"},
	{"errorcode", "VARCHAR"},
	{"errormessage", "VARCHAR"},
	{"requestparameters", "VARCHAR"},
	{"responseelements", "VARCHAR"},
	{"additionaleventdata", "VARCHAR"},
	{"requestid", "VARCHAR"},
	{"eventid", "VARCHAR"},
	{"resources", "STRUCT(arn VARCHAR, accountid VARCHAR, type VARCHAR)[]"},
	{"eventtype", "VARCHAR"},
	{"apiversion", "VARCHAR"},
	{"readonly", "VARCHAR"},
	{"recipientaccountid", "VARCHAR"},
	{"serviceeventdetails", "VARCHAR"},
	{"sharedeventid", "VARCHAR"},
	{"vpcendpointid", "VARCHAR"},
	{"tlsdetails", "STRUCT(tlsversion VARCHAR, ciphersuite VARCHAR, clientprovidedhostheader VARCHAR)"},
}

// jsonTextColumns hold the JSON text of the record's object, as the
// CloudTrail SerDe stores them.
var jsonTextColumns = map[string]bool{
	"requestparameters": true, "responseelements": true, "additionaleventdata": true, "serviceeventdetails": true,
}

// scalarText renders a JSON value for a text column: a string as it is,
// null as NULL, anything else as its JSON text.
func scalarText(raw json.RawMessage) any {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
	}
	return string(raw)
}

// lowerKeys reads a JSON object with its keys in lower case, as Hive's
// JSON SerDe matches struct fields.
func lowerKeys(raw json.RawMessage) map[string]json.RawMessage {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return nil
	}
	out := make(map[string]json.RawMessage, len(m))
	for k, v := range m {
		out[strings.ToLower(k)] = v
	}
	return out
}

// structValue turns a JSON object into the value of a struct column whose
// fields are described by typ.
func structValue(raw json.RawMessage, typ string) any {
	m := lowerKeys(raw)
	if m == nil {
		return nil
	}
	out := map[string]any{}
	for _, f := range structFieldsOf(typ) {
		v, ok := m[f[0]]
		if !ok {
			out[f[0]] = nil
			continue
		}
		if strings.HasPrefix(f[1], "STRUCT(") {
			out[f[0]] = structValue(v, f[1])
		} else {
			out[f[0]] = scalarText(v)
		}
	}
	return out
}

// structFieldsOf splits STRUCT(a T, b STRUCT(...)) into its fields.
func structFieldsOf(typ string) [][2]string {
	inner := strings.TrimSuffix(strings.TrimPrefix(typ, "STRUCT("), ")")
	var out [][2]string
	depth, start := 0, 0
	for i := 0; i <= len(inner); i++ {
		if i == len(inner) || (inner[i] == ',' && depth == 0) {
			part := strings.TrimSpace(inner[start:i])
			name, t, _ := strings.Cut(part, " ")
			out = append(out, [2]string{name, t})
			start = i + 1
			continue
		}
		switch inner[i] {
		case '(':
			depth++
		case ')':
			depth--
		}
	}
	return out
}

// athenaRow turns a CloudTrail record into a row of the table, as a JSON
// object for DuckDB's read_json.
func athenaRow(record []byte) (map[string]any, error) {
	top := lowerKeys(record)
	if top == nil {
		return nil, fmt.Errorf("not a JSON object: %.60s", record)
	}
	row := map[string]any{}
	for _, c := range ctColumns {
		v, ok := top[c[0]]
		switch {
		case !ok || string(bytes.TrimSpace(v)) == "null":
			row[c[0]] = nil
		case jsonTextColumns[c[0]]:
			var b bytes.Buffer
			if err := json.Compact(&b, v); err != nil {
				return nil, err
			}
			row[c[0]] = b.String()
		case strings.HasPrefix(c[1], "STRUCT(") && strings.HasSuffix(c[1], "[]"):
			var arr []json.RawMessage
			if json.Unmarshal(v, &arr) != nil {
				row[c[0]] = nil
				continue
			}
			var out []any
			for _, el := range arr {
				out = append(out, structValue(el, strings.TrimSuffix(c[1], "[]")))
			}
			row[c[0]] = out
		case strings.HasPrefix(c[1], "STRUCT("):
			row[c[0]] = structValue(v, c[1])
		default:
			row[c[0]] = scalarText(v)
		}
	}
	return row, nil
}

// loadDuckDB opens an in-memory DuckDB with the records in the table
// cloudtrail.
func loadDuckDB(t testing.TB, records [][]byte) *sql.DB {
	t.Helper()
	path := filepath.Join(t.TempDir(), "rows.jsonl")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	for _, rec := range records {
		row, err := athenaRow(rec)
		if err != nil {
			t.Fatal(err)
		}
		if err := enc.Encode(row); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	var cols, defs []string
	for _, c := range ctColumns {
		cols = append(cols, fmt.Sprintf("%s: '%s'", c[0], c[1]))
		defs = append(defs, c[0]+" "+c[1])
	}
	stmts := []string{
		"CREATE TABLE cloudtrail (" + strings.Join(defs, ", ") + ")",
		fmt.Sprintf("INSERT INTO cloudtrail SELECT * FROM read_json('%s', format = 'newline_delimited', columns = {%s})", path, strings.Join(cols, ", ")),
	}
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("duckdb: %v\n%s", err, s)
		}
	}
	return db
}

// queryIDs runs a query whose first column is an event id and returns the
// ids, sorted.
func queryIDs(t testing.TB, db *sql.DB, q string) []string {
	t.Helper()
	rows, err := db.Query(q)
	if err != nil {
		t.Fatalf("duckdb: %v\n%s", err, q)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, fmt.Sprint(vals[idColumn(cols)]))
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("duckdb: %v\n%s", err, q)
	}
	sort.Strings(ids)
	return ids
}

func idColumn(cols []string) int {
	for i, c := range cols {
		if c == "event_id" || c == "eventid" {
			return i
		}
	}
	return 0
}
