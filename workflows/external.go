package workflows

import (
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/trailhound/trailhound/detectors"
)

// This file holds how findings made by AWS security services
// (detectors.Finding.External) join alerts: an update of a finding
// already stored changes its alert in place, an echo (an update that
// changed nothing the provider owns: Trailhound's own write-back, or any
// customer's change of workflow status or note) changes nothing visible,
// a finding the provider closed opens nothing, and a new finding about a
// principal Trailhound's own rules flagged joins that alert.

// ExternalOutcome says what ingesting an AWS finding did.
type ExternalOutcome string

// Outcomes of ingestExternal.
const (
	// ExternalNew: not handled here; the finding opens or joins an
	// alert the usual way.
	ExternalNew ExternalOutcome = ""
	// ExternalUpdated: a known finding changed; its alert was updated in
	// place and the change noted in its thread.
	ExternalUpdated ExternalOutcome = "updated"
	// ExternalEcho: a known finding came back unchanged.
	ExternalEcho ExternalOutcome = "echo"
	// ExternalStale: an older version of a known finding came late.
	ExternalStale ExternalOutcome = "stale"
	// ExternalClosedUnknown: the provider closed a finding no alert
	// shows; nothing to do.
	ExternalClosedUnknown ExternalOutcome = "closed"
	// ExternalFolded: a new finding joined an open alert about the same
	// principal.
	ExternalFolded ExternalOutcome = "folded"
)

// ingestExternal handles an AWS finding in Ingest's transaction before
// the usual dedup and grouping. It returns ExternalNew when the finding
// must go the usual way: it is new and folds into no alert of ours.
func (s *Store) ingestExternal(tx *bolt.Tx, f *detectors.Finding, now time.Time, window time.Duration, res *IngestResult) (ExternalOutcome, error) {
	x := f.External
	fps := tx.Bucket(bucketFingerprints)
	if id := fps.Get([]byte(f.Fingerprint)); id != nil {
		a, err := getAlert(tx, string(id))
		if err != nil {
			return "", err
		}
		// An alert opened earlier in this batch is not posted yet: its
		// card will show the update, with no note.
		out, err := s.updateExternal(tx, a, f, now, !isNew(res.New, a.ID))
		if out == ExternalStale || out == ExternalEcho {
			res.Duplicates++
		}
		replaceNew(res.New, *a)
		return out, err
	}
	if f.HasTag(detectors.TagClosed) {
		res.Duplicates++
		return ExternalClosedUnknown, nil
	}
	// Similar findings (same rule, account and principal or resource)
	// fold as usual, and the alert lists each of them.
	a, err := groupAlert(tx, f, window)
	if err != nil {
		return "", err
	}
	how := "a similar finding"
	if a == nil && !s.config().KeepAWSApart && !f.HasTag(detectors.TagDigestOnly) {
		how = "about the same principal"
		if a, err = principalAlert(tx, f, window); err != nil {
			return "", err
		}
	}
	if a == nil {
		return ExternalNew, nil
	}
	a.Count++
	res.Folded++
	fold(a, f)
	addExternal(a, *x)
	if err := s.writeBackJoined(tx, a, *x, now); err != nil {
		return "", err
	}
	from := a.Severity
	if f.Severity > a.Severity {
		if err := s.raiseSeverity(tx, a, f.Severity, now); err != nil {
			return "", err
		}
	}
	a.UpdatedAt = now
	if err := putAlert(tx, a); err != nil {
		return "", err
	}
	if err := fps.Put([]byte(f.Fingerprint), []byte(a.ID)); err != nil {
		return "", err
	}
	if err := recordFindingTime(tx, now, f, a.ID); err != nil {
		return "", err
	}
	note := fmt.Sprintf("%s finding %s (%s) joined this alert: %s", productName(x.Product), x.Type, how, f.Title)
	if a.Severity != from {
		note += fmt.Sprintf(" (severity %s → %s)", from, a.Severity)
	}
	// "grouped" with the count keeps the digest's finding count exact.
	if err := appendAudit(tx, AuditEntry{Time: now, Actor: SystemActor, AlertID: a.ID, Action: "grouped", Note: fmt.Sprintf("count %d", a.Count)}); err != nil {
		return "", err
	}
	if err := appendAudit(tx, AuditEntry{Time: now, Actor: SystemActor, AlertID: a.ID, Action: "aws-finding", Note: note}); err != nil {
		return "", err
	}
	if isNew(res.New, a.ID) {
		replaceNew(res.New, *a)
		return ExternalFolded, nil
	}
	return ExternalFolded, s.noteExternal(tx, a, note, now)
}

