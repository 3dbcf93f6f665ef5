package sources

import (
	"encoding/json"
	"time"
)

// AWSFinding is a finding made by an AWS security service (GuardDuty,
// Security Hub, Inspector, Macie, IAM Access Analyzer), normalised from
// the product's own shape or from ASFF. A source yields it on an Event
// (Event.Finding); an adapter detector turns it into a detectors.Finding.
type AWSFinding struct {
	// Product is the service that made the finding, lower case:
	// "guardduty", "securityhub", "inspector", "macie" or
	// "access-analyzer".
	Product string `json:"product"`
	// ID is the finding's own id: the ASFF Id, or the product's finding
	// id for a native event.
	ID string `json:"id"`
	// Key identifies the finding across delivery routes: a GuardDuty
	// finding has the same Key whether it came as a native GuardDuty event
	// or as ASFF through Security Hub.
	Key string `json:"key"`
	// ProductArn is the ASFF ProductArn; empty for native events.
	ProductArn string `json:"product_arn,omitempty"`
	// DetectorID is the GuardDuty detector id.
	DetectorID string `json:"detector_id,omitempty"`
	// Account and Region are the finding's home.
	Account string `json:"account,omitempty"`
	Region  string `json:"region,omitempty"`
	// Type is the finding type: the GuardDuty type, the ASFF
	// GeneratorId for Security Hub controls, or the product's type.
	Type  string `json:"type,omitempty"`
	Title string `json:"title,omitempty"`
	// Description is the product's description of the finding.
	Description string `json:"description,omitempty"`
	// Severity is one of INFORMATIONAL, LOW, MEDIUM, HIGH, CRITICAL.
	Severity string `json:"severity"`
	// Score is the product's numeric severity, when it has one.
	Score float64 `json:"score,omitempty"`
	// FirstSeen and LastSeen bound the activity behind the finding;
	// UpdatedAt is the product's last update of the finding.
	FirstSeen time.Time `json:"first_seen,omitempty"`
	LastSeen  time.Time `json:"last_seen,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
	// Workflow is the workflow status as received (NEW, NOTIFIED,
	// RESOLVED, SUPPRESSED), empty when the product has none.
	Workflow string `json:"workflow,omitempty"`
	// Closed is set when the product itself closed the finding: ASFF
	// RecordState ARCHIVED, a control that now passes, or an archived
	// GuardDuty or Access Analyzer finding.
	Closed bool `json:"closed,omitempty"`
	// Count is how many times the product saw the activity (GuardDuty's
	// service.count), at least 1.
	Count int `json:"count"`
	// Resource names what the finding is about, for example
	// "AwsEc2Instance i-99999999".
	Resource string `json:"resource,omitempty"`
	// Principal, SourceIP and Action (the API called, when known) come
	// from the finding's resource and action details.
	Principal Principal `json:"principal"`
	SourceIP  string    `json:"source_ip,omitempty"`
	Action    string    `json:"action,omitempty"`
	Service   string    `json:"service,omitempty"`
	// Techniques are MITRE ATT&CK technique ids the finding names.
	Techniques []string `json:"techniques,omitempty"`
	// Recommendation is the remediation text, and RecommendationURL its
	// link.
	Recommendation    string `json:"recommendation,omitempty"`
	RecommendationURL string `json:"recommendation_url,omitempty"`
	// ConsoleURL opens the finding in the AWS console.
	ConsoleURL string `json:"console_url,omitempty"`
	// ContentHash digests the provider-owned content (see
	// detectors.External.ContentHash).
	ContentHash string `json:"content_hash"`
	// BelowFloor is set when the finding passed the configured filters
	// but is under the severity floor: it is counted, not posted.
	BelowFloor bool `json:"below_floor,omitempty"`
	// Raw is the finding as the product wrote it.
	Raw json.RawMessage `json:"raw,omitempty"`
}
