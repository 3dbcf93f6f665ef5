// Package file is a log source that reads CloudTrail and CloudWatch Logs
// exports from local files and directories.
//
// A file named in Paths is read whatever its name: its format (gzip,
// a JSON document, JSON Lines) is told from its content. Inside a
// directory, only files whose names say they are logs are read (see
// LogExtensions); the others are skipped, counted and named by Skipped.
package file

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/trailhound/trailhound/sources"
)

// Options configure a file source.
type Options struct {
	// Paths are files or directories; directories are read recursively.
	Paths []string `yaml:"paths"`
	// Rescan reads every file on every poll instead of only new and changed
	// files.
	Rescan bool `yaml:"rescan"`
}

// Source reads log files.
type Source struct {
	name string
	opts Options
	fsys fs.FS

	mu      sync.Mutex
	skipped []string
}

// New returns a file source. When fsys is nil, paths name files on disk;
// otherwise they are paths inside fsys (used for the bundled samples).
func New(name string, opts Options, fsys fs.FS) (*Source, error) {
	if len(opts.Paths) == 0 {
		return nil, fmt.Errorf("file source %q: paths: at least one path is required", name)
	}
	return &Source{name: name, opts: opts, fsys: fsys}, nil
}

// Name implements sources.Source.
func (s *Source) Name() string { return s.name }

type fileState struct {
	Size    int64     `json:"size"`
	ModTime time.Time `json:"mtime"`
	// Head identifies the file's content by SHA-256 (first 8 bytes, hex)
	// of its first HeadLen bytes, at most headBytes: a file that grew with
	// the same head was appended to. Empty in checkpoints written before.
	Head    string `json:"head,omitempty"`
	HeadLen int    `json:"head_len,omitempty"`
	// Events counts the events read from the file; a later read of the
	// same file, grown or resumed, skips that many.
	Events int64 `json:"events,omitempty"`
	// Partial marks the file being read when a poll stored its progress:
	// Events were read, the rest not yet.
	Partial bool `json:"partial,omitempty"`
}

// headBytes is how much of a file's start identifies it.
const headBytes = 4096

type checkpoint struct {
	Files map[string]fileState `json:"files"`
}

// Check reports configured paths that cannot be read now: each one that
// does not exist or may not be listed, joined in one error classified as
// sources.ClassNotFound or sources.ClassUnauthorized. It reads no file.
func (s *Source) Check() error {
	var errs []error
	for _, root := range s.opts.Paths {
		if _, err := s.statPath(root); err != nil {
			errs = append(errs, s.rootError(root, err))
		}
	}
	return errors.Join(errs...)
}

// Skipped returns the files the last Fetch found in directories and did
// not read because their names are not those of log files, in name order.
func (s *Source) Skipped() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.skipped...)
}

// rootError describes a configured path that cannot be read, classified
// so that the source's health shows a person must act.
func (s *Source) rootError(root string, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return sources.Classified(sources.ClassNotFound, fmt.Errorf("file source %q: path %s does not exist", s.name, root))
	case errors.Is(err, fs.ErrPermission):
		return sources.Classified(sources.ClassUnauthorized, fmt.Errorf("file source %q: path %s: permission denied", s.name, root))
	}
	return fmt.Errorf("file source %q: path %s: %w", s.name, root, err)
}

// Rereads implements sources.Rereader. Files are read once: a file that
// grew with the same head (see Fetch) is read on from where the last read
// stopped, and a read cut short by a crash resumes from the progress it
// reported. Only with Rescan, which reads every file whole on every poll,
// may any event be read again.
func (s *Source) Rereads([]byte) (since time.Time, again bool) {
	return time.Time{}, s.opts.Rescan
}