// updateExternal applies a later version of a finding an alert holds.
func (s *Store) updateExternal(tx *bolt.Tx, a *Alert, f *detectors.Finding, now time.Time, posted bool) (ExternalOutcome, error) {
	x := *f.External
	i := externalIndex(a, x)
	var prev detectors.External
	if i >= 0 {
		prev = a.External[i]
	}
	if i >= 0 && x.UpdatedAt.Before(prev.UpdatedAt) {
		return ExternalStale, nil
	}
	own := a.Finding.External != nil && externalKey(*a.Finding.External) == externalKey(x)
	if i >= 0 && (x.ContentHash == prev.ContentHash || x.UpdatedAt.Equal(prev.UpdatedAt)) {
		// An echo (or the same update by another route, GuardDuty's own
		// event and Security Hub's): keep what it says (workflow
		// status, update time), tell nobody.
		addExternal(a, x)
		if own {
			a.Finding.External = &a.External[externalIndex(a, x)]
		}
		return ExternalEcho, putAlert(tx, a)
	}
	var changes []string
	if own {
		if f.Severity != a.Finding.Severity {
			changes = append(changes, fmt.Sprintf("severity %s → %s", a.Finding.Severity, f.Severity))
		}
		if f.EventCount != a.Finding.EventCount {
			changes = append(changes, fmt.Sprintf("occurrences %d → %d", a.Finding.EventCount, f.EventCount))
		}
		if f.Title != a.Finding.Title {
			changes = append(changes, "title now "+f.Title)
		}
		a.Finding.Severity, a.Finding.EventCount, a.Finding.Title = f.Severity, f.EventCount, f.Title
		a.Finding.Reason, a.Finding.Description, a.Finding.Recommendation = f.Reason, f.Description, f.Recommendation
		a.Finding.Evidence = f.Evidence
	} else if i >= 0 && prev.Type != x.Type {
		changes = append(changes, "type now "+x.Type)
	}
	if f.HasTag(detectors.TagClosed) {
		changes = append(changes, productName(x.Product)+" closed the finding")
	} else if i >= 0 && x.Workflow == "NEW" && prev.Workflow != "" && prev.Workflow != "NEW" {
		changes = append(changes, fmt.Sprintf("%s set its workflow status back to NEW (was %s)", productName(x.Product), prev.Workflow))
	}
	if len(changes) == 0 {
		changes = append(changes, "details changed")
	}
	addExternal(a, x)
	if own {
		a.Finding.External = &a.External[externalIndex(a, x)]
	}
	if f.Time.After(a.LastSeen) {
		a.LastSeen = f.Time
	}
	from := a.Severity
	if f.Severity > a.Severity && !f.HasTag(detectors.TagClosed) {
		if err := s.raiseSeverity(tx, a, f.Severity, now); err != nil {
			return "", err
		}
	}
	a.UpdatedAt = now
	if err := putAlert(tx, a); err != nil {
		return "", err
	}
	note := fmt.Sprintf("%s updated finding %s: %s.", productName(x.Product), x.Type, strings.Join(changes, "; "))
	if a.State == StateResolved {
		// A resolved alert is not reopened by the provider's update: the
		// responder decided. The note says so in its thread.
		note += " The alert stays resolved; reopen it if this needs another look."
	}
	if a.Severity != from {
		note += fmt.Sprintf(" Alert severity %s → %s.", from, a.Severity)
	}
	if err := appendAudit(tx, AuditEntry{Time: now, Actor: SystemActor, AlertID: a.ID, Action: "aws-update", Note: note}); err != nil {
		return "", err
	}
	if !posted {
		return ExternalUpdated, nil
	}
	return ExternalUpdated, s.noteExternal(tx, a, note, now)
}

// noteExternal queues a thread note and a redraw of the alert's cards,
// unless the alert is muted or kept for the digest only.
func (s *Store) noteExternal(tx *bolt.Tx, a *Alert, note string, now time.Time) error {
	if a.State == StateSuppressed || a.DigestOnly {
		return nil
	}
	if err := enqueueItem(tx, outboxItem{AlertID: a.ID, Kind: NotifyRepeat, CreatedAt: now, Text: note}); err != nil {
		return err
	}
	return enqueue(tx, now, a.ID, NotifyUpdate)
}

// raiseSeverity raises an alert's severity, posting it to the routes the
// new severity adds, as grouping does.
func (s *Store) raiseSeverity(tx *bolt.Tx, a *Alert, sev detectors.Severity, now time.Time) error {
	a.Severity = sev
	g := a.Finding
	g.Severity = sev
	r := s.config().Route(&g)
	var extra []Target
	switch {
	case r.DigestOnly:
	case a.DigestOnly:
		a.DigestOnly, a.Targets, extra = false, r.Targets, r.Targets
	default:
		extra = newTargets(a.Targets, r.Targets)
		a.Targets = append(a.Targets, extra...)
	}
	if a.EscalationPolicy == "" {
		a.EscalationPolicy = r.Policy
	}
	if len(extra) == 0 || a.State == StateSuppressed {
		return nil
	}
	return enqueueItem(tx, outboxItem{AlertID: a.ID, Kind: NotifyNew, CreatedAt: now, Targets: extra})
}

