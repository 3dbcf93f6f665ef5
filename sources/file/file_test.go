package file

import (
	"bytes"
	"compress/gzip"
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
	s, _ := New("local", Options{Paths: []string{dir}}, nil)
	r, _ := fetch(t, s, nil)
	if strings.Join(r.ids, ",") != "1,2,4" {
		t.Fatalf("ids=%v, want 1,2,4", r.ids)
	}
	var where []string
	for _, m := range r.malformed {
		where = append(where, filepath.Base(m.Where))
	}
	if strings.Join(where, ",") != "2.json,3.json.gz" {
		t.Fatalf("malformed in %v, want 2.json and 3.json.gz (%v)", where, r.malformed)
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

// TestMissingPathIsSourceError: a configured path that is not there is
// the source's error, permanent until the config changes, not a malformed
// record; the other paths are still read and their checkpoint kept.
func TestMissingPathIsSourceError(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a.json"), `{"Records":[`+record("1")+`]}`)
	missing := filepath.Join(dir, "missing")
	s, _ := New("local", Options{Paths: []string{dir, missing}}, nil)
	if err := s.Check(); err == nil || !strings.Contains(err.Error(), "path "+missing+" does not exist") || !sources.IsPermanent(err) {
		t.Fatalf("Check()=%v, want a permanent error naming %s", err, missing)
	}
	var ids []string
	var malformed []sources.Malformed
	next, err := s.Fetch(context.Background(), nil, sources.FuncSink{
		OnEvent:     func(_ context.Context, ev *sources.Event) error { ids = append(ids, ev.ID); return nil },
		OnMalformed: func(m sources.Malformed) { malformed = append(malformed, m) },
	})
	if err == nil || !strings.Contains(err.Error(), "path "+missing+" does not exist") {
		t.Fatalf("Fetch err=%v, want one naming the missing path", err)
	}
	if !sources.IsPermanent(err) || sources.Classify(err) != sources.ClassNotFound {
		t.Fatalf("class=%v, want not found (permanent)", sources.Classify(err))
	}
	if cp, ok := sources.CheckpointAfter(next, err); !ok || !strings.Contains(string(cp), "a.json") {
		t.Fatalf("checkpoint=%s ok=%v, want the files read", cp, ok)
	}
	if strings.Join(ids, ",") != "1" || len(malformed) != 0 {
		t.Fatalf("ids=%v malformed=%v, want 1 and no malformed record", ids, malformed)
	}
	ok, _ := New("local", Options{Paths: []string{dir}}, nil)
	if err := ok.Check(); err != nil {
		t.Fatalf("Check() on an existing path: %v", err)
	}
	embedded, _ := New("demo", Options{Paths: []string{"samples", "nope"}}, fstest.MapFS{"samples/a.json": {Data: []byte("{}")}})
	if err := embedded.Check(); err == nil || !strings.Contains(err.Error(), "path nope does not exist") {
		t.Fatalf("embedded Check()=%v", err)
	}
}

func gz(t *testing.T, data string) string {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(data))
	zw.Close()
	return b.String()
}

// TestNamedFileReadWhateverItsName: a file named on its own is read by
// its content, with or without an extension, and a file whose content is
// no log says so.
func TestNamedFileReadWhateverItsName(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, file, data string
		ids              string
		malformed        string
	}{
		{"no extension", "ct-export", `{"Records":[` + record("1") + `]}`, "1", ""},
		{"gzip without .json", "x.gz", gz(t, `{"Records":[`+record("2")+`]}`), "2", ""},
		{"gzip without extension", "delivery", gz(t, record("3")+"\n"), "3", ""},
		{"JSON Lines as .dat", "events.dat", "\n" + record("4") + "\n" + record("5") + "\n", "4,5", ""},
		{"not a log", "picture.png", "\x89PNG\r\n\x1a\n", "", "not a log file"},
		{"gzip of text", "notes.gz", gz(t, "hello"), "", "not a log file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, tc.file)
			write(t, p, tc.data)
			s, _ := New("files", Options{Paths: []string{p}, Rescan: true}, nil)
			r, _ := fetch(t, s, nil)
			if got := strings.Join(r.ids, ","); got != tc.ids {
				t.Fatalf("ids=%q, want %q (malformed %v)", got, tc.ids, r.malformed)
			}
			switch {
			case tc.malformed == "" && len(r.malformed) > 0:
				t.Fatalf("malformed=%v, want none", r.malformed)
			case tc.malformed != "" && (len(r.malformed) != 1 || !strings.Contains(r.malformed[0].Reason, tc.malformed) || r.malformed[0].Where != p):
				t.Fatalf("malformed=%v, want one %q naming %s", r.malformed, tc.malformed, p)
			}
		})
	}
}

// TestSkippedFilesAreNamed: inside a directory, files whose names are not
// those of logs are skipped, and Skipped names them, documentation aside.
func TestSkippedFilesAreNamed(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a.json"), `{"Records":[`+record("1")+`]}`)
	write(t, filepath.Join(dir, "ct-export"), `{"Records":[`+record("2")+`]}`)
	write(t, filepath.Join(dir, "sub", "events.csv"), "time,name\n")
	write(t, filepath.Join(dir, "sub", "README.md"), "docs")
	write(t, filepath.Join(dir, ".hidden"), "x")
	s, _ := New("local", Options{Paths: []string{dir}}, nil)
	r, _ := fetch(t, s, nil)
	if strings.Join(r.ids, ",") != "1" {
		t.Fatalf("ids=%v, want 1", r.ids)
	}
	want := []string{filepath.Join(dir, "ct-export"), filepath.Join(dir, "sub", "events.csv")}
	if got := s.Skipped(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("Skipped()=%v, want %v", got, want)
	}
}
