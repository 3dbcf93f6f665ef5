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
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	bolt "go.etcd.io/bbolt"
)

// SchemaVersion is the version of the database layout a snapshot holds.
// Restore refuses a snapshot of a newer version, which this binary may
// not read correctly.
const SchemaVersion = 1

// Object metadata keys of a snapshot (S3 sends them as x-amz-meta-*).
const (
	metaSHA256 = "sha256"
	metaSchema = "schema-version"
	metaSize   = "db-size"
	metaEpoch  = "lease-epoch"
)

// keyTime is the time in snapshot object names: fixed width, so names sort
// by time.
const keyTime = "20060102T150405.000000000Z"

// DefaultPartSize is the size of the parts of a multipart upload; a
// snapshot whose compressed size fits in one part is one PutObject.
const DefaultPartSize = 16 << 20

// ErrFenced is returned when this replica no longer holds the lease, so it
// must not write or post.
var ErrFenced = errors.New("ha: this instance no longer holds the lease; another instance is active")

// Info describes one snapshot object.
type Info struct {
	// Key is the object's key, and Time the moment in its name.
	Key  string
	Time time.Time
	// Size is the compressed object's size.
	Size int64
	// DBSize is the database's size, SHA256 its checksum (hex), Schema its
	// layout version and Epoch the lease epoch of the replica that took it
	// (0 without a lease); they are known after Head or Take.
	DBSize int64
	SHA256 string
	Schema int
	Epoch  uint64
}

// Snapshotter uploads consistent, compressed copies of the database to
// s3://Bucket/Prefix and keeps the newest Keep of them.
type Snapshotter struct {
	// S3 is the client snapshots are uploaded with.
	S3 *s3.Client
	// Bucket and Prefix say where: s3://Bucket/Prefix/trailhound-TIME.db.gz.
	Bucket string
	Prefix string
	// Keep is how many snapshots are kept; older ones are deleted.
	Keep int
	// DB is the database copied.
	DB *bolt.DB
	// TempDir holds the compressed copy while it uploads; empty means the
	// database's directory.
	TempDir string
	// Fence, when set, is checked before the copy and again right before
	// the object is created: a replica that lost the lease uploads nothing.
	Fence func() error
	// Epoch, when set, returns the lease epoch recorded with the snapshot.
	Epoch func() uint64
	// PartSize overrides DefaultPartSize when positive.
	PartSize int64
	// Now returns the current time; tests replace it.
	Now func() time.Time
	// Log receives a line per snapshot uploaded; nil logs nothing.
	Log *slog.Logger
}

// SnapshotKey returns the object key of a snapshot taken at t.
func SnapshotKey(prefix string, t time.Time) string {
	name := "trailhound-" + t.UTC().Format(keyTime) + ".db.gz"
	if prefix == "" {
		return name
	}
	return prefix + "/" + name
}

// parseKey returns the time in a snapshot key, false when the key is not
// a snapshot's.
func parseKey(prefix, key string) (time.Time, bool) {
	name := key
	if prefix != "" {
		var ok bool
		if name, ok = strings.CutPrefix(key, prefix+"/"); !ok {
			return time.Time{}, false
		}
	}
	s, ok := strings.CutPrefix(name, "trailhound-")
	if !ok {
		return time.Time{}, false
	}
	if s, ok = strings.CutSuffix(s, ".db.gz"); !ok {
		return time.Time{}, false
	}
	t, err := time.Parse(keyTime, s)
	return t, err == nil
}

func (s *Snapshotter) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Snapshotter) fence() error {
	if s.Fence != nil {
		return s.Fence()
	}
	return nil
}

// Take uploads one snapshot and prunes the oldest beyond Keep. The copy
// is made in one read transaction, which never blocks writers, into a
// compressed temporary file beside the database; the upload then reads
// that file, so a slow network holds neither the transaction (bbolt waits
// for open read transactions before it grows the file) nor the database
// in memory.
func (s *Snapshotter) Take(ctx context.Context) (Info, error) {
	started := time.Now()
	info, err := s.take(ctx)
	if err != nil {
		metricSnapshotFailures.Inc()
		return info, err
	}
	metricSnapshotSize.Set(float64(info.Size))
	metricSnapshotDBSize.Set(float64(info.DBSize))
	metricSnapshotDuration.Set(time.Since(started).Seconds())
	markSnapshot(time.Now())
	if err := s.Prune(ctx); err != nil {
		return info, err
	}
	return info, nil
}

