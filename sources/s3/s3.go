// Package s3 is a log source that reads CloudTrail delivery files from an
// S3 bucket, such as an organisation trail's: new files are found through
// the SQS queue that receives the bucket's object notifications, and
// backfill (and polling without a queue) lists keys by prefix.
package s3

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"time"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/trailhound/trailhound/configs"
	"github.com/trailhound/trailhound/sources"
	awssrc "github.com/trailhound/trailhound/sources/aws"
	"github.com/trailhound/trailhound/sources/aws/sqsqueue"
)

// Options configure an S3 source.
type Options struct {
	// Profile, Regions (exactly one: the bucket's), Accounts (at most one:
	// the log archive account's role), EndpointURL and retry settings.
	awssrc.Options `yaml:",inline"`
	// Bucket holds the delivery files.
	Bucket string `yaml:"bucket"`
	// Prefixes limit the keys read. For listing, each should be one
	// account and region's CloudTrail folder,
	// AWSLogs/[o-org-id/]ACCOUNT/CloudTrail/REGION/, whose keys sort by
	// time; listing a wider prefix is correct only through a queue.
	// Empty: the whole bucket.
	Prefixes []string `yaml:"prefixes"`
	// QueueURL is the SQS queue receiving the bucket's ObjectCreated
	// notifications, directly, through SNS or EventBridge, or CloudTrail's
	// own SNS notifications. Empty: each poll lists the prefixes.
	QueueURL string `yaml:"queue_url"`
	// MaxMessages caps the queue messages one poll handles. Default 500.
	MaxMessages int `yaml:"max_messages"`
	// VisibilityTimeout hides a received message from other receivers
	// until the poll has stored its findings and deleted it. Default 10m.
	VisibilityTimeout configs.Duration `yaml:"visibility_timeout"`
	// Lag is, when listing, how long after its name's time a delivery
	// file may still appear. Default 15m.
	Lag configs.Duration `yaml:"lag"`
	// InitialLookback is how far back the first listing reads. Default 1h.
	InitialLookback configs.Duration `yaml:"initial_lookback"`
}

var bucketRe = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// Validate checks the options and fills in defaults.
func (o *Options) Validate(sec configs.Section) error {
	if err := o.Options.Validate(sec); err != nil {
		return err
	}
	if len(o.Regions) != 1 {
		return sec.Errorf("regions", "give exactly one region: the bucket's")
	}
	if len(o.Accounts) > 1 {
		return sec.Errorf("accounts", "give at most one account: the one holding the bucket (an organisation trail's bucket holds every account's files)")
	}
	if !bucketRe.MatchString(o.Bucket) {
		return sec.Errorf("bucket", "%q is not an S3 bucket name", o.Bucket)
	}
	for i, p := range o.Prefixes {
		if strings.HasPrefix(p, "/") {
			return sec.Errorf(fmt.Sprintf("prefixes[%d]", i), "%q must not start with /", p)
		}
	}
	if o.QueueURL != "" && !sqsqueue.ValidURL(o.QueueURL) {
		return sec.Errorf("queue_url", "%q is not an SQS queue URL like https://sqs.eu-west-1.amazonaws.com/123456789012/trailhound", o.QueueURL)
	}
	if err := sqsqueue.ValidateReceive(sec, &o.MaxMessages, &o.VisibilityTimeout, 10*time.Minute); err != nil {
		return err
	}
	if o.Lag == 0 {
		o.Lag = configs.Duration(awssrc.DefaultLag)
	}
	if o.InitialLookback == 0 {
		o.InitialLookback = configs.Duration(awssrc.DefaultInitialLookback)
	}
	return nil
}

// Source reads one bucket.
type Source struct {
	name   string
	target awssrc.Target
	opts   Options
	s3     *s3.Client
	queue  *sqsqueue.Queue
	// Now is the clock; tests replace it.
	Now func() time.Time
	// waitSeconds is the SQS long-poll wait; tests set 0.
	waitSeconds int32
}

// Build validates the options and returns the source, named
// base/[account/]region.
func Build(ctx context.Context, base string, opts Options, sec configs.Section) ([]sources.Source, error) {
	if err := opts.Validate(sec); err != nil {
		return nil, err
	}
	targets, err := opts.Targets(ctx)
	if err != nil {
		return nil, sec.Errorf("", "%v", err)
	}
	return []sources.Source{New(targets[0].Name(base), targets[0], opts)}, nil
}

