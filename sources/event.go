// Package sources defines the normalised log record, Event, and the
// Source interface that every log source (files, CloudTrail, CloudWatch
// Logs, S3) implements. Sources own their checkpoints in the store.
package sources

import (
	"encoding/json"
	"strings"
	"time"
)

// Principal is who performed an action, as CloudTrail's userIdentity
// describes it.
type Principal struct {
	// ARN is the full ARN of the principal, for example
	// arn:aws:iam::123456789012:user/alice.
	ARN string `json:"arn,omitempty"`
	// Type is the userIdentity type: Root, IAMUser, AssumedRole,
	// FederatedUser, AWSService, AWSAccount, IdentityCenterUser or Unknown.
	Type string `json:"type,omitempty"`
	// Name is a short readable name: the user name, role/session for an
	// assumed role, "root" for the root user, or the invoking service.
	Name string `json:"name,omitempty"`
	// AccountID is the account the principal belongs to.
	AccountID string `json:"account_id,omitempty"`
	// AccessKeyID is the access key used, if any.
	AccessKeyID string `json:"access_key_id,omitempty"`
	// InvokedBy names the AWS service that made the call on the
	// principal's behalf (userIdentity.invokedBy), if any.
	InvokedBy string `json:"invoked_by,omitempty"`
}

// Event is one normalised log record. CloudTrail records fill every field;
// plain log lines (VPC flow logs, ALB, application logs) fill Time, ID,
// Source, Account, Region, LogGroup and Message.
type Event struct {
	// Time is when the event happened, in UTC. It is zero only for a
	// CloudTrail record whose eventTime is missing or unreadable and for
	// which the source knows no other time; Warnings then name eventTime.
	Time      time.Time `json:"time"`
	ID        string    `json:"id"`
	Source    string    `json:"source"`
	Account   string    `json:"account,omitempty"`
	Region    string    `json:"region,omitempty"`
	Principal Principal `json:"principal"`
	// Service is the CloudTrail eventSource, for example iam.amazonaws.com.
	Service string `json:"service,omitempty"`
	// Action is the CloudTrail eventName, for example CreateAccessKey.
	Action    string `json:"action,omitempty"`
	EventType string `json:"event_type,omitempty"`
	SourceIP  string `json:"source_ip,omitempty"`
	UserAgent string `json:"user_agent,omitempty"`
	ErrorCode string `json:"error_code,omitempty"`
	// ErrorMessage is CloudTrail's errorMessage, or for a console sign-in
	// the failure reason.
	ErrorMessage string `json:"error_message,omitempty"`
	// MFA is whether multi-factor authentication was used: nil when the
	// record does not say.
	MFA      *bool `json:"mfa,omitempty"`
	ReadOnly bool  `json:"read_only,omitempty"`
	// LogGroup and LogStream name where a CloudWatch Logs record came from.
	LogGroup  string `json:"log_group,omitempty"`
	LogStream string `json:"log_stream,omitempty"`
	// Message is the raw text of a log line that is not a CloudTrail record.
	Message string `json:"message,omitempty"`
	// Raw is the original CloudTrail record as JSON, nil for plain lines.
	Raw json.RawMessage `json:"raw,omitempty"`
	// Warnings say which fields of the record could not be read as
	// CloudTrail writes them, one sentence each starting with the field's
	// path, for example `readOnly: "maybe" is not a boolean`. The record was
	// kept and judged with those fields left empty (Raw still holds them).
	// Nil for a well-formed record. Warnings are not stored.
	Warnings []string `json:"-"`
	// Finding is set on an event that carries a finding made by an AWS
	// security service instead of a log record; the other fields then
	// describe the finding (Time is its last update, ID its id and update
	// time), Raw is nil and no log rule matches it.
	Finding *AWSFinding `json:"finding,omitempty"`
	// Tally is set on an event that stands for many: a group of like
	// events a source counted server-side (the athena source's per-poll
	// aggregate query). Only the detectors that judge counts
	// (detectors.Counter) see it. Nil for an ordinary event.
	Tally *Tally `json:"-"`
	// Counted marks an event whose source also counts it in a Tally: the
	// counting detectors skip it, so that it is not judged twice.
	Counted bool `json:"-"`

	parsed map[string]any
}

// Tally is a group of like events a source counted: the Event carrying it
// has the group's fields and its first event's time.
type Tally struct {
	// Count is how many events the group holds, at least 1.
	Count int
	// Last is the time of the group's last event.
	Last time.Time
	// Key names the group (its grouped fields and hour) the same way on
	// every read, so that the events of a group read again (a window's
	// overlap) are known as judged already.
	Key string
	// Sample is the id of a real event of the group, for evidence.
	Sample string
}

// Failed reports whether the event records a failed request or sign-in.
func (e *Event) Failed() bool {
	return e.ErrorCode != "" || (e.Action == "ConsoleLogin" && e.ErrorMessage != "")
}

// Field returns the value at a dotted path. Normalised names (action,
// service, account, region, source_ip, user_agent, error_code,
// principal.type, principal.arn, principal.name, mfa, message, log_group,
// event_type, and for CloudTrail records read_only and failed, which is
// Failed()) are looked up first; any other path is read from the raw
// CloudTrail record, for example requestParameters.bucketName. The second result is
// false when the path is absent. Field is not safe for concurrent use on
// the same Event.
func (e *Event) Field(path string) (any, bool) {
	switch path {
	case "id":
		return e.ID, e.ID != ""
	case "time":
		return e.Time, !e.Time.IsZero()
	case "source":
		return e.Source, e.Source != ""
	case "account":
		return e.Account, e.Account != ""
	case "region":
		return e.Region, e.Region != ""
	case "action":
		return e.Action, e.Action != ""
	case "service":
		return e.Service, e.Service != ""
	case "source_ip":
		return e.SourceIP, e.SourceIP != ""
	case "user_agent":
		return e.UserAgent, e.UserAgent != ""
	case "error_code":
		return e.ErrorCode, e.ErrorCode != ""
	case "error_message":
		return e.ErrorMessage, e.ErrorMessage != ""
	case "principal.type":
		return e.Principal.Type, e.Principal.Type != ""
	case "principal.arn":
		return e.Principal.ARN, e.Principal.ARN != ""
	case "principal.name":
		return e.Principal.Name, e.Principal.Name != ""
	case "principal.account_id":
		return e.Principal.AccountID, e.Principal.AccountID != ""
	case "principal.access_key_id":
		return e.Principal.AccessKeyID, e.Principal.AccessKeyID != ""
	case "mfa":
		if e.MFA == nil {
			return nil, false
		}
		return *e.MFA, true
	case "message":
		return e.Message, e.Message != ""
	case "log_group":
		return e.LogGroup, e.LogGroup != ""
	case "log_stream":
		return e.LogStream, e.LogStream != ""
	case "event_type":
		return e.EventType, e.EventType != ""
	case "read_only":
		return e.ReadOnly, len(e.Raw) > 0
	case "failed":
		return e.Failed(), len(e.Raw) > 0
	}
	if len(e.Raw) == 0 {
		return nil, false
	}
	if e.parsed == nil {
		e.parsed = decodeFields(e.Raw)
	}
	var cur any = e.parsed
	for rest, more := path, true; more; {
		var part string
		part, rest, more = strings.Cut(rest, ".")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		cur, ok = m[part]
		if !ok {
			return nil, false
		}
	}
	if cur == nil {
		return nil, false
	}
	return cur, true
}
