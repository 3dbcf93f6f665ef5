package ha

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

// S3Lease is a lease held in one S3 object, written with S3's conditional
// writes: If-None-Match: * creates it only when absent, If-Match: ETag
// replaces it only when nobody wrote it since it was read.
type S3Lease struct {
	// Client is the S3 client the lease is written with.
	Client *s3.Client
	// Bucket and Key name the lease object.
	Bucket string
	Key    string
}

type s3LeaseBody struct {
	Holder  string `json:"holder"`
	Epoch   uint64 `json:"epoch"`
	Expires int64  `json:"expires_ms"`
}

func (l *S3Lease) where() string { return "s3://" + l.Bucket + "/" + l.Key }

// Current implements Lease: it reads the lease object; ok is false when there is none.
func (l *S3Lease) Current(ctx context.Context) (g Grant, ok bool, err error) {
	out, err := l.Client.GetObject(ctx, &s3.GetObjectInput{Bucket: &l.Bucket, Key: &l.Key})
	if err != nil {
		var api smithy.APIError
		if errors.As(err, &api) && (api.ErrorCode() == "NoSuchKey" || api.ErrorCode() == "NotFound") {
			return g, false, nil
		}
		return g, false, fmt.Errorf("lease: read %s: %w", l.where(), err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(io.LimitReader(out.Body, 4096))
	if err != nil {
		return g, false, fmt.Errorf("lease: read %s: %w", l.where(), err)
	}
	var body s3LeaseBody
	if err := json.Unmarshal(b, &body); err != nil {
		return g, false, fmt.Errorf("lease: %s is not a Trailhound lease: %w", l.where(), err)
	}
	return Grant{Holder: body.Holder, Epoch: body.Epoch, Expires: time.UnixMilli(body.Expires), token: aws.ToString(out.ETag)}, true, nil
}

// put writes g; ifMatch is an ETag, or "" to create the object only if
// it does not exist. It returns g with the new ETag.
func (l *S3Lease) put(ctx context.Context, g Grant, ifMatch string) (Grant, error) {
	b, _ := json.Marshal(s3LeaseBody{Holder: g.Holder, Epoch: g.Epoch, Expires: g.Expires.UnixMilli()})
	in := &s3.PutObjectInput{Bucket: &l.Bucket, Key: &l.Key, Body: strings.NewReader(string(b)), ContentType: aws.String("application/json")}
	if ifMatch == "" {
		in.IfNoneMatch = aws.String("*")
	} else {
		in.IfMatch = aws.String(ifMatch)
	}
	out, err := l.Client.PutObject(ctx, in)
	if err != nil {
		return g, err
	}
	g.token = aws.ToString(out.ETag)
	return g, nil
}

// isPrecondition reports a failed conditional write: 412, or 409 when a
// concurrent conditional write won.
func isPrecondition(err error) bool {
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "PreconditionFailed", "ConditionalRequestConflict":
			return true
		}
	}
	return false
}

// Acquire implements Lease.
func (l *S3Lease) Acquire(ctx context.Context, holder string, now time.Time, ttl time.Duration) (Grant, error) {
	cur, exists, err := l.Current(ctx)
	if err != nil {
		return Grant{}, err
	}
	if exists && !cur.Expires.Before(now) {
		return Grant{}, &HeldError{cur}
	}
	g := Grant{Holder: holder, Epoch: cur.Epoch + 1, Expires: now.Add(ttl)}
	g, err = l.put(ctx, g, cur.token)
	if isPrecondition(err) {
		cur, _, _ := l.Current(ctx)
		return Grant{}, &HeldError{cur}
	}
	if err != nil {
		return Grant{}, fmt.Errorf("lease: take %s: %w", l.where(), err)
	}
	return g, nil
}

// Renew implements Lease.
func (l *S3Lease) Renew(ctx context.Context, g Grant, now time.Time, ttl time.Duration) (Grant, error) {
	next := g
	next.Expires = now.Add(ttl)
	next, err := l.put(ctx, next, g.token)
	if isPrecondition(err) {
		return g, ErrLost
	}
	if err != nil {
		return g, fmt.Errorf("lease: renew %s: %w", l.where(), err)
	}
	return next, nil
}

// Release implements Lease.
func (l *S3Lease) Release(ctx context.Context, g Grant) error {
	next := g
	next.Expires = time.UnixMilli(0)
	_, err := l.put(ctx, next, g.token)
	if isPrecondition(err) {
		return ErrLost
	}
	if err != nil {
		return fmt.Errorf("lease: release %s: %w", l.where(), err)
	}
	return nil
}
