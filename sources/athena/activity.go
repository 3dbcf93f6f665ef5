package athena

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/trailhound/trailhound/sources"
	"github.com/trailhound/trailhound/sources/activity"
)

// Engine names Athena in activity timelines.
const Engine = "Athena"

// Scope implements activity.Reader: the table may hold every account and
// region of an organisation trail, as far back as its files go.
func (s *Source) Scope() activity.Scope {
	return activity.Scope{Engine: Engine, Rank: activity.RankAthena}
}

// errEnough stops reading once activity.MaxScan calls are held.
var errEnough = errors.New("enough rows")

// Activity implements activity.Reader with one events query over the
// window whose condition names the principal (and the account and region
// when the query has them); every row is checked again, as the table's
// queries may be coarser. It reads at most activity.MaxScan calls.
func (s *Source) Activity(ctx context.Context, q activity.Query, limit int) (activity.Result, error) {
	var conds []string
	switch {
	case q.KeyID() != "":
		conds = append(conds, "useridentity.accesskeyid = "+quote(q.KeyID()))
	case q.ARN != "":
		conds = append(conds, "useridentity.arn = "+quote(q.ARN))
	case strings.HasPrefix(q.Principal, "arn:"):
		conds = append(conds, "useridentity.arn = "+quote(q.Principal))
	default:
		conds = append(conds, fmt.Sprintf("(useridentity.username = %s OR useridentity.arn LIKE %s)", quote(q.UserName()), quote("%/"+q.UserName())))
	}
	if q.Account != "" {
		conds = append(conds, "recipientaccountid = "+quote(q.Account))
	}
	if q.Region != "" {
		conds = append(conds, "awsregion = "+quote(q.Region))
	}
	res := activity.Result{Engine: Engine}
	var rows []activity.Row
	sink := sources.FuncSink{
		OnEvent: func(_ context.Context, ev *sources.Event) error {
			if !q.Matches(ev) {
				return nil
			}
			if res.Total >= activity.MaxScan {
				res.Truncated = true
				return errEnough
			}
			res.Total++
			rows = append(rows, activity.RowOf(ev))
			return nil
		},
		OnMalformed: func(sources.Malformed) { res.Unreadable++ },
	}
	err := s.FetchRangeWhere(ctx, sources.Window{Start: q.Start, End: q.End}, strings.Join(conds, " AND "), sink)
	if err != nil && !errors.Is(err, errEnough) {
		return activity.Result{}, fmt.Errorf("athena: activity: %w", err)
	}
	res.Rows = activity.Pick(rows, limit, q.Anchor)
	return res, nil
}

var _ activity.Reader = (*Source)(nil)
