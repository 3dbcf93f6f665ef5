package awsfindings

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/trailhound/trailhound/sources"
)

// Detail types this source reads.
const (
	DetailGuardDuty      = "GuardDuty Finding"
	DetailSecurityHub    = "Security Hub Findings - Imported"
	DetailAccessAnalyzer = "Access Analyzer Finding"
	DetailInspector      = "Inspector2 Finding"
	DetailMacie          = "Macie Finding"
	// detailViaCloudTrail ends the detail types of CloudTrail events
	// ("AWS API Call via CloudTrail", "AWS Console Sign In via
	// CloudTrail", "AWS Service Event via CloudTrail", ...).
	detailViaCloudTrail = " via CloudTrail"
)

// ErrUnknownDetailType is returned by Parse for an EventBridge event of
// a detail type this source does not read.
var ErrUnknownDetailType = errors.New("unknown detail-type")

// envelope is an EventBridge event.
type envelope struct {
	Version    string          `json:"version"`
	ID         string          `json:"id"`
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Account    string          `json:"account"`
	Time       string          `json:"time"`
	Region     string          `json:"region"`
	Detail     json.RawMessage `json:"detail"`
}

// Parse reads one EventBridge event (an SQS message body) and returns the
// events it carries: one per finding, or the CloudTrail record of a "via
// CloudTrail" event, normalised like any other. source names the events'
// source. An error names what was wrong: a body that is not an
// EventBridge event at all, an unknown detail type, a finding without its
// id. Events may come with an error: of a Security Hub event holding
// several findings, those that could be read are returned with the error
// naming the others.
func Parse(body []byte, source string) ([]sources.Event, error) {
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, fmt.Errorf("not an EventBridge event: invalid JSON: %v", err)
	}
	if env.DetailType == "" {
		return nil, errors.New("not an EventBridge event: no detail-type")
	}
	if len(bytes.TrimSpace(env.Detail)) == 0 || bytes.Equal(bytes.TrimSpace(env.Detail), []byte("null")) {
		return nil, fmt.Errorf("%s event %s: no detail", env.DetailType, env.ID)
	}
	var fs []*sources.AWSFinding
	var err error
	switch {
	case env.DetailType == DetailGuardDuty:
		var f *sources.AWSFinding
		f, err = GuardDuty(env.Detail)
		fs = append(fs, f)
	case env.DetailType == DetailSecurityHub:
		var d struct {
			Findings []json.RawMessage `json:"findings"`
		}
		if err = json.Unmarshal(env.Detail, &d); err != nil {
			err = fmt.Errorf("detail: %v", err)
			break
		}
		if len(d.Findings) == 0 {
			err = errors.New("detail.findings: missing or empty")
			break
		}
		var errs []error
		for i, raw := range d.Findings {
			f, ferr := ASFF(raw)
			if ferr != nil {
				errs = append(errs, fmt.Errorf("detail.findings[%d]: %w", i, ferr))
				continue
			}
			fs = append(fs, f)
		}
		err = errors.Join(errs...)
	case env.DetailType == DetailAccessAnalyzer:
		var f *sources.AWSFinding
		f, err = AccessAnalyzer(env.Detail, env.Account, env.Region)
		fs = append(fs, f)
	case env.DetailType == DetailInspector:
		var f *sources.AWSFinding
		f, err = Inspector(env.Detail, env.Account, env.Region)
		fs = append(fs, f)
	case env.DetailType == DetailMacie:
		var f *sources.AWSFinding
		f, err = Macie(env.Detail)
		fs = append(fs, f)
	case strings.HasSuffix(env.DetailType, detailViaCloudTrail):
		ev, cerr := sources.Normalize(env.Detail, source)
		if cerr != nil {
			return nil, fmt.Errorf("%s event %s: detail: %w", env.DetailType, env.ID, cerr)
		}
		if ev.Account == "" {
			ev.Account = env.Account
		}
		if ev.Region == "" {
			ev.Region = env.Region
		}
		return []sources.Event{ev}, nil
	default:
		return nil, fmt.Errorf("%w %q (source %q)", ErrUnknownDetailType, env.DetailType, env.Source)
	}
	if err != nil {
		err = fmt.Errorf("%s event %s: %w", env.DetailType, env.ID, err)
	}
	out := make([]sources.Event, 0, len(fs))
	for _, f := range fs {
		if f != nil {
			out = append(out, EventOf(f, source))
		}
	}
	return out, err
}

