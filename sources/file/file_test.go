package file

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/trailhound/trailhound/sources"
)

const rec = `{"eventVersion":"1.08","eventTime":"2023-07-10T11:42:18Z","eventSource":"iam.amazonaws.com","eventName":"CreateUser","eventID":"%s"}`

func record(id string) string { return strings.Replace(rec, "%s", id, 1) }

type result struct {
	ids       []string
	malformed []sources.Malformed
}

func fetch(t *testing.T, s *Source, cp []byte) (result, []byte) {
	t.Helper()
	var r result
	next, err := s.Fetch(context.Background(), cp, sources.FuncSink{
		OnEvent:     func(_ context.Context, ev *sources.Event) error { r.ids = append(r.ids, ev.ID); return nil },
		OnMalformed: func(m sources.Malformed) { r.malformed = append(r.malformed, m) },
	})
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	return r, next
}

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestFetchDirectoryAndCheckpoint(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a.json"), `{"Records":[`+record("1")+`]}`)
	write(t, filepath.Join(dir, "sub", "b.jsonl"), record("2")+"\n")
	write(t, filepath.Join(dir, "notes.md"), "not a log")
	write(t, filepath.Join(dir, ".hidden", "c.json"), `{"Records":[`+record("3")+`]}`)
	s, err := New("local", Options{Paths: []string{dir}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, cp := fetch(t, s, nil)
	if strings.Join(r.ids, ",") != "1,2" || len(r.malformed) != 0 {
		t.Fatalf("first fetch ids=%v malformed=%v, want 1,2", r.ids, r.malformed)
	}
	r, cp = fetch(t, s, cp)
	if len(r.ids) != 0 {
		t.Fatalf("unchanged files read again: %v", r.ids)
	}
	// A grown file is read again (the workflow dedups events by id).
	write(t, filepath.Join(dir, "sub", "b.jsonl"), record("2")+"\n"+record("4")+"\n")
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(filepath.Join(dir, "sub", "b.jsonl"), later, later); err != nil {
		t.Fatal(err)
	}
	r, _ = fetch(t, s, cp)
	if strings.Join(r.ids, ",") != "2,4" {
		t.Fatalf("changed file ids=%v, want 2,4", r.ids)
	}
}

func TestCorruptFileDoesNotStopOthers(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "1.json"), `{"Records":[`+record("1")+`]}`)
	write(t, filepath.Join(dir, "2.json"), `{"Records":[`+record("2")+`,{"eventTime":`)
	write(t, filepath.Join(dir, "3.json.gz"), "this is not gzip, despite the name")
	write(t, filepath.Join(dir, "4.json"), `{"Records":[`+record("4")+`]}`)
	s, _ := New("local", Options{Paths: []string{dir, filepath.Join(dir, "missing")}}, nil)
	r, _ := fetch(t, s, nil)
	if strings.Join(r.ids, ",") != "1,2,4" {
		t.Fatalf("ids=%v, want 1,2,4", r.ids)
	}
	var where []string
	for _, m := range r.malformed {
		where = append(where, filepath.Base(m.Where))
	}
	if strings.Join(where, ",") != "2.json,3.json.gz,missing" {
		t.Fatalf("malformed in %v, want 2.json, 3.json.gz and missing (%v)", where, r.malformed)
	}
	if !strings.Contains(r.malformed[0].Reason, "corrupt JSON") || r.malformed[0].Offset <= 0 {
		t.Fatalf("malformed=%+v, want corrupt JSON with an offset", r.malformed[0])
	}
}

func TestEmbeddedFS(t *testing.T) {
	fsys := fstest.MapFS{
		"samples/a.json":    {Data: []byte(`{"Records":[` + record("9") + `]}`)},
		"samples/README.md": {Data: []byte("docs")},
	}
	s, _ := New("demo", Options{Paths: []string{"samples"}}, fsys)
	r, _ := fetch(t, s, nil)
	if strings.Join(r.ids, ",") != "9" || len(r.malformed) != 0 {
		t.Fatalf("ids=%v malformed=%v", r.ids, r.malformed)
	}
}

func TestNewNeedsPaths(t *testing.T) {
	if _, err := New("x", Options{}, nil); err == nil || !strings.Contains(err.Error(), "paths") {
		t.Fatalf("err=%v, want a paths error", err)
	}
}

func TestCorruptCheckpoint(t *testing.T) {
	s, _ := New("x", Options{Paths: []string{t.TempDir()}}, nil)
	_, err := s.Fetch(context.Background(), []byte("{nope"), sources.FuncSink{})
	if err == nil || !strings.Contains(err.Error(), "checkpoint is corrupt") {
		t.Fatalf("err=%v", err)
	}
}
