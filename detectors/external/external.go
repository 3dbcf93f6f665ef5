// Package external is the adapter detector of findings made by AWS
// security services: it turns an event carrying a sources.AWSFinding
// (read by sources/awsfindings) into a detectors.Finding, so that
// GuardDuty, Security Hub, Inspector, Macie and Access Analyzer findings
// get the same alerts, routing, buttons and digest as Trailhound's own.
package external

import (
	"context"
	"fmt"
	"strings"

	"github.com/trailhound/trailhound/detectors"
	"github.com/trailhound/trailhound/sources"
)

// ID is the detector's id.
const ID = "aws-findings"

// Detector adapts AWS security findings. It keeps no state.
type Detector struct{}

// New returns the adapter.
func New() *Detector { return &Detector{} }

// ID implements detectors.Detector.
func (*Detector) ID() string { return ID }

// ReadsFindings implements detectors.FindingReader.
func (*Detector) ReadsFindings() bool { return true }

// Actions implements detectors.ActionScoped: the adapter never fires on
// a log record.
func (*Detector) Actions() []string { return []string{} }

var severities = map[string]detectors.Severity{
	"INFORMATIONAL": detectors.Info,
	"LOW":           detectors.Low,
	"MEDIUM":        detectors.Medium,
	"HIGH":          detectors.High,
	"CRITICAL":      detectors.Critical,
}

var productTitles = map[string]string{
	"guardduty":       "GuardDuty",
	"securityhub":     "Security Hub",
	"inspector":       "Inspector",
	"macie":           "Macie",
	"access-analyzer": "IAM Access Analyzer",
}

// Detect implements detectors.Detector: one finding per event that
// carries an AWS finding, none for any other event.
func (d *Detector) Detect(_ context.Context, ev *sources.Event) ([]detectors.Finding, error) {
	if ev.Finding == nil {
		return nil, nil
	}
	return []detectors.Finding{Convert(ev)}, nil
}

// RuleID is the rule id of an AWS finding: product/type, for example
// guardduty/UnauthorizedAccess:IAMUser/ConsoleLoginSuccess.B or
// securityhub/security-control/IAM.6.
func RuleID(f *sources.AWSFinding) string { return f.Product + "/" + f.Type }

// Convert makes the detectors.Finding of an event carrying an AWS
// finding. The fingerprint is the finding's key, the same for every
// update of the finding (the workflows match updates by it); the group
// key is the rule, account and principal (or resource, when no principal
// is named), so repeats of one kind of finding about one principal fold.
func Convert(ev *sources.Event) detectors.Finding {
	x := ev.Finding
	rule := RuleID(x)
	product := productTitles[x.Product]
	if product == "" {
		product = x.Product
	}
	f := detectors.Finding{
		RuleID:      rule,
		Title:       x.Title,
		Severity:    severities[x.Severity],
		Description: x.Description,
		Time:        ev.Time,
		Source:      ev.Source,
		Account:     x.Account,
		Region:      x.Region,
		Principal:   x.Principal,
		Service:     x.Service,
		Action:      x.Action,
		SourceIP:    x.SourceIP,
		EventIDs:    []string{ev.ID},
		EventCount:  max(x.Count, 1),
		Tags:        []string{"aws-finding", x.Product},
	}
	if f.Title == "" {
		f.Title = product + " finding " + x.Type
	}
	if len(x.Techniques) > 0 {
		f.Technique = x.Techniques[0]
		for _, t := range x.Techniques[1:] {
			f.Tags = append(f.Tags, "attack:"+t)
		}
	}
	f.Recommendation = x.Recommendation
	if x.RecommendationURL != "" {
		f.Recommendation = strings.TrimSpace(f.Recommendation + " " + x.RecommendationURL)
	}
	reason := fmt.Sprintf("%s reports %s", product, x.Type)
	if x.Resource != "" {
		reason += " on " + x.Resource
	}
	if x.Count > 1 {
		reason += fmt.Sprintf(" (%d occurrences)", x.Count)
	}
	f.Reason = reason + "."
	if x.BelowFloor {
		f.Tags = append(f.Tags, detectors.TagDigestOnly)
	}
	if x.Closed {
		f.Tags = append(f.Tags, detectors.TagClosed)
	}
	if len(x.Raw) > 0 {
		f.Evidence = append(f.Evidence, x.Raw)
	}
	f.Fingerprint = detectors.Fingerprint("aws-finding", x.Key)
	who := x.Principal.ARN
	if who == "" {
		who = x.Principal.Name
	}
	if who == "" {
		who = x.Resource
	}
	f.GroupKey = detectors.Fingerprint(rule, x.Account, who)
	f.External = &detectors.External{
		Product: x.Product, ID: x.ID, ProductArn: x.ProductArn, DetectorID: x.DetectorID,
		Account: x.Account, Region: x.Region, Type: x.Type, UpdatedAt: x.UpdatedAt,
		Workflow: x.Workflow, ConsoleURL: x.ConsoleURL, ContentHash: x.ContentHash,
	}
	return f
}
