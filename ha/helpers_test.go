package ha

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	bolt "go.etcd.io/bbolt"

	"github.com/trailhound/trailhound/internal/moto"
)

func TestMain(m *testing.M) { os.Exit(moto.Main(m)) }

var names atomic.Int64

// uniq returns a name no other test uses, for buckets and tables in the
// shared moto_server.
func uniq(prefix string) string { return fmt.Sprintf("%s-%d-%d", prefix, os.Getpid(), names.Add(1)) }

// newBucket creates a bucket in moto and returns an S3 client and its name.
func newBucket(t testing.TB) (*s3.Client, string) {
	t.Helper()
	url := moto.URL(t)
	moto.Credentials(t)
	cl, err := NewS3Client(context.Background(), moto.Region, url)
	if err != nil {
		t.Fatal(err)
	}
	b := uniq("snap")
	if _, err := cl.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: &b,
		CreateBucketConfiguration: &s3types.CreateBucketConfiguration{LocationConstraint: s3types.BucketLocationConstraint(moto.Region)}}); err != nil {
		t.Fatal(err)
	}
	return cl, b
}

// newTable creates a lease table in moto and returns a lease on it.
func newTable(t *testing.T) *DynamoDBLease {
	t.Helper()
	url := moto.URL(t)
	moto.Credentials(t)
	l, err := NewLease(context.Background(), LeaseConfig{Kind: "dynamodb", Where: uniq("leases"), Name: "prod", Region: moto.Region, EndpointURL: url})
	if err != nil {
		t.Fatal(err)
	}
	dl := l.(*DynamoDBLease)
	_, err = dl.Client.CreateTable(context.Background(), &dynamodb.CreateTableInput{
		TableName:            &dl.Table,
		AttributeDefinitions: []dtypes.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: dtypes.ScalarAttributeTypeS}},
		KeySchema:            []dtypes.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: dtypes.KeyTypeHash}},
		BillingMode:          dtypes.BillingModePayPerRequest,
	})
	if err != nil {
		t.Fatal(err)
	}
	return dl
}

// newS3Lease returns a lease on an object of a new bucket in moto.
func newS3Lease(t *testing.T) *S3Lease {
	t.Helper()
	cl, b := newBucket(t)
	return &S3Lease{Client: cl, Bucket: b, Key: "ha/lease.json"}
}

// openDB opens a real bbolt database under t.TempDir.
func openDB(t *testing.T, dir string) *bolt.DB {
	t.Helper()
	db, err := bolt.Open(filepath.Join(dir, "trailhound.db"), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// clock is a settable clock for tests.
type clock struct{ t atomic.Int64 }

func newClock(t time.Time) *clock { c := &clock{}; c.t.Store(t.UnixNano()); return c }

func (c *clock) Now() time.Time      { return time.Unix(0, c.t.Load()).UTC() }
func (c *clock) Add(d time.Duration) { c.t.Add(int64(d)) }