// EventOf wraps a finding in an Event: its ID is the finding's key and
// update time, so that every update is judged and a repeat of the same
// update is skipped; its Time is the last activity, or the update.
func EventOf(f *sources.AWSFinding, source string) sources.Event {
	t := f.LastSeen
	if t.IsZero() {
		t = f.UpdatedAt
	}
	return sources.Event{
		Time:      t,
		ID:        f.Key + "@" + f.UpdatedAt.UTC().Format(time.RFC3339Nano),
		Source:    source,
		Account:   f.Account,
		Region:    f.Region,
		Principal: f.Principal,
		Service:   f.Service,
		SourceIP:  f.SourceIP,
		EventType: "AwsSecurityFinding",
		Finding:   f,
	}
}

// parseTime reads the times the products write: RFC 3339 with or without
// fractional seconds.
func parseTime(field, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, fmt.Errorf("%s: missing", field)
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s: %q is not an RFC 3339 time", field, s)
	}
	return t.UTC(), nil
}

// optTime parses an optional time, zero when absent or unreadable.
func optTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}

// GuardDutySeverity maps GuardDuty's numeric severity to its documented
// levels: 9.0-10.0 critical, 7.0-8.9 high, 4.0-6.9 medium, 1.0-3.9 low.
func GuardDutySeverity(score float64) string {
	switch {
	case score >= 9:
		return "CRITICAL"
	case score >= 7:
		return "HIGH"
	case score >= 4:
		return "MEDIUM"
	case score >= 1:
		return "LOW"
	}
	return "INFORMATIONAL"
}

// NormalizedSeverity maps ASFF's deprecated Severity.Normalized (0-100) to
// a label, as Security Hub documents it.
func NormalizedSeverity(n float64) string {
	switch {
	case n >= 90:
		return "CRITICAL"
	case n >= 70:
		return "HIGH"
	case n >= 40:
		return "MEDIUM"
	case n >= 1:
		return "LOW"
	}
	return "INFORMATIONAL"
}

var labels = map[string]bool{"INFORMATIONAL": true, "LOW": true, "MEDIUM": true, "HIGH": true, "CRITICAL": true}

// guardDutyFinding is the subset of a GuardDuty finding read here.
type guardDutyFinding struct {
	AccountID   string  `json:"accountId"`
	Region      string  `json:"region"`
	Partition   string  `json:"partition"`
	ID          string  `json:"id"`
	Arn         string  `json:"arn"`
	Type        string  `json:"type"`
	Severity    float64 `json:"severity"`
	Title       string  `json:"title"`
	Description string  `json:"description"`
	CreatedAt   string  `json:"createdAt"`
	UpdatedAt   string  `json:"updatedAt"`
	Resource    struct {
		ResourceType     string `json:"resourceType"`
		AccessKeyDetails *struct {
			AccessKeyID string `json:"accessKeyId"`
			PrincipalID string `json:"principalId"`
			UserName    string `json:"userName"`
			UserType    string `json:"userType"`
		} `json:"accessKeyDetails"`
		InstanceDetails *struct {
			InstanceID string `json:"instanceId"`
		} `json:"instanceDetails"`
		S3BucketDetails []struct {
			Name string `json:"name"`
		} `json:"s3BucketDetails"`
		EksClusterDetails *struct {
			Name string `json:"name"`
		} `json:"eksClusterDetails"`
		KubernetesDetails *struct {
			KubernetesUserDetails *struct {
				Username string `json:"username"`
			} `json:"kubernetesUserDetails"`
		} `json:"kubernetesDetails"`
		EcsClusterDetails *struct {
			Name string `json:"name"`
		} `json:"ecsClusterDetails"`
		LambdaDetails *struct {
			FunctionName string `json:"functionName"`
		} `json:"lambdaDetails"`
		RdsDbInstanceDetails *struct {
			DbInstanceIdentifier string `json:"dbInstanceIdentifier"`
		} `json:"rdsDbInstanceDetails"`
		ContainerDetails *struct {
			Name string `json:"name"`
		} `json:"containerDetails"`
	} `json:"resource"`
	Service struct {
		DetectorID     string `json:"detectorId"`
		Archived       bool   `json:"archived"`
		Count          int    `json:"count"`
		EventFirstSeen string `json:"eventFirstSeen"`
		EventLastSeen  string `json:"eventLastSeen"`
		Action         struct {
			ActionType        string   `json:"actionType"`
			AwsAPICallAction  *apiCall `json:"awsApiCallAction"`
			NetworkConnection *struct {
				RemoteIPDetails remoteIP `json:"remoteIpDetails"`
			} `json:"networkConnectionAction"`
			PortProbeAction *struct {
				PortProbeDetails []struct {
					RemoteIPDetails remoteIP `json:"remoteIpDetails"`
				} `json:"portProbeDetails"`
			} `json:"portProbeAction"`
			KubernetesAPICallAction *struct {
				Verb            string   `json:"verb"`
				RequestURI      string   `json:"requestUri"`
				RemoteIPDetails remoteIP `json:"remoteIpDetails"`
			} `json:"kubernetesApiCallAction"`
		} `json:"action"`
		Detection *struct {
			Sequence *struct {
				SequenceIndicators []struct {
					Key    string   `json:"key"`
					Values []string `json:"values"`
				} `json:"sequenceIndicators"`
			} `json:"sequence"`
		} `json:"detection"`
	} `json:"service"`
}

