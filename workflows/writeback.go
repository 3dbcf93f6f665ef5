package workflows

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"regexp"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	bolt "go.etcd.io/bbolt"

	"github.com/trailhound/trailhound/detectors"
)

// Prometheus metrics of the write-back, served by `trailhound run` at
// /metrics.
var (
	metricWriteBack = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "trailhound_writeback_findings_total",
		Help: "AWS findings the write-back wrote (written), left for a later try (retry) or gave up on (failed).",
	}, []string{"result"})
	metricWriteBackPending = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "trailhound_writeback_pending",
		Help: "Decisions about AWS findings waiting to be written back, after the last send.",
	})
)

var (
	// bucketWriteBack queues the decisions to write back to AWS, keyed by
	// sequence number, in the transaction of the change they report.
	bucketWriteBack = []byte("workflows.writeback")
	// bucketWriteBackHealth holds the write-back's health record.
	bucketWriteBackHealth = []byte("workflows.writeback-health")
	keyWriteBackHealth    = []byte("health")
)

// Security Hub workflow statuses, as BatchUpdateFindings takes them.
const (
	WorkflowNew        = "NEW"
	WorkflowNotified   = "NOTIFIED"
	WorkflowResolved   = "RESOLVED"
	WorkflowSuppressed = "SUPPRESSED"
)

// Limits of BatchUpdateFindings and ArchiveFindings.
const (
	// MaxWriteBackBatch is how many findings one BatchUpdateFindings call
	// takes.
	MaxWriteBackBatch = 100
	// MaxArchiveBatch is how many findings one GuardDuty ArchiveFindings
	// call takes.
	MaxArchiveBatch = 50
	// MaxNoteText bounds Note.Text and Note.UpdatedBy, in characters.
	MaxNoteText = 512
)

// WriteBackSettings say whether responders' decisions about AWS findings
// are written back to AWS.
type WriteBackSettings struct {
	// Enabled queues a write for every change of an alert that holds AWS
	// findings known to Security Hub (with a ProductArn).
	Enabled bool
	// ArchiveFalsePositives also archives, in GuardDuty, the GuardDuty
	// findings of an alert marked a false positive.
	ArchiveFalsePositives bool
}

// FindingsUpdate is one BatchUpdateFindings call: findings of one account
// and region, all set to the same workflow status and note.
type FindingsUpdate struct {
	Account string
	Region  string
	// Findings are at most MaxWriteBackBatch findings, each with an ID and
	// a ProductArn.
	Findings []detectors.External
	// Status is the workflow status: NEW, NOTIFIED, RESOLVED or SUPPRESSED.
	Status string
	// Note and UpdatedBy are the finding note, each at most MaxNoteText
	// characters.
	Note      string
	UpdatedBy string
}

// FindingsArchive is one GuardDuty ArchiveFindings call: findings of one
// detector, account and region.
type FindingsArchive struct {
	Account    string
	Region     string
	DetectorID string
	// FindingIDs are GuardDuty finding ids, at most MaxArchiveBatch.
	FindingIDs []string
}

// FindingFailure is a finding that a call left unprocessed.
type FindingFailure struct {
	// ID and ProductArn identify the finding.
	ID         string
	ProductArn string
	// Code and Message are the error AWS gave for it.
	Code    string
	Message string
	// Retry says whether trying the finding again may succeed.
	Retry bool
}

// FindingsWriter writes responders' decisions to AWS. The Security Hub
// client in workflows/securityhub implements it.
type FindingsWriter interface {
	// UpdateFindings makes one BatchUpdateFindings call. It returns the
	// findings left unprocessed, or, when the whole call failed, the
	// error and whether a retry may succeed.
	UpdateFindings(ctx context.Context, u FindingsUpdate) (failed []FindingFailure, retry bool, err error)
	// ArchiveFindings makes one GuardDuty ArchiveFindings call.
	ArchiveFindings(ctx context.Context, a FindingsArchive) (retry bool, err error)
}

