package athena

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/trailhound/trailhound/sources"
)

// Aggregate is one group of events an aggregate query counted: the calls
// of one principal, from one address and client, to one API with one
// outcome, in one hour. It carries what the anomaly baselines learn from
// an event, and no more.
type Aggregate struct {
	// Event is the group's representative: its fields are the group's,
	// its time the first event's, its id derived from the group.
	Event sources.Event
	// Count is how many events the group holds.
	Count int
	// Last is the time of the group's last event.
	Last time.Time
	// Sample is the id of the group's first event (min_by(eventid,
	// eventtime)), a real event to show as evidence.
	Sample string
}

// aggregateKeys are the columns an aggregate query groups by, as
// expressions and the names they are read by: every field the anomaly
// baselines read from an event (principal, account, region, address,
// client, API, read or write, outcome), and the hour.
var aggregateKeys = []struct{ expr, name string }{
	{"recipientaccountid", "recipientaccountid"},
	{"awsregion", "awsregion"},
	{"eventsource", "eventsource"},
	{"eventname", "eventname"},
	{"eventtype", "eventtype"},
	{"readonly", "readonly"},
	{"errorcode", "errorcode"},
	{"CASE WHEN eventname = 'ConsoleLogin' THEN errormessage END", "signinerror"},
	{"CASE WHEN eventname = 'ConsoleLogin' THEN json_extract_scalar(responseelements, '$.ConsoleLogin') END", "signinresult"},
	{"sourceipaddress", "sourceipaddress"},
	{"useragent", "useragent"},
	{"useridentity.type", "identitytype"},
	{"useridentity.arn", "identityarn"},
	{"useridentity.principalid", "principalid"},
	{"useridentity.accountid", "identityaccount"},
	{"useridentity.username", "username"},
	{"useridentity.invokedby", "invokedby"},
	{"useridentity.sessioncontext.sessionissuer.username", "issuer"},
	{"date_trunc('hour', from_iso8601_timestamp(eventtime))", "hour"},
}

// AggregateQuery returns the query counting the events of w by
// aggregateKeys, oldest hour first.
func (t Table) AggregateQuery(w sources.Window) string {
	var sel, group []string
	for i, k := range aggregateKeys {
		sel = append(sel, k.expr+" AS "+k.name)
		group = append(group, strconv.Itoa(i+1))
	}
	sel = append(sel, "count(*) AS n", "min(eventtime) AS first", "max(eventtime) AS last", "min_by(eventid, eventtime) AS sample")
	return "SELECT " + strings.Join(sel, ", ") + "\nFROM " + t.ref() + "\nWHERE " + t.where(w) +
		"\nGROUP BY " + strings.Join(group, ", ") + "\nORDER BY hour, first"
}

// Aggregates runs one aggregate query over w (a zero end being now) and
// hands each group to each, oldest hour first. Rows that cannot be read
// are reported to malformed. Athena returns one row per group instead of
// one per event, which is what makes learning a baseline of months
// affordable; what the query scanned is in the Stats.
func (s *Source) Aggregates(ctx context.Context, w sources.Window, each func(Aggregate) error, malformed func(sources.Malformed)) (Stats, error) {
	now := s.Now().UTC()
	if w.End.IsZero() || w.End.After(now) {
		w.End = now
	}
	w.Start, w.End = w.Start.UTC().Truncate(time.Second), w.End.UTC().Add(time.Second-1).Truncate(time.Second)
	n := 0
	st, err := s.Run(ctx, s.table.AggregateQuery(w), func(row map[string]*string) error {
		n++
		ag, err := s.aggregate(row)
		if err != nil {
			malformed(sources.Malformed{Where: fmt.Sprintf("athena %s.%s aggregate row %d", s.table.Database, s.table.Table, n), Offset: -1, Reason: err.Error()})
			return nil
		}
		if err := each(ag); err != nil {
			return sinkError{err}
		}
		return nil
	})
	return st, err
}

