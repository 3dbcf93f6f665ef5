// Package sqsqueue is the SQS side of the sources that read a queue (s3,
// aws-findings): it receives messages, and deletes them only once the
// poll that read them is committed, remembering which were deleted so a
// later poll can delete the ones a stop left behind.
package sqsqueue

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/trailhound/trailhound/configs"
	awssrc "github.com/trailhound/trailhound/sources/aws"
)

// ValidURL reports whether s looks like an SQS queue URL:
// http(s)://host/ACCOUNT/NAME.
func ValidURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" && len(strings.Split(strings.Trim(u.Path, "/"), "/")) == 2
}

// ValidateReceive fills in and checks a queue source's receive settings:
// max_messages (how many messages one poll handles; default 500, at most
// 10000) and visibility_timeout (default defaultVisibility, from 1s to
// 12h, SQS's limit).
func ValidateReceive(sec configs.Section, maxMessages *int, visibility *configs.Duration, defaultVisibility time.Duration) error {
	if *maxMessages == 0 {
		*maxMessages = 500
	}
	if *maxMessages < 1 || *maxMessages > 10000 {
		return sec.Errorf("max_messages", "must be between 1 and 10000")
	}
	if *visibility == 0 {
		*visibility = configs.Duration(defaultVisibility)
	}
	if v := visibility.D(); v < time.Second || v > 12*time.Hour {
		return sec.Errorf("visibility_timeout", "must be between 1s and 12h")
	}
	return nil
}

// Queue is one SQS queue read by a source. Its methods may be called
// concurrently (Ack runs beside the next poll).
type Queue struct {
	client *sqs.Client
	url    string
	prefix string

	mu    sync.Mutex
	acked map[string]bool
}

// New returns the queue at url read through client; prefix (the source
// kind, such as "s3") starts its error messages.
func New(client *sqs.Client, url, prefix string) *Queue {
	return &Queue{client: client, url: url, prefix: prefix, acked: map[string]bool{}}
}

// Receive receives up to n messages (at most 10, SQS's limit), hiding
// them from other receivers for visibility, and waiting up to wait
// seconds for the first (a long poll) when the queue is empty.
func (q *Queue) Receive(ctx context.Context, n int, visibility time.Duration, wait int32) ([]sqstypes.Message, error) {
	out, err := q.client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:            sdkaws.String(q.url),
		MaxNumberOfMessages: int32(min(10, n)),
		VisibilityTimeout:   int32(visibility / time.Second),
		WaitTimeSeconds:     wait,
	})
	if err != nil {
		return nil, awssrc.Wrap(err, "%s: receive from queue %s", q.prefix, q.url)
	}
	return out.Messages, nil
}

// Delete deletes the messages with these receipt handles, ten to a
// request, and remembers the ones deleted. It goes on past failures and
// returns them all.
func (q *Queue) Delete(ctx context.Context, handles []string) error {
	var errs []error
	for i := 0; i < len(handles); i += 10 {
		batch := handles[i:min(i+10, len(handles))]
		in := &sqs.DeleteMessageBatchInput{QueueUrl: sdkaws.String(q.url)}
		for j, h := range batch {
			in.Entries = append(in.Entries, sqstypes.DeleteMessageBatchRequestEntry{Id: sdkaws.String(fmt.Sprint(j)), ReceiptHandle: sdkaws.String(h)})
		}
		out, err := q.client.DeleteMessageBatch(ctx, in)
		if err != nil {
			errs = append(errs, awssrc.Wrap(err, "%s: delete queue messages", q.prefix))
			continue
		}
		failed := map[string]bool{}
		for _, f := range out.Failed {
			failed[sdkaws.ToString(f.Id)] = true
			errs = append(errs, fmt.Errorf("%s: delete queue message: %s: %s", q.prefix, sdkaws.ToString(f.Code), sdkaws.ToString(f.Message)))
		}
		q.mu.Lock()
		for j, h := range batch {
			if !failed[fmt.Sprint(j)] {
				q.acked[h] = true
			}
		}
		q.mu.Unlock()
	}
	return errors.Join(errs...)
}

// DeleteLeftover starts a poll: it deletes the messages of the previous,
// committed poll (pending, from its checkpoint) that Delete has not
// deleted, because the process stopped before the poll was
// acknowledged, and forgets what was deleted. Failures are not returned:
// a message whose receipt expired comes back, and its events are dropped
// as repeats.
func (q *Queue) DeleteLeftover(ctx context.Context, pending []string) {
	q.mu.Lock()
	var leftover []string
	for _, h := range pending {
		if !q.acked[h] {
			leftover = append(leftover, h)
		}
	}
	q.acked = map[string]bool{}
	q.mu.Unlock()
	if len(leftover) > 0 {
		_ = q.Delete(ctx, leftover)
	}
}