// writeBackItem is one queued decision about one alert.
type writeBackItem struct {
	Seq     uint64    `json:"seq"`
	AlertID string    `json:"alert_id"`
	Action  string    `json:"action"`
	Time    time.Time `json:"time"`
	// Status, Note and UpdatedBy are what BatchUpdateFindings writes.
	Status    string `json:"status"`
	Note      string `json:"note"`
	UpdatedBy string `json:"updated_by"`
	// Update are the findings still to update, Archive the GuardDuty
	// findings still to archive.
	Update  []detectors.External `json:"update,omitempty"`
	Archive []detectors.External `json:"archive,omitempty"`
	// Written counts the findings written so far.
	Written   int       `json:"written,omitempty"`
	Attempts  int       `json:"attempts,omitempty"`
	NextTry   time.Time `json:"next_try,omitempty"`
	LastError string    `json:"last_error,omitempty"`
}

// actionPosted is the write-back action of a card posted.
const actionPosted = "posted"

// writeBackStatus returns the Security Hub workflow status an action
// leads to, and false for actions that are not written back.
func writeBackStatus(action string) (string, bool) {
	switch Action(action) {
	case ActionAcknowledge:
		return WorkflowNotified, true
	case ActionResolve:
		return WorkflowResolved, true
	case ActionFalsePositive, ActionSuppress:
		return WorkflowSuppressed, true
	case ActionReopen:
		return WorkflowNew, true
	}
	if action == actionPosted {
		return WorkflowNotified, true
	}
	return "", false
}

// writeBackNote says in a sentence what a responder did, for the finding
// note in Security Hub.
func writeBackNote(a *Alert, action, actor, note string) string {
	var s string
	switch Action(action) {
	case ActionAcknowledge:
		s = a.ID + " acknowledged by " + actor + " in Trailhound"
	case ActionResolve:
		s = a.ID + " resolved by " + actor + " in Trailhound"
	case ActionFalsePositive:
		s = a.ID + " marked a false positive by " + actor + " in Trailhound"
	case ActionSuppress:
		s = a.ID + " suppressed by " + actor + " in Trailhound"
	case ActionReopen:
		s = a.ID + " reopened by " + actor + " in Trailhound"
	default:
		s = note
		note = ""
	}
	if note = strings.TrimSpace(note); note != "" {
		s += ": " + note
	}
	return s
}

// externalFindings lists the AWS findings of an alert, each once: its own
// finding's first, then those folded into it. A GuardDuty finding that came
// straight from GuardDuty is named as Security Hub names it (see
// securityHubName), so it can be written there too.
func externalFindings(a *Alert) []detectors.External {
	var out []detectors.External
	seen := map[string]bool{}
	add := func(e detectors.External) {
		e = securityHubName(e)
		k := e.Product + "\x00" + e.ProductArn + "\x00" + e.ID
		if e.ID == "" || seen[k] {
			return
		}
		seen[k] = true
		out = append(out, e)
	}
	if a.Finding.External != nil {
		add(*a.Finding.External)
	}
	for _, e := range a.External {
		add(e)
	}
	return out
}

// securityHubName returns a GuardDuty finding read from GuardDuty's own
// event (its short id and detector, no ProductArn) with the identifier
// Security Hub gives the same finding: Id the finding's ARN, ProductArn
// GuardDuty's product in the finding's region. Other findings are returned
// as they are.
func securityHubName(e detectors.External) detectors.External {
	if e.ProductArn != "" || e.Product != "guardduty" || e.DetectorID == "" || e.Account == "" || e.Region == "" || strings.Contains(e.ID, ":") || e.ID == "" {
		return e
	}
	partition := "aws"
	switch {
	case strings.HasPrefix(e.Region, "cn-"):
		partition = "aws-cn"
	case strings.HasPrefix(e.Region, "us-gov-"):
		partition = "aws-us-gov"
	}
	e.ID = "arn:" + partition + ":guardduty:" + e.Region + ":" + e.Account + ":detector/" + e.DetectorID + "/finding/" + e.ID
	e.ProductArn = "arn:" + partition + ":securityhub:" + e.Region + "::product/aws/guardduty"
	return e
}

// guardDutyARN matches a GuardDuty finding ARN, as Security Hub names
// GuardDuty findings.
var guardDutyARN = regexp.MustCompile(`^arn:aws[a-z-]*:guardduty:[a-z0-9-]+:[0-9]{12}:detector/([^/]+)/finding/([^/]+)$`)

