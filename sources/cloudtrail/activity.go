package cloudtrail

import (
	"context"
	"fmt"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"

	"github.com/trailhound/trailhound/sources"
	"github.com/trailhound/trailhound/sources/activity"
	awssrc "github.com/trailhound/trailhound/sources/aws"
)

// Engine names LookupEvents in activity timelines.
const Engine = "CloudTrail LookupEvents"

// Scope implements activity.Reader: the source's account and region,
// management events of the last 90 days.
func (s *Source) Scope() activity.Scope {
	return activity.Scope{Engine: Engine, Rank: activity.RankLookupEvents, Account: s.target.Account, Region: s.target.Region, Retention: Retention}
}

// Activity implements activity.Reader with LookupEvents, by the access
// key id when the query has one, else by Username; it shares the
// source's client, limiter and retries. It reads at most activity.MaxScan
// events.
func (s *Source) Activity(ctx context.Context, q activity.Query, limit int) (activity.Result, error) {
	attr := types.LookupAttribute{AttributeKey: types.LookupAttributeKeyUsername, AttributeValue: sdkaws.String(q.UserName())}
	if k := q.KeyID(); k != "" {
		attr = types.LookupAttribute{AttributeKey: types.LookupAttributeKeyAccessKeyId, AttributeValue: sdkaws.String(k)}
	}
	if sdkaws.ToString(attr.AttributeValue) == "" {
		return activity.Result{}, sources.Classified(sources.ClassInvalid, fmt.Errorf("cloudtrail: activity: no user name or access key id to look up"))
	}
	in := &cloudtrail.LookupEventsInput{
		StartTime:        sdkaws.Time(q.Start),
		EndTime:          sdkaws.Time(q.End),
		LookupAttributes: []types.LookupAttribute{attr},
		MaxResults:       sdkaws.Int32(50),
	}
	res := activity.Result{Engine: Engine}
	var rows []activity.Row
	count := sources.FuncSink{OnMalformed: func(sources.Malformed) { res.Unreadable++ }}
	pages := cloudtrail.NewLookupEventsPaginator(s.client, in)
	for pages.HasMorePages() {
		out, err := pages.NextPage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return activity.Result{}, ctx.Err()
			}
			return activity.Result{}, awssrc.Wrap(err, "cloudtrail: activity: lookup events")
		}
		for _, e := range out.Events {
			ev, ok := s.event(e, count)
			if !ok || !q.Matches(&ev) {
				continue
			}
			res.Total++
			rows = append(rows, activity.RowOf(&ev))
		}
		if res.Total >= activity.MaxScan {
			res.Truncated = pages.HasMorePages()
			break
		}
	}
	res.Rows = activity.Pick(rows, limit, q.Anchor)
	return res, nil
}

var _ activity.Reader = (*Source)(nil)