// Fetch reads every file not read before or changed since, in name order.
// A file that grew and starts as it did (the same first 4 KiB, or all of
// it when it was shorter) was appended to: the events read before are
// skipped. A file that shrank or starts differently is read whole as new
// content; so is a file whose checkpoint predates this check. Fetch
// reports its progress to a sources.ProgressSink after each event, so a
// poll cut short carries on after the last event it stored. A file that
// cannot be opened or read is reported as malformed and the others are
// still read. A configured path that does not exist or cannot be listed
// is the source's error: the other paths are still read, and the error
// is returned as a sources.PartialError with their checkpoint.
func (s *Source) Fetch(ctx context.Context, cp []byte, sink sources.Sink) ([]byte, error) {
	prev := checkpoint{Files: map[string]fileState{}}
	if len(cp) > 0 && !s.opts.Rescan {
		if err := json.Unmarshal(cp, &prev); err != nil {
			return nil, fmt.Errorf("file source %q: checkpoint is corrupt: %w", s.name, err)
		}
	}
	next := checkpoint{Files: map[string]fileState{}}
	// cur is the file being read; its Events count what was handed over.
	var cur *fileState
	var curName string
	if ps, ok := sink.(sources.ProgressSink); ok && !s.opts.Rescan {
		ps.Progress(func() []byte {
			at := checkpoint{Files: make(map[string]fileState, len(prev.Files)+len(next.Files))}
			for f, st := range prev.Files {
				at.Files[f] = st
			}
			for f, st := range next.Files {
				at.Files[f] = st
			}
			if cur != nil {
				st := *cur
				st.Partial = true
				at.Files[curName] = st
			}
			out, _ := json.Marshal(at)
			return out
		})
	}
	var rootErrs []error
	var skipped []string
	defer func() {
		s.mu.Lock()
		s.skipped = skipped
		s.mu.Unlock()
	}()
	for _, root := range s.opts.Paths {
		files, skip, err := s.list(root)
		skipped = append(skipped, skip...)
		if err != nil {
			if _, serr := s.statPath(root); serr != nil {
				rootErrs = append(rootErrs, s.rootError(root, serr))
				continue
			}
			// The root is there but part of the walk failed (an
			// unreadable subdirectory): read what was listed.
			sink.Malformed(sources.Malformed{Where: root, Offset: -1, Reason: err.Error()})
		}
		for _, f := range files {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			st, err := s.stat(f)
			if err != nil {
				sink.Malformed(sources.Malformed{Where: f, Offset: -1, Reason: err.Error()})
				continue
			}
			old, had := prev.Files[f]
			if had && !old.Partial && old.Size == st.Size && old.ModTime.Equal(st.ModTime) {
				next.Files[f] = old
				continue
			}
			st.HeadLen = int(min(st.Size, headBytes))
			if st.Head, err = s.head(f, st.HeadLen); err != nil {
				sink.Malformed(sources.Malformed{Where: f, Offset: -1, Reason: err.Error()})
				continue
			}
			var skip int64
			if had && old.Head != "" && st.Size >= old.Size {
				if h, err := s.head(f, old.HeadLen); err == nil && h == old.Head {
					skip = old.Events // appended to, or a read cut short
				}
			}
			cur, curName = &st, f
			if err := s.read(ctx, f, sink, &st, skip); err != nil {
				return nil, err // cur stays: the progress names this file
			}
			next.Files[f], cur = st, nil
		}
	}
	out, err := json.Marshal(next)
	if err != nil {
		return nil, err
	}
	if len(rootErrs) > 0 {
		return nil, sources.Partial(out, errors.Join(rootErrs...))
	}
	return out, nil
}

