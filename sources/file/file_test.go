package file

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
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
	// A file appended to is read on from where the last read stopped.
	write(t, filepath.Join(dir, "sub", "b.jsonl"), record("2")+"\n"+record("4")+"\n")
	touch(t, filepath.Join(dir, "sub", "b.jsonl"), time.Minute)
	r, _ = fetch(t, s, cp)
	if strings.Join(r.ids, ",") != "4" {
		t.Fatalf("appended file ids=%v, want 4", r.ids)
	}
}

// touch moves a file's modification time by d from now.
func touch(t *testing.T, path string, d time.Duration) {
	t.Helper()
	at := time.Now().Add(d)
	if err := os.Chtimes(path, at, at); err != nil {
		t.Fatal(err)
	}
}

// TestChangedFiles: a file appended to is read on, gzip-compressed or as
// a document too; one that shrank or starts differently is read whole as
// new content, and so is a changed file whose checkpoint has no head
// (written before heads were kept).
func TestChangedFiles(t *testing.T) {
	lines := func(ids ...string) string {
		var b strings.Builder
		for _, id := range ids {
			b.WriteString(record(id) + "\n")
		}
		return b.String()
	}
	doc := func(ids ...string) string {
		var recs []string
		for _, id := range ids {
			recs = append(recs, record(id))
		}
		return `{"Records":[` + strings.Join(recs, ",") + `]}`
	}
	gz := func(data string) string {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		_, _ = zw.Write([]byte(data))
		_ = zw.Close()
		return b.String()
	}
	var many []string
	for i := 0; i < 32; i++ {
		many = append(many, fmt.Sprint("m", i))
	}
	for _, tc := range []struct {
		name, before, after string
		legacy              bool
		want                string
	}{
		{"appended", lines("1", "2"), lines("1", "2", "3"), false, "3"},
		{"appended gzip member", gz(lines("1", "2")), gz(lines("1", "2")) + gz(lines("3")), false, "3"},
		{"appended past 4 KiB", lines(many[:30]...), lines(many...), false, strings.Join(many[30:], ",")},
		{"rewritten", lines("1", "2"), lines("9", "8", "7"), false, "9,8,7"},
		{"shrunk", lines("1", "2", "3"), lines("1", "2"), false, "1,2"},
		{"document rewritten", doc("1"), doc("1", "2"), false, "1,2"},
		{"old checkpoint", lines("1", "2"), lines("1", "2", "3"), true, "1,2,3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "trail.json")
			write(t, path, tc.before)
			s, _ := New("local", Options{Paths: []string{path}}, nil)
			_, cp := fetch(t, s, nil)
			if tc.legacy {
				st, _ := os.Stat(path)
				cp = []byte(fmt.Sprintf(`{"files":{%q:{"size":%d,"mtime":%q}}}`, path, st.Size(), st.ModTime().UTC().Format(time.RFC3339Nano)))
			}
			write(t, path, tc.after)
			touch(t, path, time.Minute)
			r, _ := fetch(t, s, cp)
			if got := strings.Join(r.ids, ","); got != tc.want {
				t.Fatalf("ids=%s, want %s", got, tc.want)
			}
		})
	}
}

// TestProgressResumes: cut short after any event, a fetch resumes from
// the progress it reported with exactly the events not yet handed over,
// in a JSON Lines file, a gzip-compressed one and a delivery document,
// each spread over several files.
func TestProgressResumes(t *testing.T) {
	var ids []string
	for i := 0; i < 12; i++ {
		ids = append(ids, fmt.Sprint(i))
	}
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a.jsonl"), strings.Join([]string{record("0"), record("1"), "{broken", record("2"), record("3")}, "\n")+"\n")
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	_, _ = zw.Write([]byte(record("4") + "\n" + record("5") + "\n" + record("6") + "\n"))
	_ = zw.Close()
	write(t, filepath.Join(dir, "b.jsonl.gz"), b.String())
	write(t, filepath.Join(dir, "c.json"), `{"Records":[`+record("7")+","+record("8")+","+record("9")+","+record("10")+","+record("11")+`]}`)
	s, _ := New("local", Options{Paths: []string{dir}}, nil)
	stop := errors.New("crash")
	for cut := 1; cut <= len(ids); cut++ {
		var got []string
		var resume func() []byte
		var at []byte
		malformed := 0
		_, err := s.Fetch(context.Background(), nil, sources.FuncSink{
			OnProgress: func(r func() []byte) { resume = r },
			OnEvent: func(_ context.Context, ev *sources.Event) error {
				got = append(got, ev.ID)
				if len(got) == cut {
					at = resume() // what a poll commits with this event
					return stop
				}
				return nil
			},
			OnMalformed: func(sources.Malformed) { malformed++ },
		})
		if cut < len(ids) && !errors.Is(err, stop) {
			t.Fatalf("cut %d: err=%v", cut, err)
		}
		r, _ := fetch(t, s, at)
		got = append(got, r.ids...)
		malformed += len(r.malformed)
		if strings.Join(got, ",") != strings.Join(ids, ",") {
			t.Fatalf("cut after %d: ids=%v, want each of %v once", cut, got, ids)
		}
		if malformed != 1 {
			t.Fatalf("cut after %d: %d malformed reports, want the broken line once", cut, malformed)
		}
	}
}

// TestRereads: only a source that rescans every file reads events again.
func TestRereads(t *testing.T) {
	for _, rescan := range []bool{false, true} {
		s, _ := New("local", Options{Paths: []string{"x"}, Rescan: rescan}, nil)
		if since, again := s.Rereads(nil); again != rescan || !since.IsZero() {
			t.Fatalf("rescan=%v: Rereads=%v,%v", rescan, since, again)
		}
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