func (s *Snapshotter) take(ctx context.Context) (Info, error) {
	if err := s.fence(); err != nil {
		return Info{}, err
	}
	dir := s.TempDir
	if dir == "" {
		dir = filepath.Dir(s.DB.Path())
	}
	tmp, err := os.CreateTemp(dir, ".snapshot-*.gz")
	if err != nil {
		return Info{}, fmt.Errorf("snapshot: temporary file: %w", err)
	}
	defer func() {
		tmp.Close()
		os.Remove(tmp.Name())
	}()
	info := Info{Time: s.now().UTC(), Schema: SchemaVersion}
	if s.Epoch != nil {
		info.Epoch = s.Epoch()
	}
	info.Key = SnapshotKey(s.Prefix, info.Time)
	h := sha256.New()
	bw := bufio.NewWriterSize(tmp, 1<<20)
	gz, _ := gzip.NewWriterLevel(bw, gzip.BestSpeed)
	err = s.DB.View(func(tx *bolt.Tx) error {
		info.DBSize = tx.Size()
		_, err := tx.WriteTo(io.MultiWriter(h, gz))
		return err
	})
	if err == nil {
		err = gz.Close()
	}
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		return Info{}, fmt.Errorf("snapshot: copy database: %w", err)
	}
	info.SHA256 = hex.EncodeToString(h.Sum(nil))
	if info.Size, err = tmp.Seek(0, io.SeekEnd); err != nil {
		return Info{}, fmt.Errorf("snapshot: %w", err)
	}
	meta := map[string]string{
		metaSHA256: info.SHA256,
		metaSchema: strconv.Itoa(info.Schema),
		metaSize:   strconv.FormatInt(info.DBSize, 10),
		metaEpoch:  strconv.FormatUint(info.Epoch, 10),
	}
	if err := s.upload(ctx, tmp, info.Key, info.Size, meta); err != nil {
		return Info{}, fmt.Errorf("snapshot: upload s3://%s/%s: %w", s.Bucket, info.Key, err)
	}
	if s.Log != nil {
		s.Log.Info("snapshot uploaded", "key", info.Key, "bytes", info.Size, "db_bytes", info.DBSize, "took", time.Since(info.Time).Round(time.Millisecond))
	}
	return info, nil
}

// upload puts the file in one request when it fits in a part, else as a
// multipart upload of sections of the file. The object appears only when
// the last request succeeds, and the fence is checked right before it.
func (s *Snapshotter) upload(ctx context.Context, f *os.File, key string, size int64, meta map[string]string) error {
	part := s.PartSize
	if part <= 0 {
		part = DefaultPartSize
	}
	if size <= part {
		if err := s.fence(); err != nil {
			return err
		}
		_, err := s.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: &s.Bucket, Key: &key, Body: io.NewSectionReader(f, 0, size),
			ContentLength: aws.Int64(size), ContentType: aws.String("application/gzip"), Metadata: meta})
		return err
	}
	up, err := s.S3.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &s.Bucket, Key: &key, ContentType: aws.String("application/gzip"), Metadata: meta})
	if err != nil {
		return err
	}
	abort := func(err error) error {
		// A fresh context: the upload is abandoned even when ctx ended.
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_, _ = s.S3.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{Bucket: &s.Bucket, Key: &key, UploadId: up.UploadId})
		return err
	}
	var parts []types.CompletedPart
	for n, off := int32(1), int64(0); off < size; n, off = n+1, off+part {
		l := min(part, size-off)
		out, err := s.S3.UploadPart(ctx, &s3.UploadPartInput{Bucket: &s.Bucket, Key: &key, UploadId: up.UploadId, PartNumber: aws.Int32(n),
			Body: io.NewSectionReader(f, off, l), ContentLength: aws.Int64(l)})
		if err != nil {
			return abort(fmt.Errorf("part %d: %w", n, err))
		}
		parts = append(parts, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(n)})
	}
	if err := s.fence(); err != nil {
		return abort(err)
	}
	_, err = s.S3.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &s.Bucket, Key: &key, UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
	if err != nil {
		return abort(err)
	}
	return nil
}

// List returns the snapshots under s3://bucket/prefix, oldest first.
func List(ctx context.Context, client *s3.Client, bucket, prefix string) ([]Info, error) {
	var out []Info
	lp := prefix
	if lp != "" {
		lp += "/"
	}
	p := s3.NewListObjectsV2Paginator(client, &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: &lp})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("snapshot: list s3://%s/%s: %w", bucket, lp, err)
		}
		for _, o := range page.Contents {
			key := aws.ToString(o.Key)
			t, ok := parseKey(prefix, key)
			if !ok {
				continue
			}
			out = append(out, Info{Key: key, Time: t, Size: aws.ToInt64(o.Size)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// Prune deletes the oldest snapshots beyond Keep.
func (s *Snapshotter) Prune(ctx context.Context) error {
	if s.Keep <= 0 {
		return nil
	}
	all, err := List(ctx, s.S3, s.Bucket, s.Prefix)
	if err != nil {
		return err
	}
	for len(all) > s.Keep {
		if err := s.fence(); err != nil {
			return err
		}
		key := all[0].Key
		if _, err := s.S3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.Bucket, Key: &key}); err != nil {
			return fmt.Errorf("snapshot: prune s3://%s/%s: %w", s.Bucket, key, err)
		}
		all = all[1:]
	}
	return nil
}
