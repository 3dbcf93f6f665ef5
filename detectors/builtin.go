package detectors

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/trailhound/trailhound/sources"
)

// RootUse finds any API call or sign-in by the account's root user
// (CIS AWS Foundations 1.7 / 4.3).
//
// Deprecated: the binary runs the YAML rule aws-root-account-use of
// detectors/rules instead. RootUse stays only for tests of other packages
// that need a detector without loading the rule pack.
type RootUse struct{}

// ID implements Detector.
func (RootUse) ID() string { return "aws-root-account-use" }

// Detect implements Detector.
func (d RootUse) Detect(_ context.Context, ev *sources.Event) ([]Finding, error) {
	if ev.Principal.Type != "Root" || ev.EventType == "AwsServiceEvent" {
		return nil, nil
	}
	f := FromEvent(d.ID(), ev)
	f.Title = "Root user activity"
	f.Severity = High
	f.Technique = "T1078.004"
	f.Description = "The account's root user was used. Root has unrestricted access and should be used only for the few tasks that require it."
	f.Recommendation = "Confirm with the account owner that this was planned. Use IAM roles for daily work, keep root credentials in a vault with hardware MFA, and delete any root access keys."
	f.Reason = fmt.Sprintf("root user called %s from %s", ev.Action, orUnknown(ev.SourceIP))
	return []Finding{f}, nil
}

// ConsoleNoMFA finds successful console sign-ins made without MFA
// (CIS AWS Foundations 4.2).
//
// Deprecated: the binary runs the YAML rule aws-console-login-without-mfa
// of detectors/rules instead; kept for tests of other packages.
type ConsoleNoMFA struct{}

// ID implements Detector.
func (ConsoleNoMFA) ID() string { return "aws-console-login-without-mfa" }

// Detect implements Detector.
func (d ConsoleNoMFA) Detect(_ context.Context, ev *sources.Event) ([]Finding, error) {
	if ev.Action != "ConsoleLogin" || ev.Failed() || ev.MFA == nil || *ev.MFA {
		return nil, nil
	}
	// Sign-ins through an identity provider (assumed roles, SSO) carry the
	// IdP's MFA, which CloudTrail does not see.
	if ev.Principal.Type != "IAMUser" && ev.Principal.Type != "Root" {
		return nil, nil
	}
	f := FromEvent(d.ID(), ev)
	f.Title = "Console sign-in without MFA"
	f.Severity = Medium
	if ev.Principal.Type == "Root" {
		f.Severity = High
	}
	f.Technique = "T1078.004"
	f.Description = "An IAM user signed in to the AWS console with a password alone. A stolen password is then enough to take over the account."
	f.Recommendation = "Require MFA for console users (an IAM policy denying actions when aws:MultiFactorAuthPresent is false) and enrol a device for this user; confirm the sign-in was theirs."
	f.Reason = fmt.Sprintf("%s signed in without MFA from %s", ev.Principal.Name, orUnknown(ev.SourceIP))
	return []Finding{f}, nil
}

// FailedSignins finds bursts of failed console sign-ins from one source IP
// (CIS AWS Foundations 4.6): Threshold failures within Window.
//
// Deprecated: the binary runs the YAML threshold rule
// aws-console-login-failures of detectors/rules instead, whose windows live
// in the detectors.rules.threshold bucket; kept for tests of other
// packages.
type FailedSignins struct {
	Threshold int
	Window    time.Duration

	// windows holds recent failure times per source IP.
	windows map[string][]signinFailure
	latest  time.Time
	dirty   bool
}

type signinFailure struct {
	Time    time.Time `json:"t"`
	EventID string    `json:"id"`
}

var bucketFailedSignins = []byte("detectors.failed-signins")

// NewFailedSignins returns the detector with its state loaded from db.
// Zero threshold and window take the defaults, 5 within 10 minutes.
func NewFailedSignins(db *bolt.DB, threshold int, window time.Duration) (*FailedSignins, error) {
	if threshold <= 0 {
		threshold = 5
	}
	if window <= 0 {
		window = 10 * time.Minute
	}
	d := &FailedSignins{Threshold: threshold, Window: window, windows: map[string][]signinFailure{}}
	if db == nil {
		return d, nil
	}
	err := db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketFailedSignins)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var fs []signinFailure
			if err := json.Unmarshal(v, &fs); err != nil {
				return fmt.Errorf("state for %q is corrupt: %w", k, err)
			}
			d.windows[string(k)] = fs
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("detectors: load failed sign-in state: %w", err)
	}
	return d, nil
}

// ID implements Detector.
func (*FailedSignins) ID() string { return "aws-console-login-failures" }

// Detect implements Detector.
func (d *FailedSignins) Detect(_ context.Context, ev *sources.Event) ([]Finding, error) {
	if ev.Action != "ConsoleLogin" || !ev.Failed() {
		return nil, nil
	}
	key := ev.Account + "|" + orUnknown(ev.SourceIP)
	w := d.windows[key]
	for _, f := range w {
		if f.EventID == ev.ID {
			return nil, nil // read again after an overlap or restart
		}
	}
	w = append(w, signinFailure{Time: ev.Time, EventID: ev.ID})
	sort.Slice(w, func(i, j int) bool { return w[i].Time.Before(w[j].Time) })
	cut := 0
	for cut < len(w) && ev.Time.Sub(w[cut].Time) > d.Window {
		cut++
	}
	w = w[cut:]
	d.windows[key] = w
	d.dirty = true
	if ev.Time.After(d.latest) {
		d.latest = ev.Time
	}
	// Each failure at or past the threshold is a finding; they share the
	// GroupKey, so the workflow folds the burst into one alert.
	if len(w) < d.Threshold {
		return nil, nil
	}
	f := FromEvent(d.ID(), ev)
	f.Title = "Repeated failed console sign-ins"
	f.Severity = Medium
	f.Technique = "T1110"
	f.Description = "Many console sign-ins failed from one address in a short time: a sign of password guessing or credential stuffing."
	f.Recommendation = "Check whether the targeted users have MFA, block the source address if it is not yours, and reset passwords of users that then signed in successfully from it."
	f.Reason = fmt.Sprintf("%d failed sign-ins from %s within %s (threshold %d)", len(w), orUnknown(ev.SourceIP), d.Window, d.Threshold)
	f.EventCount = len(w)
	f.EventIDs = f.EventIDs[:0]
	for _, x := range w {
		f.EventIDs = append(f.EventIDs, x.EventID)
	}
	// One finding per burst: the burst starts at the first failure in the
	// window, so re-reading the same events yields the same fingerprint.
	f.Fingerprint = Fingerprint(d.ID(), key, w[0].EventID, fmt.Sprint(len(w)))
	f.GroupKey = Fingerprint(d.ID(), key)
	return []Finding{f}, nil
}

// Save implements Stateful.
func (d *FailedSignins) Save(tx *bolt.Tx) error {
	if !d.dirty {
		return nil
	}
	b, err := tx.CreateBucketIfNotExists(bucketFailedSignins)
	if err != nil {
		return err
	}
	for k, w := range d.windows {
		if len(w) == 0 || d.latest.Sub(w[len(w)-1].Time) > d.Window {
			delete(d.windows, k)
			if err := b.Delete([]byte(k)); err != nil {
				return err
			}
			continue
		}
		v, err := json.Marshal(w)
		if err != nil {
			return err
		}
		if err := b.Put([]byte(k), v); err != nil {
			return err
		}
	}
	d.dirty = false
	return nil
}

func orUnknown(s string) string {
	if s == "" {
		return "an unknown address"
	}
	return s
}