// guardDutyIDs returns the GuardDuty detector and finding ids of a
// finding, from its fields or its ARN, and false for other findings.
func guardDutyIDs(e detectors.External) (detector, finding string, ok bool) {
	if m := guardDutyARN.FindStringSubmatch(e.ID); m != nil {
		return cmpOr(e.DetectorID, m[1]), m[2], true
	}
	if e.Product == "guardduty" && e.DetectorID != "" && !strings.Contains(e.ID, ":") {
		return e.DetectorID, e.ID, true
	}
	return "", "", false
}

// enqueueWriteBack queues, in the caller's transaction, the write of an
// alert's change to its AWS findings, when the write-back is on and the
// action is one it writes. note is the responder's note or reason.
func (s *Store) enqueueWriteBack(tx *bolt.Tx, a *Alert, action, actor, note string, now time.Time) error {
	if !s.WriteBack.Enabled {
		return nil
	}
	status, ok := writeBackStatus(action)
	if !ok {
		return nil
	}
	it := writeBackItem{AlertID: a.ID, Action: action, Time: now, Status: status,
		Note:      boundNote(writeBackNote(a, action, actor, note)),
		UpdatedBy: boundNote("Trailhound (" + actor + ")")}
	for _, e := range externalFindings(a) {
		if e.ProductArn != "" {
			it.Update = append(it.Update, e)
		}
		if _, _, gd := guardDutyIDs(e); gd && action == string(ActionFalsePositive) && s.WriteBack.ArchiveFalsePositives {
			it.Archive = append(it.Archive, e)
		}
	}
	if len(it.Update) == 0 && len(it.Archive) == 0 {
		return nil
	}
	return putWriteBackItem(tx, it)
}

// writeBackJoined queues, in the caller's transaction, the write of an
// alert's state to an AWS finding that joined it after its card was posted
// (or after it was suppressed), so the finding does not stay NEW in
// Security Hub while the alert is handled. Findings that join an alert not
// posted yet are written with it when its card is posted.
func (s *Store) writeBackJoined(tx *bolt.Tx, a *Alert, x detectors.External, now time.Time) error {
	if !s.WriteBack.Enabled {
		return nil
	}
	var status string
	switch {
	case a.State == StateSuppressed:
		status = WorkflowSuppressed
	case a.State == StateResolved:
		status = WorkflowResolved
	case len(a.Messages) > 0:
		status = WorkflowNotified
	default:
		return nil
	}
	x = securityHubName(x)
	if x.ProductArn == "" {
		return nil
	}
	it := writeBackItem{AlertID: a.ID, Action: "joined", Time: now, Status: status,
		Note:      boundNote("joined " + a.ID + ", which is " + string(a.State) + " in Trailhound"),
		UpdatedBy: boundNote("Trailhound (" + SystemActor + ")"), Update: []detectors.External{x}}
	return putWriteBackItem(tx, it)
}

// putWriteBackItem queues an item under the next sequence number.
func putWriteBackItem(tx *bolt.Tx, it writeBackItem) error {
	b, err := tx.CreateBucketIfNotExists(bucketWriteBack)
	if err != nil {
		return err
	}
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	it.Seq = seq
	v, err := json.Marshal(it)
	if err != nil {
		return err
	}
	return b.Put(u64(seq), v)
}

// secretRe matches what looks like a credential: chat tokens, AWS access
// key ids, and long runs of key-like characters after a word that names a
// secret.
var secretRe = regexp.MustCompile(`(?i)\bxox[abposr]-[\w-]+|\b(AKIA|ASIA)[0-9A-Z]{16}\b|\b(secret|token|password|passwd|api[_-]?key)(\s*[:=]\s*|\s+)\S+`)

// boundNote makes a note fit Security Hub: credentials masked, control
// characters turned into spaces, and at most MaxNoteText characters, cut
// with an ellipsis.
func boundNote(s string) string {
	s = secretRe.ReplaceAllString(s, "[redacted]")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) <= MaxNoteText {
		return s
	}
	r := []rune(s)
	return string(r[:MaxNoteText-1]) + "…"
}

