package cloudwatch

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"

	"github.com/trailhound/trailhound/sources"
	"github.com/trailhound/trailhound/sources/activity"
)

// Engine names Logs Insights in activity timelines.
const Engine = "CloudWatch Logs Insights"

// Scope implements activity.Reader: the source's account and region, as
// far back as its log groups keep events.
func (s *Source) Scope() activity.Scope {
	return activity.Scope{Engine: Engine, Rank: activity.RankInsights, Account: s.target.Account, Region: s.target.Region}
}

// activityValueRe is what a principal may be to go into a query: IAM
// names, ARNs and access key ids, no quotes or backslashes.
var activityValueRe = regexp.MustCompile(`^[A-Za-z0-9+=,.@_:/-]{1,256}$`)

// Activity implements activity.Reader with one Logs Insights query per
// log group, filtered on the principal server-side and checked again on
// each record. A group that is not a trail's holds no such records and
// adds nothing. It reads at most activity.MaxScan records per group.
func (s *Source) Activity(ctx context.Context, q activity.Query, limit int) (activity.Result, error) {
	var cond string
	switch {
	case q.KeyID() != "":
		cond = fmt.Sprintf("userIdentity.accessKeyId = %q", q.KeyID())
	case q.ARN != "":
		cond = fmt.Sprintf("userIdentity.arn = %q", q.ARN)
	case len(q.Principal) > 4 && q.Principal[:4] == "arn:":
		cond = fmt.Sprintf("userIdentity.arn = %q", q.Principal)
	default:
		cond = fmt.Sprintf("userIdentity.userName = %q or userIdentity.arn like %q", q.UserName(), "/"+q.UserName())
	}
	for _, v := range []string{q.Principal, q.ARN, q.AccessKeyID} {
		if v != "" && !activityValueRe.MatchString(v) {
			return activity.Result{}, sources.Classified(sources.ClassInvalid, errors.New("cloudwatch: activity: the principal has characters a query cannot take"))
		}
	}
	qs := fmt.Sprintf("fields @timestamp, @message | filter %s | sort @timestamp desc | limit %d", cond, activity.MaxScan)
	groups, errs := s.resolve(ctx)
	if len(groups) == 0 && len(errs) > 0 {
		return activity.Result{}, errors.Join(errs...)
	}
	res := activity.Result{Engine: Engine}
	var rows []activity.Row
	w := sources.Window{Start: q.Start, End: q.End}
	for _, g := range groups {
		out, err := s.runQuery(ctx, g, w, qs)
		if err != nil {
			return activity.Result{}, fmt.Errorf("cloudwatch: activity: %w", err)
		}
		if len(out) >= activity.MaxScan {
			res.Truncated = true
		}
		for _, row := range out {
			f := map[string]string{}
			for _, c := range row {
				f[sdkaws.ToString(c.Field)] = sdkaws.ToString(c.Value)
			}
			at, err := insightsTime(f["@timestamp"])
			if err != nil || at.Before(q.Start) || at.After(q.End) {
				continue
			}
			ev, err := sources.LogEvent("", strconv.FormatInt(at.UnixMilli(), 10), f["@message"], groupName(g), "", s.target.Account, s.name)
			if err != nil {
				res.Unreadable++
				continue
			}
			if ev.Raw == nil || !q.Matches(&ev) {
				continue
			}
			res.Total++
			rows = append(rows, activity.RowOf(&ev))
		}
	}
	res.Rows = activity.Pick(rows, limit, q.Anchor)
	return res, nil
}

var _ activity.Reader = (*Source)(nil)
