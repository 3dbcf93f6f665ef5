package ha

import (
	"context"
	"errors"
	"strconv"
	"time"
)

// ErrHeld is returned by Acquire when another replica holds an unexpired
// lease, or won the race for an expired one.
var ErrHeld = errors.New("lease held by another instance")

// ErrLost is returned by Renew and Release when the lease is no longer
// this grant's: it expired and another replica took it.
var ErrLost = errors.New("lease lost to another instance")

// Grant is one holding of the lease.
type Grant struct {
	// Holder names the replica holding the lease.
	Holder string
	// Epoch increases by one at each takeover; writes and posts of an
	// older epoch are fenced off.
	Epoch uint64
	// Expires is when the lease ends unless renewed, by the clock of the
	// replica that wrote it.
	Expires time.Time
	// token is what a conditional write of this grant must match (the S3
	// object's ETag).
	token string
}

// Lease is a lock with a time limit that replicas compete for through
// conditional writes.
type Lease interface {
	// Acquire takes the lease for holder until now+ttl, with the epoch
	// after the last one, when it is free or expired. It returns ErrHeld
	// (wrapped, with the current grant) when another holder has it.
	Acquire(ctx context.Context, holder string, now time.Time, ttl time.Duration) (Grant, error)
	// Renew extends g until now+ttl, or returns ErrLost.
	Renew(ctx context.Context, g Grant, now time.Time, ttl time.Duration) (Grant, error)
	// Release ends g at once, so a standby takes over without waiting for
	// the TTL; ErrLost when g is no longer current.
	Release(ctx context.Context, g Grant) error
	// Current reads the lease as it is; ok is false when it was never
	// taken.
	Current(ctx context.Context) (g Grant, ok bool, err error)
}

// HeldError says who holds the lease, and until when.
type HeldError struct{ Current Grant }

// Error implements error.
func (e *HeldError) Error() string {
	return "lease held by " + e.Current.Holder + " (epoch " + strconv.FormatUint(e.Current.Epoch, 10) + ") until " + e.Current.Expires.UTC().Format(time.RFC3339Nano)
}

// Unwrap makes errors.Is(err, ErrHeld) true.
func (e *HeldError) Unwrap() error { return ErrHeld }