// groupAlert returns the alert the finding's group key names, if it still
// absorbs similar findings: not resolved, last seen within window.
func groupAlert(tx *bolt.Tx, f *detectors.Finding, window time.Duration) (*Alert, error) {
	id := tx.Bucket(bucketGroups).Get([]byte(f.GroupKey))
	if id == nil {
		return nil, nil
	}
	a, err := getAlert(tx, string(id))
	if err != nil || a.State == StateResolved || absDuration(f.Time.Sub(a.LastSeen)) > window {
		return nil, err
	}
	return a, nil
}

// principalAlert returns the latest alert of Trailhound's own findings
// about the finding's principal (same ARN or access key) in its account,
// if it is open, posted and last seen within window of it; nil otherwise.
// It reads the principal index, so its cost does not grow with the
// number of alerts.
func principalAlert(tx *bolt.Tx, f *detectors.Finding, window time.Duration) (*Alert, error) {
	b := tx.Bucket(bucketPrincipals)
	if b == nil {
		return nil, nil
	}
	var best *Alert
	for _, k := range principalKeys(f) {
		id := b.Get(k)
		if id == nil || best != nil && best.ID == string(id) {
			continue
		}
		a, err := getAlert(tx, string(id))
		if err != nil {
			return nil, err
		}
		if !a.State.Open() || a.DigestOnly || absDuration(f.Time.Sub(a.LastSeen)) > window {
			continue
		}
		if best == nil || a.LastSeen.After(best.LastSeen) {
			best = a
		}
	}
	return best, nil
}

// prepareExternal fills a new alert's AWS findings, and keeps a finding
// under its source's severity floor for the digest only. A new alert of
// Trailhound's own findings is indexed by its principal instead, for
// AWS findings to fold into.
func prepareExternal(tx *bolt.Tx, a *Alert, f *detectors.Finding) error {
	if f.External != nil {
		addExternal(a, *f.External)
		if f.HasTag(detectors.TagDigestOnly) {
			a.DigestOnly, a.Targets, a.EscalationPolicy = true, nil, ""
		}
		return nil
	}
	keys := principalKeys(f)
	if len(keys) == 0 {
		return nil
	}
	b, err := tx.CreateBucketIfNotExists(bucketPrincipals)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := b.Put(k, []byte(a.ID)); err != nil {
			return err
		}
	}
	return nil
}

// bucketPrincipals maps an account and a principal (ARN or access key)
// to the latest alert of Trailhound's own findings about it.
var bucketPrincipals = []byte("workflows.principal-alerts")

// principalKeys are the index keys of a finding's principal.
func principalKeys(f *detectors.Finding) [][]byte {
	var out [][]byte
	if p := f.Principal.ARN; p != "" {
		out = append(out, []byte(f.Account+"\x00arn\x00"+p))
	}
	if k := f.Principal.AccessKeyID; k != "" {
		out = append(out, []byte(f.Account+"\x00key\x00"+k))
	}
	return out
}

// addExternal records a finding in Alert.External, replacing an earlier
// version of it; when full, the least recently updated entry gives way.
func addExternal(a *Alert, x detectors.External) {
	if i := externalIndex(a, x); i >= 0 {
		// What one route knows and the other does not is kept: the
		// ProductArn of Security Hub with its Id (the finding's ARN),
		// which BatchUpdateFindings needs, and GuardDuty's detector.
		if prev := a.External[i]; x.ProductArn == "" && prev.ProductArn != "" {
			x.ProductArn, x.ID = prev.ProductArn, prev.ID
		}
		x.DetectorID = cmpOr(x.DetectorID, a.External[i].DetectorID)
		a.External[i] = x
		return
	}
	if len(a.External) >= MaxExternal {
		oldest := 0
		for i, e := range a.External {
			if e.UpdatedAt.Before(a.External[oldest].UpdatedAt) {
				oldest = i
			}
		}
		a.External = append(a.External[:oldest], a.External[oldest+1:]...)
	}
	a.External = append(a.External, x)
}

func externalIndex(a *Alert, x detectors.External) int {
	k := externalKey(x)
	for i, e := range a.External {
		if externalKey(e) == k {
			return i
		}
	}
	return -1
}

// externalKey identifies a finding whatever route it came by: a GuardDuty
// finding's ASFF Id is its ARN, which ends with its GuardDuty id.
func externalKey(x detectors.External) string {
	id := x.ID
	if x.Product == "guardduty" {
		if _, fid, ok := strings.Cut(id, "/finding/"); ok {
			id = fid
		}
	}
	return x.Product + ":" + id
}

func productName(p string) string {
	switch p {
	case "guardduty":
		return "GuardDuty"
	case "securityhub":
		return "Security Hub"
	case "inspector":
		return "Inspector"
	case "macie":
		return "Macie"
	case "access-analyzer":
		return "IAM Access Analyzer"
	}
	return p
}