// aggregate turns one aggregate row into its representative event.
func (s *Source) aggregate(row map[string]*string) (Aggregate, error) {
	get := func(k string) string {
		if v := row[k]; v != nil {
			return *v
		}
		return ""
	}
	count, err := strconv.Atoi(get("n"))
	if err != nil || count < 1 {
		return Aggregate{}, fmt.Errorf("count %q is not a positive number", get("n"))
	}
	first, err := time.Parse(time.RFC3339, get("first"))
	if err != nil {
		return Aggregate{}, fmt.Errorf("first event time %q: %v", get("first"), err)
	}
	last, err := time.Parse(time.RFC3339, get("last"))
	if err != nil {
		return Aggregate{}, fmt.Errorf("last event time %q: %v", get("last"), err)
	}
	if last.Before(first) {
		return Aggregate{}, fmt.Errorf("last event time %s is before the first, %s", get("last"), get("first"))
	}
	rec := map[string]any{
		"eventTime": get("first"), "recipientAccountId": get("recipientaccountid"), "awsRegion": get("awsregion"),
		"eventSource": get("eventsource"), "eventName": get("eventname"), "eventType": get("eventtype"),
		"errorCode": get("errorcode"), "sourceIPAddress": get("sourceipaddress"), "userAgent": get("useragent"),
	}
	if ro := get("readonly"); ro == "true" || ro == "false" {
		rec["readOnly"] = ro == "true"
	}
	if v := get("signinerror"); v != "" {
		rec["errorMessage"] = v
	}
	if v := get("signinresult"); v != "" {
		rec["responseElements"] = map[string]string{"ConsoleLogin": v}
	}
	id := map[string]any{}
	for col, key := range map[string]string{"identitytype": "type", "identityarn": "arn", "principalid": "principalId",
		"identityaccount": "accountId", "username": "userName", "invokedby": "invokedBy"} {
		if v := get(col); v != "" {
			id[key] = v
		}
	}
	if v := get("issuer"); v != "" {
		id["sessionContext"] = map[string]any{"sessionIssuer": map[string]string{"userName": v}}
	}
	if len(id) > 0 {
		rec["userIdentity"] = id
	}
	for k, v := range rec {
		if v == "" {
			delete(rec, k)
		}
	}
	keys := make([]string, 0, len(aggregateKeys))
	for _, k := range aggregateKeys {
		keys = append(keys, get(k.name))
	}
	sum := sha256.Sum256([]byte(strings.Join(keys, "\x00")))
	rec["eventID"] = "athena-aggregate-" + hex.EncodeToString(sum[:12])
	raw, _ := json.Marshal(rec)
	ev, err := sources.Normalize(raw, s.name)
	if err != nil {
		return Aggregate{}, err
	}
	return Aggregate{Event: ev, Count: count, Last: last.UTC(), Sample: get("sample")}, nil
}

// count runs the aggregate query of the poll window w, widened back to
// the start of its first hour so that each group counts every event of
// its hour up to w.End, and hands each group to sink as one event with a
// Tally, for the counting (anomaly) detectors. The group's id carries
// its count, so a group read again unchanged is one the poller has
// already seen, and a group that grew is judged again only for its new
// events (the detectors know the copies by the group's key and rank).
func (s *Source) count(ctx context.Context, w sources.Window, sink sources.Sink) error {
	w.Start = w.Start.Truncate(time.Hour)
	st, err := s.Aggregates(ctx, w, func(ag Aggregate) error {
		ev := ag.Event
		ev.Tally = &sources.Tally{Count: ag.Count, Last: ag.Last, Key: ev.ID, Sample: ag.Sample}
		ev.ID = ev.ID + "/" + strconv.Itoa(ag.Count)
		return sink.Event(ctx, &ev)
	}, sink.Malformed)
	if st.ID != "" {
		sources.ReportScanned(sink, st.BytesScanned)
	}
	return err
}
