package aws

import (
	"context"
	"fmt"
	"sync"

	"github.com/aws/smithy-go/middleware"
	"golang.org/x/time/rate"
)

// Documented per-account, per-region request quotas of the APIs the
// sources call, in requests per second.
const (
	// LookupEventsRPS is CloudTrail LookupEvents' quota: 2 per second.
	LookupEventsRPS = 2
	// FilterLogEventsRPS is CloudWatch Logs FilterLogEvents' default
	// quota: 5 per second.
	FilterLogEventsRPS = 5
	// DefaultRPS paces APIs with generous quotas (S3, SQS) only so that a
	// runaway loop cannot flood them.
	DefaultRPS = 50
)

var limiters = struct {
	sync.Mutex
	m map[string]*rate.Limiter
}{m: map[string]*rate.Limiter{}}

// Limiter returns the process-wide limiter for one API in the target's
// account and region: every source calling that API there shares it, as
// AWS counts the quota per account and region. rps is used when the
// target's options set none.
func (t Target) Limiter(api string, rps float64) *rate.Limiter {
	if t.rps > 0 {
		rps = t.rps
	}
	key := fmt.Sprintf("%s|%s|%s|%s", api, t.limitKey, t.Region, t.EndpointURL)
	limiters.Lock()
	defer limiters.Unlock()
	l, ok := limiters.m[key]
	if !ok {
		// A burst of one keeps the steady rate even right after a pause,
		// as AWS's quotas are enforced per second.
		l = rate.NewLimiter(rate.Limit(rps), 1)
		limiters.m[key] = l
	} else if float64(l.Limit()) != rps {
		// The most recently configured rate wins, so a reload applies.
		l.SetLimit(rate.Limit(rps))
	}
	return l
}

// Paced returns an API option that makes every attempt of a request,
// retries included, wait for the limiter first. Add it to a client's
// Options.APIOptions.
func Paced(l *rate.Limiter) func(*middleware.Stack) error {
	return func(stack *middleware.Stack) error {
		mw := middleware.FinalizeMiddlewareFunc("TrailhoundRateLimit", func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
			if err := l.Wait(ctx); err != nil {
				return middleware.FinalizeOutput{}, middleware.Metadata{}, fmt.Errorf("rate limit: %w", err)
			}
			return next.HandleFinalize(ctx, in)
		})
		if _, ok := stack.Finalize.Get("Retry"); ok {
			return stack.Finalize.Insert(mw, "Retry", middleware.After)
		}
		return stack.Finalize.Add(mw, middleware.After)
	}
}
