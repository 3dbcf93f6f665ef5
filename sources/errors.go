package sources

import (
	"context"
	"errors"
)

// Class says what kind of failure an error from a log source is, so that
// callers can tell a problem that retrying will fix from one a person must.
type Class int

// Error classes.
const (
	// ClassUnknown is an error nothing is known about; it is retried on the
	// next poll.
	ClassUnknown Class = iota
	// ClassThrottled means the service refused the request for its rate;
	// the next poll retries.
	ClassThrottled
	// ClassTransient is a server error (5xx), timeout or broken connection;
	// the next poll retries.
	ClassTransient
	// ClassNotFound means the log group, bucket, queue or trail does not
	// exist: permanent until the config or the account changes.
	ClassNotFound
	// ClassUnauthorized means the credentials are missing, invalid or lack
	// a permission: permanent until the IAM policy or config changes.
	ClassUnauthorized
	// ClassInvalid means the request itself was rejected (a bad filter
	// pattern, an unknown attribute): permanent until the config changes.
	ClassInvalid
)

// String names the class for logs and status tables.
func (c Class) String() string {
	switch c {
	case ClassThrottled:
		return "throttled"
	case ClassTransient:
		return "transient"
	case ClassNotFound:
		return "not found"
	case ClassUnauthorized:
		return "unauthorized"
	case ClassInvalid:
		return "invalid request"
	}
	return "unknown"
}

// Permanent reports whether errors of the class will not go away by
// retrying.
func (c Class) Permanent() bool {
	return c == ClassNotFound || c == ClassUnauthorized || c == ClassInvalid
}

// ErrPermanent matches, with errors.Is, an error classified as permanent
// (see Classified). For errors that join several, use IsPermanent, which
// asks that none of them be passing.
var ErrPermanent = errors.New("permanent source error")

// ClassifiedError is an error from a log source with its class attached.
// Sources classify at the edge, where they know the service's error codes.
type ClassifiedError struct {
	Class Class
	Err   error
}

// Classified wraps err with a class; nil stays nil.
func Classified(c Class, err error) error {
	if err == nil {
		return nil
	}
	return &ClassifiedError{Class: c, Err: err}
}

// Error implements error.
func (e *ClassifiedError) Error() string { return e.Err.Error() }

// Unwrap returns the wrapped error.
func (e *ClassifiedError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrPermanent) true for permanent classes.
func (e *ClassifiedError) Is(target error) bool {
	return target == ErrPermanent && e.Class.Permanent()
}

// Classify returns the class of err: the one attached by Classified
// anywhere in its chain, ClassTransient for a deadline, ClassUnknown
// otherwise. When several classified errors are joined, a transient class
// wins over a permanent one, since the next poll retries anyway.
func Classify(err error) Class {
	for err != nil {
		switch e := err.(type) {
		case *ClassifiedError:
			return e.Class
		case interface{ Unwrap() []error }:
			best := ClassUnknown
			for i, x := range e.Unwrap() {
				c := Classify(x)
				if i == 0 || best.Permanent() && !c.Permanent() {
					best = c
				}
			}
			return best
		}
		if err == context.DeadlineExceeded {
			return ClassTransient
		}
		err = errors.Unwrap(err)
	}
	return ClassUnknown
}

// IsPermanent reports whether err will not go away by retrying: every
// error in it is classified as not found, unauthorized or invalid.
func IsPermanent(err error) bool {
	if err == nil {
		return false
	}
	return Classify(err).Permanent()
}

// Acker is implemented by sources that must confirm what they read once
// it is safely stored, for example by deleting SQS messages. The poller
// calls Ack with the checkpoint it has just committed, after the commit; a
// crash before Ack leaves the work unconfirmed, so it is read again and
// dropped as a repeat.
type Acker interface {
	Ack(ctx context.Context, checkpoint []byte) error
}

// PartialError is returned by Fetch when some parts of a source (some log
// groups, some queue messages) were read and others failed. Next is the
// checkpoint that covers exactly the parts read; the poller stores it with
// the findings and records Err as the source's error.
type PartialError struct {
	Next []byte
	Err  error
}

// Error implements error.
func (e *PartialError) Error() string { return e.Err.Error() }

// Unwrap returns the underlying error, so Classify and IsPermanent see it.
func (e *PartialError) Unwrap() error { return e.Err }

// Partial returns a PartialError, or nil when err is nil.
func Partial(next []byte, err error) error {
	if err == nil {
		return nil
	}
	return &PartialError{Next: next, Err: err}
}

// CheckpointAfter returns the checkpoint a poller stores after a Fetch
// that returned (next, err): next on success, the partial checkpoint when
// err is a PartialError, and ok=false (store nothing) otherwise.
func CheckpointAfter(next []byte, err error) (cp []byte, ok bool) {
	if err == nil {
		return next, true
	}
	var pe *PartialError
	if errors.As(err, &pe) && pe.Next != nil {
		return pe.Next, true
	}
	return nil, false
}