// New returns a source reading the bucket with the target's credentials.
// opts must have been validated.
func New(name string, t awssrc.Target, opts Options) *Source {
	s3lim := t.Limiter("s3", awssrc.DefaultRPS)
	sqslim := t.Limiter("sqs", awssrc.DefaultRPS)
	return &Source{
		name: name, target: t, opts: opts, Now: time.Now, waitSeconds: 1,
		s3: s3.NewFromConfig(t.Config, func(o *s3.Options) {
			o.APIOptions = append(o.APIOptions, awssrc.Paced(s3lim))
			if t.EndpointURL != "" {
				o.UsePathStyle = true
			}
		}),
		queue: sqsqueue.New(sqs.NewFromConfig(t.Config, func(o *sqs.Options) {
			o.APIOptions = append(o.APIOptions, awssrc.Paced(sqslim))
		}), opts.QueueURL, "s3"),
	}
}

// Name implements sources.Source.
func (s *Source) Name() string { return s.name }

// state is what the source keeps in its checkpoint besides marks.
type state struct {
	// Pending are receipt handles of queue messages whose objects were
	// read; they are deleted once the poll's findings are stored.
	Pending []string `json:"pending,omitempty"`
	// Lists is the listing position per prefix.
	Lists map[string]*listing `json:"lists,omitempty"`
}

type listing struct {
	// After is the key listing resumes after: every key up to it was
	// read, and no key before it can still appear.
	After string `json:"after,omitempty"`
	// Recent are keys after After already read, with their LastModified
	// in Unix seconds.
	Recent map[string]int64 `json:"recent,omitempty"`
}

func parse(cp []byte) (awssrc.Checkpoint, state, error) {
	c, err := awssrc.ParseCheckpoint(cp)
	if err != nil {
		return c, state{}, fmt.Errorf("s3: %w", err)
	}
	st := state{Lists: map[string]*listing{}}
	if len(c.Extra) > 0 {
		if err := json.Unmarshal(c.Extra, &st); err != nil {
			return c, st, fmt.Errorf("s3: checkpoint is corrupt: %w", err)
		}
	}
	if st.Lists == nil {
		st.Lists = map[string]*listing{}
	}
	return c, st, nil
}

func encode(c awssrc.Checkpoint, st state) []byte {
	c.Extra, _ = json.Marshal(st)
	return c.Bytes()
}

// sinkError marks an error from the sink, which stops the fetch.
type sinkError struct{ error }

func (e sinkError) Unwrap() error { return e.error }

// Fetch reads the objects announced on the queue, or, without a queue,
// the objects listed under the prefixes since the previous poll.
func (s *Source) Fetch(ctx context.Context, cp []byte, sink sources.Sink) ([]byte, error) {
	c, st, err := parse(cp)
	if err != nil {
		return nil, err
	}
	if s.opts.QueueURL != "" {
		return s.fetchQueue(ctx, c, st, sink)
	}
	return s.fetchList(ctx, c, st, sink)
}

// Ack implements sources.Acker: it deletes the queue messages whose
// objects the committed poll read.
func (s *Source) Ack(ctx context.Context, cp []byte) error {
	_, st, err := parse(cp)
	if err != nil || len(st.Pending) == 0 {
		return err
	}
	return s.queue.Delete(ctx, st.Pending)
}

func (s *Source) fetchQueue(ctx context.Context, c awssrc.Checkpoint, st state, sink sources.Sink) ([]byte, error) {
	// Messages of a committed poll that were not deleted (the process
	// stopped before Ack) are deleted now; if their receipts expired they
	// come back and their events are dropped as repeats.
	s.queue.DeleteLeftover(ctx, st.Pending)
	st.Pending = nil
	partial := func(err error) ([]byte, error) {
		if len(st.Pending) == 0 {
			return nil, err
		}
		return nil, sources.Partial(encode(c, st), err)
	}
	for received := 0; received < s.opts.MaxMessages; {
		msgs, err := s.queue.Receive(ctx, s.opts.MaxMessages-received, s.opts.VisibilityTimeout.D(), s.waitSeconds)
		if err != nil {
			return partial(err)
		}
		if len(msgs) == 0 {
			break
		}
		received += len(msgs)
		for _, m := range msgs {
			where := "queue message " + sdkaws.ToString(m.MessageId)
			objs, err := Notification([]byte(sdkaws.ToString(m.Body)))
			if err != nil {
				// A message that is not a notification can never be read;
				// report it and delete it rather than receive it forever.
				sink.Malformed(sources.Malformed{Where: where, Offset: -1, Reason: err.Error()})
				st.Pending = append(st.Pending, sdkaws.ToString(m.ReceiptHandle))
				continue
			}
			for _, o := range objs {
				if o.Bucket != s.opts.Bucket || !s.wanted(o.Key) {
					continue
				}
				if err := s.readObject(ctx, o.Key, sources.Window{}, sink); err != nil {
					var se sinkError
					if errors.As(err, &se) {
						return nil, se.error
					}
					// The message stays on the queue and comes back after
					// its visibility timeout.
					return partial(err)
				}
			}
			st.Pending = append(st.Pending, sdkaws.ToString(m.ReceiptHandle))
		}
	}
	return encode(c, st), nil
}