type apiCall struct {
	API             string   `json:"api"`
	ServiceName     string   `json:"serviceName"`
	CallerType      string   `json:"callerType"`
	RemoteIPDetails remoteIP `json:"remoteIpDetails"`
}

type remoteIP struct {
	IPAddressV4 string `json:"ipAddressV4"`
	IPAddressV6 string `json:"ipAddressV6"`
}

func (r remoteIP) ip() string {
	if r.IPAddressV4 != "" {
		return r.IPAddressV4
	}
	return r.IPAddressV6
}

// GuardDuty normalises a GuardDuty finding (the detail of a "GuardDuty
// Finding" event, or an element of GetFindings).
func GuardDuty(raw json.RawMessage) (*sources.AWSFinding, error) {
	var g guardDutyFinding
	if err := json.Unmarshal(raw, &g); err != nil {
		return nil, fmt.Errorf("detail: %v", err)
	}
	if g.ID == "" {
		return nil, errors.New("detail.id: missing")
	}
	if g.Type == "" {
		return nil, errors.New("detail.type: missing")
	}
	updated, err := parseTime("detail.updatedAt", g.UpdatedAt)
	if err != nil {
		return nil, err
	}
	detector := g.Service.DetectorID
	if detector == "" {
		detector = guardDutyDetector(g.Arn)
	}
	f := &sources.AWSFinding{
		Product: "guardduty", ID: g.ID, Key: "guardduty:" + g.ID, DetectorID: detector,
		Account: g.AccountID, Region: g.Region, Type: g.Type, Title: g.Title, Description: g.Description,
		Severity: GuardDutySeverity(g.Severity), Score: g.Severity,
		FirstSeen: optTime(g.Service.EventFirstSeen), LastSeen: optTime(g.Service.EventLastSeen), UpdatedAt: updated,
		Closed: g.Service.Archived, Count: max(g.Service.Count, 1), Raw: raw,
	}
	r := g.Resource
	switch {
	case r.InstanceDetails != nil && r.InstanceDetails.InstanceID != "":
		f.Resource = "Instance " + r.InstanceDetails.InstanceID
	case len(r.S3BucketDetails) > 0 && r.S3BucketDetails[0].Name != "":
		f.Resource = "S3Bucket " + r.S3BucketDetails[0].Name
	case r.EksClusterDetails != nil && r.EksClusterDetails.Name != "":
		f.Resource = "EKSCluster " + r.EksClusterDetails.Name
	case r.EcsClusterDetails != nil && r.EcsClusterDetails.Name != "":
		f.Resource = "ECSCluster " + r.EcsClusterDetails.Name
	case r.LambdaDetails != nil && r.LambdaDetails.FunctionName != "":
		f.Resource = "Lambda " + r.LambdaDetails.FunctionName
	case r.RdsDbInstanceDetails != nil && r.RdsDbInstanceDetails.DbInstanceIdentifier != "":
		f.Resource = "RDSDBInstance " + r.RdsDbInstanceDetails.DbInstanceIdentifier
	case r.AccessKeyDetails != nil && r.AccessKeyDetails.AccessKeyID != "":
		f.Resource = "AccessKey " + r.AccessKeyDetails.AccessKeyID
	default:
		f.Resource = r.ResourceType
	}
	if ak := r.AccessKeyDetails; ak != nil {
		f.Principal = guardDutyPrincipal(g.Partition, g.AccountID, ak.UserType, ak.UserName, ak.PrincipalID, ak.AccessKeyID)
	} else if k := r.KubernetesDetails; k != nil && k.KubernetesUserDetails != nil {
		f.Principal = sources.Principal{Name: k.KubernetesUserDetails.Username, Type: "KubernetesUser"}
	}
	a := g.Service.Action
	switch {
	case a.AwsAPICallAction != nil:
		f.Action, f.SourceIP = a.AwsAPICallAction.API, a.AwsAPICallAction.RemoteIPDetails.ip()
		f.Service = a.AwsAPICallAction.ServiceName
	case a.NetworkConnection != nil:
		f.SourceIP = a.NetworkConnection.RemoteIPDetails.ip()
	case a.PortProbeAction != nil && len(a.PortProbeAction.PortProbeDetails) > 0:
		f.SourceIP = a.PortProbeAction.PortProbeDetails[0].RemoteIPDetails.ip()
	case a.KubernetesAPICallAction != nil:
		f.Action = strings.TrimSpace(a.KubernetesAPICallAction.Verb + " " + a.KubernetesAPICallAction.RequestURI)
		f.SourceIP = a.KubernetesAPICallAction.RemoteIPDetails.ip()
	}
	if d := g.Service.Detection; d != nil && d.Sequence != nil {
		for _, ind := range d.Sequence.SequenceIndicators {
			if ind.Key == "ATTACK_TECHNIQUE" {
				for _, v := range ind.Values {
					f.Techniques = append(f.Techniques, techniqueIDs(v)...)
				}
			}
		}
	}
	f.Techniques = uniq(f.Techniques)
	f.ConsoleURL = fmt.Sprintf("https://%s.console.aws.amazon.com/guardduty/home?region=%s#/findings?macros=current&fId=%s", g.Region, g.Region, url.QueryEscape(g.ID))
	f.ContentHash = contentHash(raw, "updatedAt", "service.archived", "service.userFeedback", "service.additionalInfo.userFeedback")
	return f, nil
}