// WriteBackHealth says how the write-back to AWS fares, for `trailhound
// sources` and monitoring.
type WriteBackHealth struct {
	// Pending is how many decisions wait to be written.
	Pending int `json:"pending"`
	// LastAttempt and LastSuccess are when a call was last made and last
	// succeeded.
	LastAttempt time.Time `json:"last_attempt,omitempty"`
	LastSuccess time.Time `json:"last_success,omitempty"`
	// Written counts the findings written.
	Written int64 `json:"written"`
	// LastError is the last failed call's error, empty after a success;
	// Permanent says retrying will not fix it (access denied).
	LastError string `json:"last_error,omitempty"`
	Permanent bool   `json:"permanent,omitempty"`
	// Failed counts the findings given up on; LastFailure says why the
	// last one was, at LastFailureAt.
	Failed        int64     `json:"failed"`
	LastFailure   string    `json:"last_failure,omitempty"`
	LastFailureAt time.Time `json:"last_failure_at,omitempty"`
}

// Problem returns a sentence when the write-back needs a person: its last
// call failed for good, or findings were given up on since the last
// success.
func (h WriteBackHealth) Problem() (string, bool) {
	switch {
	case h.LastError != "" && h.Permanent:
		return fmt.Sprintf("write-back to AWS fails and retrying will not help: %s (%d decisions waiting)", h.LastError, h.Pending), true
	case h.Failed > 0 && h.LastFailureAt.After(h.LastSuccess):
		return fmt.Sprintf("write-back to AWS gave up on %d findings, the last: %s", h.Failed, h.LastFailure), true
	}
	return "", false
}

// WriteBackHealth returns the write-back's health record.
func (s *Store) WriteBackHealth() (WriteBackHealth, error) {
	var h WriteBackHealth
	err := s.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketWriteBack); b != nil {
			h.Pending = b.Stats().KeyN
		}
		return getWriteBackHealth(tx, &h)
	})
	return h, err
}

func getWriteBackHealth(tx *bolt.Tx, h *WriteBackHealth) error {
	b := tx.Bucket(bucketWriteBackHealth)
	if b == nil {
		return nil
	}
	v := b.Get(keyWriteBackHealth)
	if v == nil {
		return nil
	}
	pending := h.Pending
	if err := json.Unmarshal(v, h); err != nil {
		return fmt.Errorf("workflows: write-back health is corrupt: %w", err)
	}
	h.Pending = pending
	return nil
}

// WriteBackSender writes the queued decisions to AWS: batches of up to
// BatchSize findings per call, by account and region, retrying throttled,
// failed and unprocessed findings with backoff from the persisted queue.
// A decision is removed from the queue only once every finding was
// written or given up on, so a crash repeats a write (with the same
// status and note, which AWS takes as the same state) but never loses
// one. Decisions about one alert are written in order.
type WriteBackSender struct {
	Store  *Store
	Writer FindingsWriter
	// BatchSize caps the findings per BatchUpdateFindings call;
	// MaxWriteBackBatch when zero or larger.
	BatchSize int
	Log       *slog.Logger
	// Fence, when set, is called before the queue is read and before each
	// decision is written; an error stops the pass at once, with nothing
	// written. High availability sets it, as on the Dispatcher, so a
	// replica that lost its lease writes nothing to AWS.
	Fence func() error
}

// fence returns the Fence's error, nil without a Fence.
func (w *WriteBackSender) fence() error {
	if w.Fence == nil {
		return nil
	}
	return w.Fence()
}

// Send tries every due queued decision once and returns how many findings
// were written.
func (w *WriteBackSender) Send(ctx context.Context) (int, error) {
	s := w.Store
	log := w.Log
	if log == nil {
		log = slog.Default()
	}
	if err := w.fence(); err != nil {
		return 0, err
	}
	var items []writeBackItem
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketWriteBack)
		if b == nil {
			return nil
		}
		return b.ForEach(func(_, v []byte) error {
			var it writeBackItem
			if err := json.Unmarshal(v, &it); err != nil {
				return fmt.Errorf("workflows: write-back item is corrupt: %w", err)
			}
			items = append(items, it)
			return nil
		})
	})
	if err != nil || len(items) == 0 {
		return 0, err
	}
	defer func() {
		if h, err := s.WriteBackHealth(); err == nil {
			metricWriteBackPending.Set(float64(h.Pending))
		}
	}()
	written := 0
	blocked := map[string]bool{} // alerts with an earlier decision still queued
	for _, it := range items {
		if ctx.Err() != nil {
			return written, ctx.Err()
		}
		now := s.now()
		if blocked[it.AlertID] || it.NextTry.After(now) {
			blocked[it.AlertID] = true
			continue
		}
		if err := w.fence(); err != nil {
			return written, err
		}
		n, res := w.write(ctx, &it)
		res.canceled = ctx.Err() != nil
		written += n
		if err := w.settle(it, n, res, log); err != nil {
			return written, err
		}
		if len(it.Update)+len(it.Archive) > 0 {
			blocked[it.AlertID] = true
		}
	}
	return written, nil
}

