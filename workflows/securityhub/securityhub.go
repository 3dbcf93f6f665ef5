// Package securityhub writes responders' decisions about AWS findings back
// to AWS: the workflow status and a note through Security Hub's
// BatchUpdateFindings, and, optionally, GuardDuty's ArchiveFindings for
// false positives. It implements workflows.FindingsWriter with the real
// aws-sdk-go-v2 clients, one pair per account and region configured.
package securityhub

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/guardduty"
	sh "github.com/aws/aws-sdk-go-v2/service/securityhub"
	shtypes "github.com/aws/aws-sdk-go-v2/service/securityhub/types"

	"github.com/trailhound/trailhound/configs"
	"github.com/trailhound/trailhound/sources"
	awssrc "github.com/trailhound/trailhound/sources/aws"
	"github.com/trailhound/trailhound/workflows"
)

// Documented request quotas, per account and region, in requests per
// second.
const (
	// BatchUpdateFindingsRPS is Security Hub BatchUpdateFindings' rate
	// quota: 10 per second.
	BatchUpdateFindingsRPS = 10
	// ArchiveFindingsRPS paces GuardDuty ArchiveFindings well under its
	// quota.
	ArchiveFindingsRPS = 5
)

// Options are the securityhub section of the config: whether to write
// decisions back, and the AWS credentials, regions and accounts to write
// them with.
type Options struct {
	// WriteBack turns the write-back on.
	WriteBack bool `yaml:"write_back"`
	// ArchiveFalsePositives also archives GuardDuty findings marked a
	// false positive (GuardDuty ArchiveFindings).
	ArchiveFalsePositives bool `yaml:"archive_false_positives"`
	// BatchSize caps the findings per BatchUpdateFindings call, 1 to 100.
	// Default 100.
	BatchSize int `yaml:"batch_size"`
	// Profile, Regions (the findings' home regions to write to), Accounts
	// (a role per account whose findings are written; findings of other
	// accounts are written with the base credentials, as a Security Hub
	// administrator account can), EndpointURL and retry settings.
	awssrc.Options `yaml:",inline"`
}

// Decode reads and checks the section. An absent section leaves the
// write-back off.
func Decode(sec configs.Section) (Options, error) {
	var o Options
	if sec.IsZero() {
		return o, nil
	}
	if err := sec.Decode(&o); err != nil {
		return o, err
	}
	if o.BatchSize < 0 || o.BatchSize > workflows.MaxWriteBackBatch {
		return o, sec.Errorf("batch_size", "must be between 1 and %d, not %d", workflows.MaxWriteBackBatch, o.BatchSize)
	}
	if o.BatchSize == 0 {
		o.BatchSize = workflows.MaxWriteBackBatch
	}
	if o.ArchiveFalsePositives && !o.WriteBack {
		return o, sec.Errorf("archive_false_positives", "needs write_back: true")
	}
	if !o.WriteBack {
		return o, nil
	}
	if err := o.Options.Validate(sec); err != nil {
		return o, err
	}
	return o, nil
}

// Settings returns what the workflows store needs to queue writes.
func (o Options) Settings() workflows.WriteBackSettings {
	return workflows.WriteBackSettings{Enabled: o.WriteBack, ArchiveFalsePositives: o.ArchiveFalsePositives}
}

// clients are the API clients of one account and region.
type clients struct {
	sh *sh.Client
	gd *guardduty.Client
}

// Writer writes decisions to AWS through the accounts and regions of its
// options. It implements workflows.FindingsWriter.
type Writer struct {
	// byKey maps "account/region" to clients; account "" is the base
	// credentials'.
	byKey map[string]clients
}

// New builds the clients of every account and region of the options. It
// makes no request: credentials are fetched, and roles assumed, on first
// use.
func New(ctx context.Context, o Options, sec configs.Section) (*Writer, error) {
	targets, err := o.Targets(ctx)
	if err != nil {
		return nil, sec.Errorf("", "%v", err)
	}
	w := &Writer{byKey: map[string]clients{}}
	for _, t := range targets {
		shlim := t.Limiter("securityhub.BatchUpdateFindings", BatchUpdateFindingsRPS)
		gdlim := t.Limiter("guardduty.ArchiveFindings", ArchiveFindingsRPS)
		w.byKey[t.Account+"/"+t.Region] = clients{
			sh: sh.NewFromConfig(t.Config, func(o *sh.Options) { o.APIOptions = append(o.APIOptions, awssrc.Paced(shlim)) }),
			gd: guardduty.NewFromConfig(t.Config, func(o *guardduty.Options) { o.APIOptions = append(o.APIOptions, awssrc.Paced(gdlim)) }),
		}
	}
	return w, nil
}