// guardDutyPrincipal builds the principal of a GuardDuty access key: the
// ARN as CloudTrail would write it, so the finding meets Trailhound's own
// alerts about the same principal.
func guardDutyPrincipal(partition, account, typ, name, principalID, keyID string) sources.Principal {
	if partition == "" {
		partition = "aws"
	}
	p := sources.Principal{Type: typ, Name: name, AccountID: account, AccessKeyID: keyID}
	if strings.HasPrefix(keyID, "GeneratedFinding") {
		// Sample findings name no real key.
		p.AccessKeyID = ""
	}
	switch typ {
	case "Root":
		p.ARN, p.Name = fmt.Sprintf("arn:%s:iam::%s:root", partition, account), "root"
	case "IAMUser":
		if name != "" {
			p.ARN = fmt.Sprintf("arn:%s:iam::%s:user/%s", partition, account, name)
		}
	case "AssumedRole":
		if _, session, ok := strings.Cut(principalID, ":"); ok && name != "" {
			p.ARN = fmt.Sprintf("arn:%s:sts::%s:assumed-role/%s/%s", partition, account, name, session)
			p.Name = name + "/" + session
		}
	}
	return p
}

// guardDutyDetector returns the detector id of a GuardDuty finding ARN
// (arn:aws:guardduty:REGION:ACCOUNT:detector/DETECTOR/finding/ID).
func guardDutyDetector(arn string) string {
	_, rest, ok := strings.Cut(arn, ":detector/")
	if !ok {
		return ""
	}
	d, _, _ := strings.Cut(rest, "/")
	return d
}

