package ha

import (
	"bufio"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	bolt "go.etcd.io/bbolt"
)

// ErrNoSnapshot is returned when no snapshot matches a restore.
var ErrNoSnapshot = errors.New("no snapshot found")

// ErrExists is returned when a restore would overwrite a database and
// Force is not set.
var ErrExists = errors.New("database exists")

// RestoreOptions says which snapshot to restore where.
type RestoreOptions struct {
	// Bucket and Prefix say where the snapshots are.
	Bucket, Prefix string
	// At picks the newest snapshot taken at or before it; zero means the
	// newest.
	At time.Time
	// Path is the database file to write.
	Path string
	// Force overwrites an existing database at Path.
	Force bool
}

// Restore downloads the newest snapshot matching opts, checks its schema
// version and checksum, and moves it into place atomically: it is written
// to a temporary file beside Path, synced, opened once as a bbolt
// database, and only then renamed over Path. A failure at any point
// leaves Path as it was.
func Restore(ctx context.Context, client *s3.Client, opts RestoreOptions) (Info, error) {
	if _, err := os.Stat(opts.Path); err == nil && !opts.Force {
		return Info{}, fmt.Errorf("restore: %w: %s already exists; it was left untouched (use --force to replace it)", ErrExists, opts.Path)
	}
	all, err := List(ctx, client, opts.Bucket, opts.Prefix)
	if err != nil {
		return Info{}, err
	}
	var pick *Info
	for i := range all {
		if opts.At.IsZero() || !all[i].Time.After(opts.At) {
			pick = &all[i]
		}
	}
	where := fmt.Sprintf("s3://%s/%s", opts.Bucket, opts.Prefix)
	if pick == nil {
		if !opts.At.IsZero() {
			return Info{}, fmt.Errorf("restore: %w in %s at or before %s (%d snapshots, all newer)", ErrNoSnapshot, where, opts.At.UTC().Format(time.RFC3339), len(all))
		}
		return Info{}, fmt.Errorf("restore: %w in %s", ErrNoSnapshot, where)
	}
	info := *pick
	if err := fetch(ctx, client, opts, &info); err != nil {
		return info, fmt.Errorf("restore s3://%s/%s: %w", opts.Bucket, info.Key, err)
	}
	return info, nil
}

func fetch(ctx context.Context, client *s3.Client, opts RestoreOptions, info *Info) error {
	out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: &opts.Bucket, Key: &info.Key})
	if err != nil {
		return err
	}
	defer out.Body.Close()
	if err := readMeta(out.Metadata, info); err != nil {
		return err
	}
	if info.Schema > SchemaVersion {
		return fmt.Errorf("snapshot has database schema version %d, and this trailhound reads up to %d: restore it with a newer trailhound", info.Schema, SchemaVersion)
	}
	if err := os.MkdirAll(filepath.Dir(opts.Path), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(opts.Path), ".restore-*.db")
	if err != nil {
		return err
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	gz, err := gzip.NewReader(bufio.NewReaderSize(out.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("not a gzip stream: %w", err)
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), gz)
	if err != nil {
		return fmt.Errorf("download: %w", err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != info.SHA256 {
		return fmt.Errorf("checksum mismatch: the database in the snapshot has SHA-256 %s, its metadata says %s; the snapshot is corrupt and was not restored", got, info.SHA256)
	}
	if info.DBSize > 0 && n != info.DBSize {
		return fmt.Errorf("size mismatch: %d bytes, metadata says %d; not restored", n, info.DBSize)
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	db, err := bolt.Open(tmp.Name(), 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return fmt.Errorf("the snapshot is not a readable database: %w", err)
	}
	db.Close()
	if err := os.Rename(tmp.Name(), opts.Path); err != nil {
		return err
	}
	done = true
	if d, err := os.Open(filepath.Dir(opts.Path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// readMeta fills info from a snapshot's object metadata.
func readMeta(meta map[string]string, info *Info) error {
	info.SHA256 = meta[metaSHA256]
	if len(info.SHA256) != 64 {
		return fmt.Errorf("metadata has no SHA-256 checksum (%s): not a complete Trailhound snapshot", metaSHA256)
	}
	v, err := strconv.Atoi(meta[metaSchema])
	if err != nil {
		return fmt.Errorf("metadata has no schema version (%s): not a complete Trailhound snapshot", metaSchema)
	}
	info.Schema = v
	info.DBSize, _ = strconv.ParseInt(meta[metaSize], 10, 64)
	info.Epoch, _ = strconv.ParseUint(meta[metaEpoch], 10, 64)
	return nil
}