// errNoTarget says a finding's home is not among the configured regions.
var errNoTarget = errors.New("no credentials configured for this region")

// client returns the clients for a finding's account and region: the
// account's own role when configured, else the base credentials.
func (w *Writer) client(account, region string) (clients, error) {
	if c, ok := w.byKey[account+"/"+region]; ok {
		return c, nil
	}
	if c, ok := w.byKey["/"+region]; ok {
		return c, nil
	}
	return clients{}, fmt.Errorf("securityhub: account %s region %s: %w (add the region to securityhub.regions)", account, region, errNoTarget)
}

// retryable reports whether a failed call may succeed when tried again:
// throttling, server errors, timeouts and network errors may; access
// denied, a missing resource and an invalid request will not.
func retryable(err error) bool {
	switch awssrc.ClassOf(err) {
	case sources.ClassThrottled, sources.ClassTransient, sources.ClassUnknown:
		return true
	}
	return false
}

// UpdateFindings implements workflows.FindingsWriter with one
// BatchUpdateFindings call. The SDK's retryer already retried throttling
// and server errors; what is still failing is left to the persisted
// queue.
func (w *Writer) UpdateFindings(ctx context.Context, u workflows.FindingsUpdate) ([]workflows.FindingFailure, bool, error) {
	c, err := w.client(u.Account, u.Region)
	if err != nil {
		return nil, false, err
	}
	in := &sh.BatchUpdateFindingsInput{Workflow: &shtypes.WorkflowUpdate{Status: shtypes.WorkflowStatus(u.Status)}}
	for _, f := range u.Findings {
		in.FindingIdentifiers = append(in.FindingIdentifiers, shtypes.AwsSecurityFindingIdentifier{Id: aws.String(f.ID), ProductArn: aws.String(f.ProductArn)})
	}
	if u.Note != "" {
		in.Note = &shtypes.NoteUpdate{Text: aws.String(u.Note), UpdatedBy: aws.String(u.UpdatedBy)}
	}
	out, err := c.sh.BatchUpdateFindings(ctx, in)
	if err != nil {
		return nil, retryable(err), awssrc.Wrap(err, "securityhub: BatchUpdateFindings in %s", u.Region)
	}
	var failed []workflows.FindingFailure
	for _, f := range out.UnprocessedFindings {
		ff := workflows.FindingFailure{Code: aws.ToString(f.ErrorCode), Message: aws.ToString(f.ErrorMessage)}
		if f.FindingIdentifier != nil {
			ff.ID, ff.ProductArn = aws.ToString(f.FindingIdentifier.Id), aws.ToString(f.FindingIdentifier.ProductArn)
		}
		ff.Retry = retryableCode(ff.Code)
		failed = append(failed, ff)
	}
	return failed, false, nil
}

// retryableCode reports whether an UnprocessedFindings error code may go
// away: a concurrent update or an internal failure may; FindingNotFound,
// InvalidInput, FindingSizeExceeded and DuplicatedFindingIdentifier will
// not.
func retryableCode(code string) bool {
	c := strings.ToLower(code)
	return c == "concurrentupdateerror" || c == "internalfailure" || c == "internalerror" ||
		strings.Contains(c, "throttl") || strings.Contains(c, "limitexceeded") || strings.Contains(c, "toomanyrequests")
}

// ArchiveFindings implements workflows.FindingsWriter with one GuardDuty
// ArchiveFindings call.
func (w *Writer) ArchiveFindings(ctx context.Context, a workflows.FindingsArchive) (bool, error) {
	c, err := w.client(a.Account, a.Region)
	if err != nil {
		return false, err
	}
	_, err = c.gd.ArchiveFindings(ctx, &guardduty.ArchiveFindingsInput{DetectorId: aws.String(a.DetectorID), FindingIds: a.FindingIDs})
	if err != nil {
		return retryable(err), awssrc.Wrap(err, "guardduty: ArchiveFindings in %s", a.Region)
	}
	return false, nil
}