var techniqueRe = regexp.MustCompile(`\bT[0-9]{4}(?:\.[0-9]{3})?\b`)

// techniqueIDs returns the ATT&CK technique ids named in s.
func techniqueIDs(s string) []string { return techniqueRe.FindAllString(s, -1) }

func uniq(ss []string) []string {
	if len(ss) == 0 {
		return nil
	}
	sort.Strings(ss)
	out := ss[:1]
	for _, s := range ss[1:] {
		if s != out[len(out)-1] {
			out = append(out, s)
		}
	}
	return out
}

// contentHash digests a finding's JSON without the fields that change
// when nothing about the finding itself changed: the update time and the
// fields customers (and Trailhound's own write-back) set. drop lists
// dotted paths.
func contentHash(raw json.RawMessage, drop ...string) string {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		h := sha256.Sum256(raw)
		return hex.EncodeToString(h[:12])
	}
	for _, p := range drop {
		deletePath(v, strings.Split(p, "."))
	}
	// encoding/json sorts map keys, so the encoding is canonical; nulls
	// and empty values are left out, so that a finding read from
	// GetFindings (typed, with nulls) and the same finding from
	// EventBridge hash alike.
	b, _ := json.Marshal(prune(v))
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:12])
}

func prune(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			e = prune(e)
			if empty(e) {
				delete(x, k)
				continue
			}
			x[k] = e
		}
		return x
	case []any:
		out := x[:0]
		for _, e := range x {
			e = prune(e)
			if !empty(e) {
				out = append(out, e)
			}
		}
		return out
	}
	return v
}

func empty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case map[string]any:
		return len(x) == 0
	case []any:
		return len(x) == 0
	}
	return false
}

func deletePath(v any, path []string) {
	m, ok := v.(map[string]any)
	if !ok || len(path) == 0 {
		return
	}
	if len(path) == 1 {
		delete(m, path[0])
		return
	}
	deletePath(m[path[0]], path[1:])
}

// asff is the subset of an AWS Security Finding Format record read here.
type asff struct {
	SchemaVersion    string   `json:"SchemaVersion"`
	ID               string   `json:"Id"`
	ProductArn       string   `json:"ProductArn"`
	ProductName      string   `json:"ProductName"`
	CompanyName      string   `json:"CompanyName"`
	GeneratorID      string   `json:"GeneratorId"`
	AwsAccountID     string   `json:"AwsAccountId"`
	Region           string   `json:"Region"`
	Types            []string `json:"Types"`
	FirstObservedAt  string   `json:"FirstObservedAt"`
	LastObservedAt   string   `json:"LastObservedAt"`
	CreatedAt        string   `json:"CreatedAt"`
	UpdatedAt        string   `json:"UpdatedAt"`
	Title            string   `json:"Title"`
	Description      string   `json:"Description"`
	RecordState      string   `json:"RecordState"`
	FindingProviders *struct {
		Severity *asffSeverity `json:"Severity"`
		Types    []string      `json:"Types"`
	} `json:"FindingProviderFields"`
	Severity    *asffSeverity `json:"Severity"`
	Remediation *struct {
		Recommendation *struct {
			Text string `json:"Text"`
			URL  string `json:"Url"`
		} `json:"Recommendation"`
	} `json:"Remediation"`
	Workflow *struct {
		Status string `json:"Status"`
	} `json:"Workflow"`
	Compliance *struct {
		Status string `json:"Status"`
	} `json:"Compliance"`
	Network *struct {
		SourceIPV4 string `json:"SourceIpV4"`
		SourceIPV6 string `json:"SourceIpV6"`
	} `json:"Network"`
	Action *struct {
		ActionType       string `json:"ActionType"`
		AwsAPICallAction *struct {
			API             string `json:"Api"`
			ServiceName     string `json:"ServiceName"`
			RemoteIPDetails *struct {
				IPAddressV4 string `json:"IpAddressV4"`
			} `json:"RemoteIpDetails"`
		} `json:"AwsApiCallAction"`
	} `json:"Action"`
	Resources []struct {
		Type    string `json:"Type"`
		ID      string `json:"Id"`
		Details struct {
			AwsIamAccessKey *struct {
				PrincipalID   string `json:"PrincipalId"`
				PrincipalName string `json:"PrincipalName"`
				PrincipalType string `json:"PrincipalType"`
				UserName      string `json:"UserName"`
			} `json:"AwsIamAccessKey"`
			AwsIamUser *struct {
				UserName string `json:"UserName"`
			} `json:"AwsIamUser"`
		} `json:"Details"`
	} `json:"Resources"`
	ProductFields map[string]string `json:"ProductFields"`
	Count         int               `json:"-"`
}