// wanted reports whether a key is a delivery file under the prefixes.
func (s *Source) wanted(key string) bool {
	if strings.HasSuffix(key, "/") || strings.Contains(key, "/CloudTrail-Digest/") {
		return false
	}
	if len(s.opts.Prefixes) == 0 {
		return true
	}
	for _, p := range s.opts.Prefixes {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	return false
}

// readObject decodes one object into the sink, keeping only events in w
// when w is not zero. A missing object is reported as malformed.
func (s *Source) readObject(ctx context.Context, key string, w sources.Window, sink sources.Sink) error {
	where := "s3://" + s.opts.Bucket + "/" + key
	out, err := s.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: sdkaws.String(s.opts.Bucket), Key: sdkaws.String(key)})
	if err != nil {
		err = awssrc.Wrap(err, "s3: get %s", where)
		if awssrc.ClassOf(err) == sources.ClassNotFound && !strings.Contains(awssrc.Short(err), "NoSuchBucket") {
			sink.Malformed(sources.Malformed{Where: where, Offset: -1, Reason: "object no longer exists"})
			return nil
		}
		return err
	}
	defer out.Body.Close()
	filtered := sources.FuncSink{
		OnEvent: func(ctx context.Context, ev *sources.Event) error {
			if !w.Contains(ev.Time) {
				return nil
			}
			if err := sink.Event(ctx, ev); err != nil {
				return sinkError{err}
			}
			return nil
		},
		OnMalformed: sink.Malformed,
	}
	_, err = sources.Decode(ctx, out.Body, where, s.name, filtered)
	var se sinkError
	if errors.As(err, &se) {
		return se
	}
	if err != nil {
		return sources.Classified(sources.ClassTransient, fmt.Errorf("s3: read %s: %w", where, err))
	}
	return nil
}

var ctFolderRe = regexp.MustCompile(`/CloudTrail/[a-z0-9-]+/$`)

// startAfter returns where listing a prefix for events from t may start:
// the day folder of t for a CloudTrail region folder, else nothing.
func startAfter(prefix string, t time.Time) string {
	if t.IsZero() || !ctFolderRe.MatchString("/"+prefix) {
		return ""
	}
	return prefix + t.UTC().Format("2006/01/02/")
}

// list calls fn for each object under prefix after the key after, in key
// order, until fn returns false or an error.
func (s *Source) list(ctx context.Context, prefix, after string, fn func(key string, modified time.Time) (bool, error)) error {
	in := &s3.ListObjectsV2Input{Bucket: sdkaws.String(s.opts.Bucket)}
	if prefix != "" {
		in.Prefix = sdkaws.String(prefix)
	}
	if after != "" {
		in.StartAfter = sdkaws.String(after)
	}
	pages := s3.NewListObjectsV2Paginator(s.s3, in)
	for pages.HasMorePages() {
		out, err := pages.NextPage(ctx)
		if err != nil {
			return awssrc.Wrap(err, "s3: list s3://%s/%s", s.opts.Bucket, prefix)
		}
		for _, o := range out.Contents {
			more, err := fn(sdkaws.ToString(o.Key), sdkaws.ToTime(o.LastModified))
			if err != nil || !more {
				return err
			}
		}
	}
	return nil
}

func (s *Source) prefixes() []string {
	if len(s.opts.Prefixes) == 0 {
		return []string{""}
	}
	return s.opts.Prefixes
}

// fetchList reads, per prefix, the keys after the stored position that
// were not read yet, then moves the position past keys old enough that no
// earlier key can still appear.
func (s *Source) fetchList(ctx context.Context, c awssrc.Checkpoint, st state, sink sources.Sink) ([]byte, error) {
	now := s.Now().UTC()
	lag := s.opts.Lag.D()
	next := state{Lists: map[string]*listing{}}
	var errs []error
	for _, p := range s.prefixes() {
		old := st.Lists[p]
		first := old == nil
		if first {
			old = &listing{After: startAfter(p, now.Add(-s.opts.InitialLookback.D()-lag))}
		}
		cur := &listing{After: old.After, Recent: map[string]int64{}}
		for k, v := range old.Recent {
			cur.Recent[k] = v
		}
		err := s.list(ctx, p, old.After, func(key string, mod time.Time) (bool, error) {
			if _, done := cur.Recent[key]; done {
				return true, nil
			}
			if s.wanted(key) && !(first && mod.Before(now.Add(-s.opts.InitialLookback.D()))) {
				if err := s.readObject(ctx, key, sources.Window{}, sink); err != nil {
					return false, err
				}
			}
			cur.Recent[key] = mod.Unix()
			return true, nil
		})
		if err != nil {
			var se sinkError
			if errors.As(err, &se) {
				return nil, se.error
			}
			errs = append(errs, err)
			// Keys read before the failure stay recorded, so they are not
			// read again; the position does not move.
			next.Lists[p] = cur
			continue
		}
		settle(cur, now.Add(-lag))
		next.Lists[p] = cur
	}
	if len(errs) > 0 {
		return nil, sources.Partial(encode(c, next), errors.Join(errs...))
	}
	return encode(c, next), nil
}

