package awsfindings

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/trailhound/trailhound/sources"
)

// lenientTime reads the times of native Inspector and Macie events: RFC
// 3339, or the console-style "Mar 31, 2022, 15:14:36.000000" some of
// AWS's examples show; zero when neither reads.
func lenientTime(s string) time.Time {
	if t := optTime(s); !t.IsZero() {
		return t
	}
	for _, layout := range []string{"Jan 2, 2006, 15:04:05.000000", "Jan 2, 2006, 15:04:05.000", "Jan 2, 2006, 15:04:05", "Jan 2, 2006, 15:04:05.000 PM", "Jan 2, 2006, 15:04:05 PM"} {
		if t, err := time.Parse(layout, strings.TrimSuffix(strings.TrimSuffix(s, " UTC"), " GMT")); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

// AccessAnalyzer normalises the detail of an "Access Analyzer Finding"
// event. Access Analyzer has no severity: a finding that grants public
// access is high, any other external access medium. account and region
// are the event's, used when the detail lacks them.
func AccessAnalyzer(raw json.RawMessage, account, region string) (*sources.AWSFinding, error) {
	var d struct {
		ID           string            `json:"id"`
		Status       string            `json:"status"`
		ResourceType string            `json:"resourceType"`
		Resource     string            `json:"resource"`
		CreatedAt    string            `json:"createdAt"`
		UpdatedAt    string            `json:"updatedAt"`
		AccountID    string            `json:"accountId"`
		Region       string            `json:"region"`
		Principal    map[string]string `json:"principal"`
		Action       []string          `json:"action"`
		IsPublic     bool              `json:"isPublic"`
		IsDeleted    bool              `json:"isDeleted"`
		FindingType  string            `json:"findingType"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil, fmt.Errorf("detail: %v", err)
	}
	if d.ID == "" {
		return nil, errors.New("detail.id: missing")
	}
	updated, err := parseTime("detail.updatedAt", d.UpdatedAt)
	if err != nil {
		return nil, err
	}
	if d.AccountID != "" {
		account = d.AccountID
	}
	if d.Region != "" {
		region = d.Region
	}
	typ := d.FindingType
	if typ == "" {
		typ = "ExternalAccess"
	}
	typ += "/" + d.ResourceType
	sev, who := "MEDIUM", "an external principal"
	if d.IsPublic {
		sev, who = "HIGH", "anyone (public)"
	}
	var principals []string
	for k, v := range d.Principal {
		principals = append(principals, k+"="+v)
	}
	f := &sources.AWSFinding{
		Product: "access-analyzer", ID: d.ID, Key: "access-analyzer:" + d.ID, Account: account, Region: region,
		Type: typ, Title: fmt.Sprintf("%s %s is accessible to %s", d.ResourceType, d.Resource, who),
		Description: fmt.Sprintf("A resource policy grants %s (%s) the actions %s.", who, strings.Join(uniq(principals), ", "), strings.Join(d.Action, ", ")),
		Severity:    sev, FirstSeen: optTime(d.CreatedAt), UpdatedAt: updated, Count: 1, Resource: strings.TrimSpace(d.ResourceType + " " + d.Resource),
		Closed: d.Status == "ARCHIVED" || d.Status == "RESOLVED" || d.IsDeleted, Raw: raw,
		Recommendation: "Review the resource policy; remove the grant or archive the finding if the access is intended.",
	}
	f.ConsoleURL = fmt.Sprintf("https://%s.console.aws.amazon.com/access-analyzer/home?region=%s#/findings", region, region)
	f.ContentHash = contentHash(raw, "updatedAt", "analyzedAt", "status")
	if f.Closed {
		// A status change is content here: the analyzer closed it.
		f.ContentHash = contentHash(raw, "updatedAt", "analyzedAt")
	}
	return f, nil
}

// Inspector normalises the detail of a native "Inspector2 Finding" event.
func Inspector(raw json.RawMessage, account, region string) (*sources.AWSFinding, error) {
	var d struct {
		FindingArn      string  `json:"findingArn"`
		AwsAccountID    string  `json:"awsAccountId"`
		Type            string  `json:"type"`
		Title           string  `json:"title"`
		Description     string  `json:"description"`
		Severity        string  `json:"severity"`
		InspectorScore  float64 `json:"inspectorScore"`
		Status          string  `json:"status"`
		FirstObservedAt string  `json:"firstObservedAt"`
		LastObservedAt  string  `json:"lastObservedAt"`
		UpdatedAt       string  `json:"updatedAt"`
		Remediation     struct {
			Recommendation struct {
				Text string `json:"text"`
				URL  string `json:"Url"`
			} `json:"recommendation"`
		} `json:"remediation"`
		Resources []struct {
			ID     string `json:"id"`
			Type   string `json:"type"`
			Region string `json:"region"`
		} `json:"resources"`
		PackageVulnerabilityDetails *struct {
			VulnerabilityID string `json:"vulnerabilityId"`
		} `json:"packageVulnerabilityDetails"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil, fmt.Errorf("detail: %v", err)
	}
	if d.FindingArn == "" {
		return nil, errors.New("detail.findingArn: missing")
	}
	if d.AwsAccountID != "" {
		account = d.AwsAccountID
	}
	if r := arnRegion(d.FindingArn); r != "" {
		region = r
	}
	updated := lenientTime(d.UpdatedAt)
	if updated.IsZero() {
		updated = lenientTime(d.LastObservedAt)
	}
	if updated.IsZero() {
		return nil, fmt.Errorf("detail.updatedAt: %q is not a time", d.UpdatedAt)
	}
	sev := strings.ToUpper(d.Severity)
	if !labels[sev] {
		// UNTRIAGED, or missing.
		sev = "INFORMATIONAL"
	}
	typ := d.Type
	if v := d.PackageVulnerabilityDetails; v != nil && v.VulnerabilityID != "" {
		typ += "/" + v.VulnerabilityID
	}
	f := &sources.AWSFinding{
		Product: "inspector", ID: d.FindingArn, Key: "inspector:" + d.FindingArn, Account: account, Region: region,
		Type: typ, Title: d.Title, Description: d.Description, Severity: sev, Score: d.InspectorScore,
		FirstSeen: lenientTime(d.FirstObservedAt), LastSeen: lenientTime(d.LastObservedAt), UpdatedAt: updated, Count: 1,
		Closed: d.Status == "CLOSED", Recommendation: d.Remediation.Recommendation.Text, RecommendationURL: d.Remediation.Recommendation.URL, Raw: raw,
	}
	if len(d.Resources) > 0 {
		f.Resource = strings.TrimSpace(d.Resources[0].Type + " " + d.Resources[0].ID)
	}
	f.ConsoleURL = fmt.Sprintf("https://%s.console.aws.amazon.com/inspector/v2/home?region=%s#/findings/all?search=findingArn%%3D%s", region, region, url.QueryEscape(d.FindingArn))
	// Every rescan moves lastObservedAt; only a change of what was found
	// is news.
	f.ContentHash = contentHash(raw, "updatedAt", "lastObservedAt", "status")
	if f.Closed {
		f.ContentHash = contentHash(raw, "updatedAt", "lastObservedAt")
	}
	return f, nil
}

// Macie normalises the detail of a native "Macie Finding" event.
func Macie(raw json.RawMessage) (*sources.AWSFinding, error) {
	var d struct {
		ID          string `json:"id"`
		AccountID   string `json:"accountId"`
		Partition   string `json:"partition"`
		Region      string `json:"region"`
		Type        string `json:"type"`
		Title       string `json:"title"`
		Description string `json:"description"`
		Severity    struct {
			Score       float64 `json:"score"`
			Description string  `json:"description"`
		} `json:"severity"`
		CreatedAt         string `json:"createdAt"`
		UpdatedAt         string `json:"updatedAt"`
		Count             int    `json:"count"`
		Archived          bool   `json:"archived"`
		ResourcesAffected struct {
			S3Bucket *struct {
				Name string `json:"name"`
			} `json:"s3Bucket"`
			S3Object *struct {
				Key string `json:"key"`
			} `json:"s3Object"`
		} `json:"resourcesAffected"`
		PolicyDetails *struct {
			Action struct {
				APICallDetails struct {
					API            string `json:"api"`
					APIServiceName string `json:"apiServiceName"`
					LastSeen       string `json:"lastSeen"`
				} `json:"apiCallDetails"`
			} `json:"action"`
			Actor struct {
				IPAddressDetails struct {
					IPAddressV4 string `json:"ipAddressV4"`
				} `json:"ipAddressDetails"`
				UserIdentity struct {
					Type    string `json:"type"`
					IamUser *struct {
						Arn         string `json:"arn"`
						UserName    string `json:"userName"`
						PrincipalID string `json:"principalId"`
					} `json:"iamUser"`
					AssumedRole *struct {
						Arn         string `json:"arn"`
						AccessKeyID string `json:"accessKeyId"`
						PrincipalID string `json:"principalId"`
					} `json:"assumedRole"`
				} `json:"userIdentity"`
			} `json:"actor"`
		} `json:"policyDetails"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil, fmt.Errorf("detail: %v", err)
	}
	if d.ID == "" {
		return nil, errors.New("detail.id: missing")
	}
	if d.Type == "" {
		return nil, errors.New("detail.type: missing")
	}
	updated := lenientTime(d.UpdatedAt)
	if updated.IsZero() {
		return nil, fmt.Errorf("detail.updatedAt: %q is not a time", d.UpdatedAt)
	}
	sev := strings.ToUpper(d.Severity.Description)
	if !labels[sev] {
		switch {
		case d.Severity.Score >= 3:
			sev = "HIGH"
		case d.Severity.Score >= 2:
			sev = "MEDIUM"
		default:
			sev = "LOW"
		}
	}
	f := &sources.AWSFinding{
		Product: "macie", ID: d.ID, Key: "macie:" + d.ID, Account: d.AccountID, Region: d.Region,
		Type: d.Type, Title: d.Title, Description: d.Description, Severity: sev, Score: d.Severity.Score,
		FirstSeen: lenientTime(d.CreatedAt), UpdatedAt: updated, Count: max(d.Count, 1), Closed: d.Archived, Raw: raw,
	}
	if b := d.ResourcesAffected.S3Bucket; b != nil {
		f.Resource = "S3Bucket " + b.Name
		if o := d.ResourcesAffected.S3Object; o != nil && o.Key != "" {
			f.Resource = "S3Object " + b.Name + "/" + o.Key
		}
	}
	if p := d.PolicyDetails; p != nil {
		f.Action, f.Service = p.Action.APICallDetails.API, p.Action.APICallDetails.APIServiceName
		f.LastSeen = lenientTime(p.Action.APICallDetails.LastSeen)
		f.SourceIP = p.Actor.IPAddressDetails.IPAddressV4
		switch u := p.Actor.UserIdentity; {
		case u.IamUser != nil:
			f.Principal = sources.Principal{Type: "IAMUser", ARN: u.IamUser.Arn, Name: u.IamUser.UserName, AccountID: d.AccountID}
		case u.AssumedRole != nil:
			f.Principal = sources.Principal{Type: "AssumedRole", ARN: u.AssumedRole.Arn, AccountID: d.AccountID, AccessKeyID: u.AssumedRole.AccessKeyID}
			if i := strings.Index(u.AssumedRole.Arn, ":assumed-role/"); i >= 0 {
				f.Principal.Name = u.AssumedRole.Arn[i+len(":assumed-role/"):]
			}
		}
	}
	f.ConsoleURL = fmt.Sprintf("https://%s.console.aws.amazon.com/macie/home?region=%s#findings?search=id%%3D%s&macros=current&itemId=%s", d.Region, d.Region, url.QueryEscape(d.ID), url.QueryEscape(d.ID))
	f.ContentHash = contentHash(raw, "updatedAt", "archived")
	if f.Closed {
		f.ContentHash = contentHash(raw, "updatedAt")
	}
	return f, nil
}