// writeResult is what one pass over an item did.
type writeResult struct {
	attempted bool
	// callErr is the last whole-call error, permanent tells whether it was.
	callErr   error
	permanent bool
	// gaveUp lists the findings given up on, with why.
	gaveUp []string
	// canceled is set when the pass was cut short by shutdown: what is
	// left is tried again at the next start, without counting an attempt.
	canceled bool
}

// write makes the calls of one item, leaving in it the findings still to
// write, and returns how many were written.
func (w *WriteBackSender) write(ctx context.Context, it *writeBackItem) (int, writeResult) {
	var res writeResult
	size := w.BatchSize
	if size <= 0 || size > MaxWriteBackBatch {
		size = MaxWriteBackBatch
	}
	written := 0
	var keep []detectors.External
	for _, batch := range batches(it.Update, size, func(e detectors.External) string { return e.Account + "\x00" + e.Region }) {
		res.attempted = true
		u := FindingsUpdate{Account: batch[0].Account, Region: batch[0].Region, Findings: batch, Status: it.Status, Note: it.Note, UpdatedBy: it.UpdatedBy}
		failed, retry, err := w.Writer.UpdateFindings(ctx, u)
		if err != nil {
			res.callErr, res.permanent = err, !retry
			if retry {
				keep = append(keep, batch...)
				continue
			}
			for _, e := range batch {
				res.gaveUp = append(res.gaveUp, e.ID+": "+err.Error())
			}
			continue
		}
		bad := map[string]FindingFailure{}
		for _, f := range failed {
			bad[f.ProductArn+"\x00"+f.ID] = f
		}
		for _, e := range batch {
			f, unprocessed := bad[e.ProductArn+"\x00"+e.ID]
			switch {
			case !unprocessed:
				written++
			case f.Retry:
				keep = append(keep, e)
				res.callErr = fmt.Errorf("%s: %s", f.Code, f.Message)
			default:
				res.gaveUp = append(res.gaveUp, e.ID+": "+strings.TrimSuffix(f.Code+": "+f.Message, ": "))
			}
		}
	}
	it.Update = keep
	keep = nil
	for _, batch := range batches(it.Archive, MaxArchiveBatch, func(e detectors.External) string {
		d, _, _ := guardDutyIDs(e)
		return e.Account + "\x00" + e.Region + "\x00" + d
	}) {
		res.attempted = true
		d, _, _ := guardDutyIDs(batch[0])
		arc := FindingsArchive{Account: batch[0].Account, Region: batch[0].Region, DetectorID: d}
		for _, e := range batch {
			_, id, _ := guardDutyIDs(e)
			arc.FindingIDs = append(arc.FindingIDs, id)
		}
		retry, err := w.Writer.ArchiveFindings(ctx, arc)
		switch {
		case err == nil:
			written += len(batch)
		case retry:
			res.callErr, res.permanent = err, false
			keep = append(keep, batch...)
		default:
			res.callErr, res.permanent = err, true
			for _, e := range batch {
				res.gaveUp = append(res.gaveUp, "archive "+e.ID+": "+err.Error())
			}
		}
	}
	it.Archive = keep
	it.Written += written
	return written, res
}

// batches splits findings into groups of one key (account and region),
// each cut into chunks of at most size, in a stable order.
func batches(fs []detectors.External, size int, key func(detectors.External) string) [][]detectors.External {
	groups := map[string][]detectors.External{}
	var keys []string
	for _, e := range fs {
		k := key(e)
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], e)
	}
	sort.Strings(keys)
	var out [][]detectors.External
	for _, k := range keys {
		g := groups[k]
		for len(g) > 0 {
			n := min(size, len(g))
			out = append(out, g[:n:n])
			g = g[n:]
		}
	}
	return out
}