type asffSeverity struct {
	Label      string  `json:"Label"`
	Normalized float64 `json:"Normalized"`
	Product    float64 `json:"Product"`
	Original   string  `json:"Original"`
}

func (s *asffSeverity) label() string {
	if s == nil {
		return ""
	}
	if l := strings.ToUpper(s.Label); labels[l] {
		return l
	}
	if s.Normalized > 0 {
		return NormalizedSeverity(s.Normalized)
	}
	return ""
}

// asffProducts maps an ASFF ProductName to the product names Trailhound
// uses in rule ids.
var asffProducts = map[string]string{
	"GuardDuty":           "guardduty",
	"Inspector":           "inspector",
	"Macie":               "macie",
	"IAM Access Analyzer": "access-analyzer",
	"Security Hub":        "securityhub",
}

// ASFF normalises one finding in the AWS Security Finding Format.
func ASFF(raw json.RawMessage) (*sources.AWSFinding, error) {
	var a asff
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, err
	}
	if a.ID == "" {
		return nil, errors.New("Id: missing")
	}
	if a.ProductArn == "" {
		return nil, errors.New("ProductArn: missing")
	}
	if a.AwsAccountID == "" {
		return nil, errors.New("AwsAccountId: missing")
	}
	updated, err := parseTime("UpdatedAt", a.UpdatedAt)
	if err != nil {
		return nil, err
	}
	product := asffProducts[a.ProductName]
	if product == "" {
		// Third-party or other AWS integrations: named by their
		// product ARN's last segment ("product/aws/config" -> config).
		product = "securityhub"
		if i := strings.LastIndex(a.ProductArn, "/"); i >= 0 && strings.Contains(a.ProductArn, ":product/") {
			product = strings.ToLower(a.ProductArn[i+1:])
			if product == "securityhub" || product == "" {
				product = "securityhub"
			}
		}
	}
	sev := a.Severity.label()
	types := a.Types
	if a.FindingProviders != nil {
		// The provider's own values, which customers' updates never
		// change.
		if l := a.FindingProviders.Severity.label(); l != "" {
			sev = l
		}
		if len(a.FindingProviders.Types) > 0 {
			types = a.FindingProviders.Types
		}
	}
	if sev == "" {
		return nil, errors.New("Severity: neither Label nor Normalized is usable")
	}
	region := a.Region
	if region == "" {
		region = arnRegion(a.ProductArn)
	}
	f := &sources.AWSFinding{
		Product: product, ID: a.ID, Key: product + ":" + a.ID, ProductArn: a.ProductArn,
		Account: a.AwsAccountID, Region: region, Title: a.Title, Description: a.Description,
		Severity: sev, FirstSeen: optTime(a.FirstObservedAt), LastSeen: optTime(a.LastObservedAt), UpdatedAt: updated,
		Count: 1, Raw: raw,
	}
	if a.Workflow != nil {
		f.Workflow = a.Workflow.Status
	}
	f.Closed = a.RecordState == "ARCHIVED" || a.Compliance != nil && a.Compliance.Status == "PASSED"
	switch product {
	case "guardduty":
		// The same finding as the native event: one key for both.
		f.Type = a.ProductFields["aws/guardduty/service/type"]
		if id := guardDutyFindingID(a.ID); id != "" {
			f.Key = "guardduty:" + id
			f.DetectorID = guardDutyDetector(a.ID)
		}
		if c, err := strconv.Atoi(a.ProductFields["aws/guardduty/service/count"]); err == nil && c > 0 {
			f.Count = c
		}
	case "securityhub":
		f.Type = a.GeneratorID
	}
	if f.Type == "" {
		f.Type = firstType(types, a.GeneratorID)
	}
	for _, t := range types {
		f.Techniques = append(f.Techniques, techniqueIDs(t)...)
	}
	for k, v := range a.ProductFields {
		if strings.Contains(strings.ToLower(k), "technique") || strings.Contains(strings.ToLower(k), "mitre") {
			f.Techniques = append(f.Techniques, techniqueIDs(v)...)
		}
	}
	f.Techniques = uniq(f.Techniques)
	if len(a.Resources) > 0 {
		r := a.Resources[0]
		f.Resource = strings.TrimSpace(r.Type + " " + r.ID)
	}
	for _, r := range a.Resources {
		if k := r.Details.AwsIamAccessKey; k != nil && f.Principal.Name == "" {
			name := k.PrincipalName
			if name == "" {
				name = k.UserName
			}
			keyID := ""
			if r.Type == "AwsIamAccessKey" && (strings.HasPrefix(r.ID, "AKIA") || strings.HasPrefix(r.ID, "ASIA")) {
				keyID = r.ID
			}
			f.Principal = guardDutyPrincipal(arnPartition(a.ProductArn), a.AwsAccountID, k.PrincipalType, name, k.PrincipalID, keyID)
		}
		if u := r.Details.AwsIamUser; u != nil && f.Principal.Name == "" && u.UserName != "" {
			f.Principal = guardDutyPrincipal(arnPartition(a.ProductArn), a.AwsAccountID, "IAMUser", u.UserName, "", "")
		}
	}
	if a.Action != nil && a.Action.AwsAPICallAction != nil {
		c := a.Action.AwsAPICallAction
		f.Action, f.Service = c.API, c.ServiceName
		if c.RemoteIPDetails != nil {
			f.SourceIP = c.RemoteIPDetails.IPAddressV4
		}
	}
	if f.SourceIP == "" && a.Network != nil {
		f.SourceIP = a.Network.SourceIPV4
		if f.SourceIP == "" {
			f.SourceIP = a.Network.SourceIPV6
		}
	}
	if f.SourceIP == "" {
		f.SourceIP = a.ProductFields["aws/guardduty/service/action/awsApiCallAction/remoteIpDetails/ipAddressV4"]
	}
	if a.Remediation != nil && a.Remediation.Recommendation != nil {
		f.Recommendation, f.RecommendationURL = a.Remediation.Recommendation.Text, a.Remediation.Recommendation.URL
	}
	f.ConsoleURL = securityHubURL(region, a.ID)
	// LastObservedAt moves at every periodic evaluation of a control that
	// still fails, which is no news; a change of what was observed shows
	// in the other fields (compliance, severity, resources, counts).
	drop := []string{"UpdatedAt", "ProcessedAt", "LastObservedAt", "Workflow", "WorkflowState", "Note", "UserDefinedFields", "VerificationState", "Confidence", "Criticality", "RelatedFindings", "ProductFields.aws/securityhub/annotation"}
	if a.FindingProviders != nil {
		// Severity and Types are also customer-settable; the provider's
		// versions are under FindingProviderFields.
		drop = append(drop, "Severity", "Types")
	}
	f.ContentHash = contentHash(raw, drop...)
	return f, nil
}

// guardDutyFindingID returns the finding id at the end of a GuardDuty
// finding ARN, "" if id is not one.
func guardDutyFindingID(id string) string {
	if !strings.HasPrefix(id, "arn:") || !strings.Contains(id, ":guardduty:") {
		return ""
	}
	_, fid, ok := strings.Cut(id, "/finding/")
	if !ok {
		return ""
	}
	return fid
}

func firstType(types []string, generator string) string {
	if len(types) > 0 && types[0] != "" {
		return types[0]
	}
	return generator
}

func arnRegion(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 4 {
		return ""
	}
	return parts[3]
}

func arnPartition(arn string) string {
	parts := strings.SplitN(arn, ":", 3)
	if len(parts) < 2 || parts[1] == "" {
		return "aws"
	}
	return parts[1]
}

// securityHubURL links a finding in the Security Hub console.
func securityHubURL(region, id string) string {
	search := "Id=" + url.QueryEscape("\\operator\\:EQUALS\\:"+id)
	return fmt.Sprintf("https://%s.console.aws.amazon.com/securityhub/home?region=%s#/findings?search=%s", region, region, url.QueryEscape(search))
}