// head identifies the content of file name by its first n bytes.
func (s *Source) head(name string, n int) (string, error) {
	f, err := s.open(name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	buf := make([]byte, n)
	if _, err := io.ReadFull(f, buf); err != nil {
		return "", fmt.Errorf("read the start: %w", err)
	}
	sum := sha256.Sum256(buf)
	return hex.EncodeToString(sum[:8]), nil
}

// read hands the events of file name to sink, counting them in st.Events
// as it goes; the first skip events (and the malformed records among
// them) were handed over by an earlier read and are passed over.
func (s *Source) read(ctx context.Context, name string, sink sources.Sink, st *fileState, skip int64) error {
	st.Events = 0
	f, err := s.open(name)
	if err != nil {
		sink.Malformed(sources.Malformed{Where: name, Offset: -1, Reason: err.Error()})
		return nil
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, sniffBytes)
	if !isLogFile(path.Base(filepath.ToSlash(name))) {
		// A file named on its own is read whatever its name; say so
		// plainly when its content is no log at all.
		if format := Sniff(r); format == FormatUnknown {
			sink.Malformed(sources.Malformed{Where: name, Offset: -1, Reason: "not a log file: the content is neither JSON nor gzip-compressed JSON"})
			return nil
		}
	}
	wrapped := sources.FuncSink{
		OnEvent: func(ctx context.Context, ev *sources.Event) error {
			st.Events++
			if st.Events <= skip {
				return nil
			}
			if err := sink.Event(ctx, ev); err != nil {
				return sinkError{err}
			}
			return nil
		},
		OnMalformed: func(m sources.Malformed) {
			if st.Events >= skip {
				sink.Malformed(m)
			}
		},
	}
	_, err = sources.Decode(ctx, r, name, s.name, wrapped)
	var se sinkError
	if errors.As(err, &se) {
		return se.error
	}
	if err != nil && ctx.Err() == nil {
		// A read error (truncated gzip, I/O error) spoils only this file.
		sink.Malformed(sources.Malformed{Where: name, Offset: -1, Reason: err.Error()})
		return nil
	}
	return err
}

// sinkError marks errors that come from the sink, which must stop the
// fetch rather than be reported as a bad file.
type sinkError struct{ error }

func (e sinkError) Unwrap() error { return e.error }

func (s *Source) open(name string) (io.ReadCloser, error) {
	if s.fsys != nil {
		return s.fsys.Open(name)
	}
	return os.Open(name)
}

func (s *Source) statPath(name string) (fs.FileInfo, error) {
	if s.fsys != nil {
		return fs.Stat(s.fsys, path.Clean(name))
	}
	return os.Stat(name)
}

func (s *Source) stat(name string) (fileState, error) {
	fi, err := s.statPath(name)
	if err != nil {
		return fileState{}, err
	}
	return fileState{Size: fi.Size(), ModTime: fi.ModTime().UTC()}, nil
}

// list returns the files to read under root in name order: root itself
// when it is a file, whatever its name; in a directory, the files whose
// names say they are logs, skipping hidden files and directories. skipped
// are the other files of the directory, documentation (README.md) aside.
func (s *Source) list(root string) (files, skipped []string, err error) {
	walk := func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == root || p == path.Clean(root) {
			if !d.IsDir() {
				files = append(files, p)
			}
			return nil
		}
		base := d.Name()
		if strings.HasPrefix(base, ".") {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		switch {
		case d.IsDir():
		case isLogFile(base):
			files = append(files, p)
		case !isDocument(base):
			skipped = append(skipped, p)
		}
		return nil
	}
	if s.fsys != nil {
		err = fs.WalkDir(s.fsys, path.Clean(root), walk)
	} else {
		err = filepath.WalkDir(root, walk)
	}
	sort.Strings(files)
	sort.Strings(skipped)
	return files, skipped, err
}

// LogExtensions are the file name endings read inside directories, each
// also with ".gz" after it.
var LogExtensions = []string{".json", ".jsonl", ".ndjson", ".log", ".txt"}

func isLogFile(name string) bool {
	name = strings.TrimSuffix(strings.ToLower(name), ".gz")
	for _, ext := range LogExtensions {
		if strings.HasSuffix(name, ext) {
			return true
		}
	}
	return false
}

// isDocument reports whether a file is documentation kept beside logs
// (README.md, LICENSE): not read, and not worth reporting as skipped.
func isDocument(name string) bool {
	lower := strings.ToLower(name)
	return strings.HasSuffix(lower, ".md") || strings.HasPrefix(lower, "readme") || strings.HasPrefix(lower, "license") || strings.HasPrefix(lower, "notice")
}

// Format is what Sniff finds at the start of a file.
type Format string

// Formats Sniff tells apart.
const (
	// FormatJSON is a JSON document or JSON Lines.
	FormatJSON Format = "json"
	// FormatGzipJSON is gzip-compressed JSON.
	FormatGzipJSON Format = "gzip"
	// FormatUnknown is anything else.
	FormatUnknown Format = ""
)

// sniffBytes is how much of a file Sniff may look at.
const sniffBytes = 64 << 10

// Sniff tells from the first bytes of r whether it holds JSON (a document
// or JSON Lines) or gzip-compressed JSON, without consuming them.
func Sniff(r *bufio.Reader) Format {
	head, _ := r.Peek(512)
	if len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b {
		more, _ := r.Peek(sniffBytes)
		zr, err := gzip.NewReader(bytes.NewReader(more))
		if err != nil {
			return FormatUnknown
		}
		plain := make([]byte, 512)
		n, _ := io.ReadFull(zr, plain)
		if looksJSON(plain[:n]) {
			return FormatGzipJSON
		}
		return FormatUnknown
	}
	if looksJSON(head) {
		return FormatJSON
	}
	return FormatUnknown
}

// looksJSON reports whether b starts, after white space and a byte order
// mark, with an object or an array.
func looksJSON(b []byte) bool {
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	b = bytes.TrimLeft(b, " \t\r\n")
	return len(b) > 0 && (b[0] == '{' || b[0] == '[')
}