// settle moves After to the greatest key modified before cutoff, when
// every key up to it is settled, and forgets recent keys up to it.
func settle(l *listing, cutoff time.Time) {
	keys := make([]string, 0, len(l.Recent))
	for k := range l.Recent {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if l.Recent[k] >= cutoff.Unix() {
			break
		}
		l.After = k
		delete(l.Recent, k)
	}
}

// FetchRange implements sources.Ranger: it lists the prefixes and reads
// the events of w from the objects that can hold them.
func (s *Source) FetchRange(ctx context.Context, w sources.Window, sink sources.Sink) error {
	if w.End.IsZero() {
		w.End = s.Now().UTC()
	}
	lag := s.opts.Lag.D()
	var errs []error
	for _, p := range s.prefixes() {
		after := startAfter(p, w.Start.Add(-lag))
		dated := after != ""
		lastDay := w.End.Add(lag).UTC().Format("2006/01/02/")
		err := s.list(ctx, p, after, func(key string, mod time.Time) (bool, error) {
			if dated {
				// Keys sort by day: stop past the window's last day.
				if rest := strings.TrimPrefix(key, p); len(rest) >= 11 && rest[:11] > lastDay {
					return false, nil
				}
			} else if mod.Before(w.Start) || mod.After(w.End.Add(lag)) {
				return true, nil
			}
			if !s.wanted(key) {
				return true, nil
			}
			return true, s.readObject(ctx, key, w, sink)
		})
		if err != nil {
			var se sinkError
			if errors.As(err, &se) {
				return se.error
			}
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Object is an S3 object named in a notification.
type Object struct {
	Bucket, Key string
}

// Notification returns the created objects a queue message announces. It
// accepts S3 event notifications (sent directly, through SNS, or as
// EventBridge events) and CloudTrail's SNS delivery notifications. S3's
// test event and events other than object creation announce nothing.
func Notification(body []byte) ([]Object, error) {
	var m struct {
		// S3 event notification.
		Records []struct {
			EventSource string `json:"eventSource"`
			EventName   string `json:"eventName"`
			S3          struct {
				Bucket struct {
					Name string `json:"name"`
				} `json:"bucket"`
				Object struct {
					Key string `json:"key"`
				} `json:"object"`
			} `json:"s3"`
		} `json:"Records"`
		// S3 test event.
		Event string `json:"Event"`
		// SNS envelope.
		Type    string `json:"Type"`
		Message string `json:"Message"`
		// CloudTrail SNS notification.
		S3Bucket    string   `json:"s3Bucket"`
		S3ObjectKey []string `json:"s3ObjectKey"`
		// EventBridge.
		DetailType string `json:"detail-type"`
		Detail     struct {
			Bucket struct {
				Name string `json:"name"`
			} `json:"bucket"`
			Object struct {
				Key string `json:"key"`
			} `json:"object"`
		} `json:"detail"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("not a JSON notification: %v", err)
	}
	switch {
	case m.Type == "Notification" && m.Message != "":
		return Notification([]byte(m.Message))
	case m.Event == "s3:TestEvent":
		return nil, nil
	case m.S3Bucket != "":
		var out []Object
		for _, k := range m.S3ObjectKey {
			out = append(out, Object{Bucket: m.S3Bucket, Key: k})
		}
		return out, nil
	case m.DetailType != "":
		if m.DetailType != "Object Created" {
			return nil, nil
		}
		if m.Detail.Bucket.Name == "" || m.Detail.Object.Key == "" {
			return nil, errors.New("EventBridge event without bucket or key")
		}
		return []Object{{Bucket: m.Detail.Bucket.Name, Key: m.Detail.Object.Key}}, nil
	case m.Records != nil:
		var out []Object
		for _, r := range m.Records {
			if r.EventSource != "aws:s3" || !strings.HasPrefix(r.EventName, "ObjectCreated:") {
				continue
			}
			// S3 notifications URL-encode keys, spaces as '+'.
			key, err := url.QueryUnescape(r.S3.Object.Key)
			if err != nil || r.S3.Bucket.Name == "" || key == "" {
				return nil, fmt.Errorf("S3 notification with bad bucket or key %q", r.S3.Object.Key)
			}
			out = append(out, Object{Bucket: r.S3.Bucket.Name, Key: key})
		}
		return out, nil
	}
	return nil, errors.New("not an S3 or CloudTrail notification")
}
