package ha

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// fakeDynamoDB speaks DynamoDB's JSON protocol for one lease item, as
// far as the lease uses it, and answers UpdateItem with throttling while
// throttle > 0, as DynamoDB does under a burst (moto never throttles).
type fakeDynamoDB struct {
	mu       sync.Mutex
	throttle int
	updates  int
}

func (f *fakeDynamoDB) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.ReadAll(r.Body)
	op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "DynamoDB_20120810.")
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	f.mu.Lock()
	defer f.mu.Unlock()
	switch op {
	case "GetItem":
		_, _ = io.WriteString(w, `{}`)
	case "PutItem":
		_, _ = io.WriteString(w, `{}`)
	case "UpdateItem":
		f.updates++
		if f.throttle > 0 {
			f.throttle--
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"Rate of requests exceeds the allowed throughput."}`)
			return
		}
		_, _ = io.WriteString(w, `{}`)
	default:
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"__type":"com.amazon.coral.service#UnknownOperationException"}`)
	}
}

// TestGuardRidesOutThrottling keeps the lease through throttled renewals
// that end before its validity does: they count as failures, not as a
// loss, and the next renewal succeeds.
func TestGuardRidesOutThrottling(t *testing.T) {
	fake := &fakeDynamoDB{}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	client := dynamodb.New(dynamodb.Options{Region: "eu-west-1", BaseEndpoint: aws.String(srv.URL), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider("AKIAIOSFODNN7EXAMPLE", "secret", "")})
	l := &DynamoDBLease{Client: client, Table: "leases", Name: "prod"}
	clk := newClock(time.Now())
	g := &Guard{Lease: l, Holder: "a", Renew: 10 * time.Second, TTL: 30 * time.Second, Now: clk.Now}
	ctx := context.Background()
	if _, err := g.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	fake.mu.Lock()
	fake.throttle = 2
	fake.mu.Unlock()
	for i := 0; i < 2; i++ {
		clk.Add(10 * time.Second)
		err := g.renewOnce(ctx)
		if err == nil || errors.Is(err, ErrLost) || !strings.Contains(err.Error(), "ThrottlingException") {
			t.Fatalf("renewal %d: err=%v, want a throttling error that is not a loss", i+1, err)
		}
	}
	// 20s into a 30s lease with a 6s margin: still valid.
	if err := g.Fence(); err != nil {
		t.Fatalf("fenced after throttled renewals within the validity: %v", err)
	}
	clk.Add(3 * time.Second)
	if err := g.renewOnce(ctx); err != nil {
		t.Fatal(err)
	}
	clk.Add(20 * time.Second)
	if err := g.Fence(); err != nil {
		t.Fatalf("fenced 20s after a successful renewal: %v", err)
	}
	if fake.updates != 3 {
		t.Fatalf("%d UpdateItem calls, want 3", fake.updates)
	}
}
