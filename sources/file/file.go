// Package file is a log source that reads CloudTrail and CloudWatch Logs
// exports from local files and directories.
package file

import (
	"context"
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
}

type checkpoint struct {
	Files map[string]fileState `json:"files"`
}

// Fetch reads every file not read before or changed since, in name order.
// A file that cannot be opened or read is reported as malformed and the
// others are still read.
func (s *Source) Fetch(ctx context.Context, cp []byte, sink sources.Sink) ([]byte, error) {
	prev := checkpoint{Files: map[string]fileState{}}
	if len(cp) > 0 && !s.opts.Rescan {
		if err := json.Unmarshal(cp, &prev); err != nil {
			return nil, fmt.Errorf("file source %q: checkpoint is corrupt: %w", s.name, err)
		}
	}
	next := checkpoint{Files: map[string]fileState{}}
	for _, root := range s.opts.Paths {
		files, err := s.list(root)
		if err != nil {
			sink.Malformed(sources.Malformed{Where: root, Offset: -1, Reason: err.Error()})
			continue
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
			if old, ok := prev.Files[f]; ok && old.Size == st.Size && old.ModTime.Equal(st.ModTime) {
				next.Files[f] = st
				continue
			}
			if err := s.read(ctx, f, sink); err != nil {
				return nil, err
			}
			next.Files[f] = st
		}
	}
	return json.Marshal(next)
}

func (s *Source) read(ctx context.Context, name string, sink sources.Sink) error {
	r, err := s.open(name)
	if err != nil {
		sink.Malformed(sources.Malformed{Where: name, Offset: -1, Reason: err.Error()})
		return nil
	}
	defer r.Close()
	wrapped := sources.FuncSink{
		OnEvent: func(ctx context.Context, ev *sources.Event) error {
			if err := sink.Event(ctx, ev); err != nil {
				return sinkError{err}
			}
			return nil
		},
		OnMalformed: sink.Malformed,
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

func (s *Source) stat(name string) (fileState, error) {
	var fi fs.FileInfo
	var err error
	if s.fsys != nil {
		fi, err = fs.Stat(s.fsys, name)
	} else {
		fi, err = os.Stat(name)
	}
	if err != nil {
		return fileState{}, err
	}
	return fileState{Size: fi.Size(), ModTime: fi.ModTime().UTC()}, nil
}

// list returns the log files under root in name order, skipping hidden
// files and files that are clearly not logs.
func (s *Source) list(root string) ([]string, error) {
	var files []string
	walk := func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		base := d.Name()
		if strings.HasPrefix(base, ".") && p != root {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if !d.IsDir() && isLogFile(base) {
			files = append(files, p)
		}
		return nil
	}
	var err error
	if s.fsys != nil {
		err = fs.WalkDir(s.fsys, path.Clean(root), walk)
	} else {
		err = filepath.WalkDir(root, walk)
	}
	sort.Strings(files)
	return files, err
}

func isLogFile(name string) bool {
	name = strings.TrimSuffix(strings.ToLower(name), ".gz")
	for _, ext := range []string{".json", ".jsonl", ".ndjson", ".log", ".txt"} {
		if strings.HasSuffix(name, ext) {
			return true
		}
	}
	return false
}