// settle stores what a pass over an item did: the item removed when done
// or given up, else kept with a backoff; audit entries for what was
// written and what was given up on; and the health record.
func (w *WriteBackSender) settle(it writeBackItem, n int, res writeResult, log *slog.Logger) error {
	s := w.Store
	now := s.now()
	left := len(it.Update) + len(it.Archive)
	if left > 0 && res.canceled {
		res.callErr = nil
	} else if left > 0 {
		it.Attempts++
		if res.callErr != nil {
			it.LastError = res.callErr.Error()
		}
		if it.Attempts >= MaxAttempts {
			for _, e := range it.Update {
				res.gaveUp = append(res.gaveUp, fmt.Sprintf("%s: gave up after %d attempts: %s", e.ID, it.Attempts, it.LastError))
			}
			for _, e := range it.Archive {
				res.gaveUp = append(res.gaveUp, fmt.Sprintf("archive %s: gave up after %d attempts: %s", e.ID, it.Attempts, it.LastError))
			}
			it.Update, it.Archive, left = nil, nil, 0
		} else {
			it.NextTry = now.Add(retryDelay(it.Attempts))
			log.Warn("write-back to AWS will be retried", "alert", it.AlertID, "status", it.Status, "findings", left, "attempt", it.Attempts, "err", it.LastError)
		}
	}
	metricWriteBack.WithLabelValues("written").Add(float64(n))
	metricWriteBack.WithLabelValues("retry").Add(float64(left))
	metricWriteBack.WithLabelValues("failed").Add(float64(len(res.gaveUp)))
	for _, g := range res.gaveUp {
		log.Error("write-back to AWS gave up", "alert", it.AlertID, "status", it.Status, "err", g)
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketWriteBack)
		if b == nil || b.Get(u64(it.Seq)) == nil {
			return nil
		}
		if left > 0 {
			v, err := json.Marshal(it)
			if err != nil {
				return err
			}
			if err := b.Put(u64(it.Seq), v); err != nil {
				return err
			}
		} else if err := b.Delete(u64(it.Seq)); err != nil {
			return err
		}
		if left == 0 && it.Written > 0 {
			if err := appendAudit(tx, AuditEntry{Time: now, Actor: SystemActor, AlertID: it.AlertID, Action: "aws_written",
				To: it.Status, Note: fmt.Sprintf("%s for %d AWS findings (%s)", it.Status, it.Written, it.Action)}); err != nil {
				return err
			}
		}
		if len(res.gaveUp) > 0 {
			note := fmt.Sprintf("%s (%s) not written for %d AWS findings: %s", it.Status, it.Action, len(res.gaveUp), strings.Join(res.gaveUp, "; "))
			if err := appendAudit(tx, AuditEntry{Time: now, Actor: SystemActor, AlertID: it.AlertID, Action: "aws_write_failed", To: it.Status, Note: boundAudit(note)}); err != nil {
				return err
			}
		}
		if !res.attempted && len(res.gaveUp) == 0 {
			return nil
		}
		hb, err := tx.CreateBucketIfNotExists(bucketWriteBackHealth)
		if err != nil {
			return err
		}
		var h WriteBackHealth
		if err := getWriteBackHealth(tx, &h); err != nil {
			return err
		}
		h.LastAttempt = now
		h.Written += int64(n)
		if res.canceled {
			// Cut short: neither a success nor a failure.
		} else if res.callErr == nil {
			h.LastSuccess, h.LastError, h.Permanent = now, "", false
		} else {
			h.LastError, h.Permanent = res.callErr.Error(), res.permanent
		}
		if len(res.gaveUp) > 0 {
			h.Failed += int64(len(res.gaveUp))
			h.LastFailure, h.LastFailureAt = res.gaveUp[len(res.gaveUp)-1], now
		}
		h.Pending = 0
		v, err := json.Marshal(h)
		if err != nil {
			return err
		}
		return hb.Put(keyWriteBackHealth, v)
	})
}

// boundAudit keeps an audit note readable when many findings failed.
func boundAudit(s string) string {
	const max = 2000
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
