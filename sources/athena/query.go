package athena

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/trailhound/trailhound/sources"
)

// columns are the CloudTrail table's columns a query selects, in AWS's
// documented schema (see the README's table DDL), as SQL expressions
// with the name the row's value is read by. Struct and array columns are
// turned into JSON, whose field names are the table's lower-case ones;
// record() gives them back CloudTrail's spelling.
var columns = []struct{ expr, name string }{
	{"eventversion", "eventversion"},
	{"json_format(CAST(useridentity AS JSON))", "useridentity"},
	{"eventtime", "eventtime"},
	{"eventsource", "eventsource"},
	{"eventname", "eventname"},
	{"awsregion", "awsregion"},
	{"sourceipaddress", "sourceipaddress"},
	{"useragent", "useragent"},
	{"errorcode", "errorcode"},
	{"errormessage", "errormessage"},
	{"requestparameters", "requestparameters"},
	{"responseelements", "responseelements"},
	{"additionaleventdata", "additionaleventdata"},
	{"requestid", "requestid"},
	{"eventid", "eventid"},
	{"readonly", "readonly"},
	{"json_format(CAST(resources AS JSON))", "resources"},
	{"eventtype", "eventtype"},
	{"apiversion", "apiversion"},
	{"recipientaccountid", "recipientaccountid"},
	{"serviceeventdetails", "serviceeventdetails"},
	{"sharedeventid", "sharedeventid"},
	{"vpcendpointid", "vpcendpointid"},
	{"eventcategory", "eventcategory"},
	{"json_format(CAST(tlsdetails AS JSON))", "tlsdetails"},
}

// timeLayout is eventtime as CloudTrail writes it; such strings sort as
// the times they stand for, so a string comparison bounds the window.
const timeLayout = "2006-01-02T15:04:05Z"

// partitionLayout is the date partitions' format, yyyy/MM/dd.
const partitionLayout = "2006/01/02"

// Table says which table the queries read and how it is partitioned.
type Table struct {
	Catalog, Database, Table string
	Layout                   string
	Accounts, Regions        []string
}

// ref is the table's quoted name.
func (t Table) ref() string {
	return fmt.Sprintf(`%s.%s`, quoteIdent(t.Database), quoteIdent(t.Table))
}

// where is the predicate on partitions and eventtime that keeps a query
// to window w: the date partitions the window's records may have been
// delivered under, then the exact bounds on eventtime, start included and
// end excluded. CloudTrail files land under the date of their delivery,
// minutes after their events, so the day after the window's end is read
// too (as detectors/rules/pushdown does); for a poll ending now that
// partition is still empty and costs nothing.
func (t Table) where(w sources.Window) string {
	start, end := w.Start.UTC(), w.End.UTC()
	var conds []string
	conds = append(conds, fmt.Sprintf(`"timestamp" BETWEEN %s AND %s`, quote(start.Format(partitionLayout)), quote(end.Add(24*time.Hour).Format(partitionLayout))))
	if t.Layout == LayoutAccountRegionDate {
		if len(t.Accounts) > 0 {
			conds = append(conds, "account IN ("+quoteList(t.Accounts)+")")
		}
		if len(t.Regions) > 0 {
			conds = append(conds, "region IN ("+quoteList(t.Regions)+")")
		}
	}
	conds = append(conds, fmt.Sprintf("eventtime >= %s AND eventtime < %s", quote(start.Format(timeLayout)), quote(end.Format(timeLayout))))
	return strings.Join(conds, " AND ")
}

// EventsQuery returns the query for the events of w that may match: the
// columns a CloudTrail record needs, from the partitions of w, within w,
// where cond holds (a boolean SQL expression over the table's columns,
// the pushed-down rules; empty for every event), oldest first.
func (t Table) EventsQuery(w sources.Window, cond string) string {
	var sel []string
	for _, c := range columns {
		if c.expr == c.name {
			sel = append(sel, c.expr)
		} else {
			sel = append(sel, c.expr+" AS "+c.name)
		}
	}
	q := "SELECT " + strings.Join(sel, ", ") + "\nFROM " + t.ref() + "\nWHERE " + t.where(w)
	if cond = strings.TrimSpace(cond); cond != "" {
		q += "\n  AND (" + cond + ")"
	}
	return q + "\nORDER BY eventtime, eventid"
}

// EventNameCondition is the coarsest pushed-down condition: the event is
// one of names. nil names means any event (no condition); an empty
// non-nil list means none ("FALSE").
func EventNameCondition(names []string) string {
	if names == nil {
		return ""
	}
	if len(names) == 0 {
		return "FALSE"
	}
	sorted := append([]string(nil), names...)
	sort.Strings(sorted)
	return "eventname IN (" + quoteList(sorted) + ")"
}

// quote writes s as a SQL string literal.
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func quoteList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = quote(s)
	}
	return strings.Join(q, ", ")
}

// quoteIdent writes a validated identifier in double quotes.
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
