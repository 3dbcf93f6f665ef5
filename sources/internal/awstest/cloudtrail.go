package awstest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// CloudTrail is an httptest server speaking CloudTrail's JSON 1.1 protocol
// for LookupEvents, shaped like AWS's documented responses: newest events
// first, at most MaxResults (default 50) per page, an opaque NextToken,
// errors as {"__type": ..., "message": ...}. Tests add records, queue
// failures (throttling, 5xx, access denied) and read the requests back.
type CloudTrail struct {
	URL string

	mu       sync.Mutex
	events   []ctEvent
	failures []Failure
	requests []LookupRequest
	// failAfter, when positive, fails every request after that many
	// with failWith.
	failAfter int
	failWith  Failure
	// failWhen fails the requests it matches with failWhenWith.
	failWhen     func(LookupRequest) bool
	failWhenWith Failure
}

// FailWhen makes every request that match accepts fail with f; nil turns
// it off.
func (c *CloudTrail) FailWhen(match func(LookupRequest) bool, f Failure) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.failWhen, c.failWhenWith = match, f
}

// Failure is an error response.
type Failure struct {
	Status  int
	Code    string
	Message string
}

// Common failures.
var (
	Throttled    = Failure{400, "ThrottlingException", "Rate exceeded"}
	Unavailable  = Failure{503, "ServiceUnavailableException", "Service is unavailable"}
	InternalErr  = Failure{500, "InternalFailure", "An internal error occurred"}
	AccessDenied = Failure{400, "AccessDeniedException", "User: arn:aws:iam::111122223333:user/reader is not authorized to perform: cloudtrail:LookupEvents"}
)

// LookupRequest is one LookupEvents request as the server read it.
type LookupRequest struct {
	At         time.Time
	Start, End time.Time
	NextToken  string
	MaxResults int
	Attributes []map[string]string
	Status     int
	Returned   int
}

type ctEvent struct {
	time                  time.Time
	id, name, src, user   string
	readOnly, accessKeyID string
	raw                   string
}

// NewCloudTrail starts the server, closed on cleanup.
func NewCloudTrail(t testing.TB) *CloudTrail {
	c := &CloudTrail{}
	srv := httptest.NewServer(http.HandlerFunc(c.serve))
	t.Cleanup(srv.Close)
	c.URL = srv.URL
	return c
}

// Add makes CloudTrail records (as JSON) visible to LookupEvents from now
// on, as when CloudTrail delivers them, possibly late.
func (c *CloudTrail) Add(records ...[]byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, raw := range records {
		var r struct {
			EventTime   time.Time `json:"eventTime"`
			EventID     string    `json:"eventID"`
			EventName   string    `json:"eventName"`
			EventSource string    `json:"eventSource"`
			ReadOnly    any       `json:"readOnly"`
			Identity    struct {
				UserName    string `json:"userName"`
				AccessKeyID string `json:"accessKeyId"`
			} `json:"userIdentity"`
		}
		if err := json.Unmarshal(raw, &r); err != nil {
			return fmt.Errorf("record: %w", err)
		}
		ro := "false"
		if fmt.Sprint(r.ReadOnly) == "true" {
			ro = "true"
		}
		c.events = append(c.events, ctEvent{time: r.EventTime.UTC(), id: r.EventID, name: r.EventName, src: r.EventSource,
			user: r.Identity.UserName, readOnly: ro, accessKeyID: r.Identity.AccessKeyID, raw: string(raw)})
	}
	return nil
}

// AddRaw adds a LookupEvents result whose CloudTrailEvent is raw as it
// is, for malformed-record tests.
func (c *CloudTrail) AddRaw(id string, at time.Time, raw string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.events = append(c.events, ctEvent{time: at.UTC(), id: id, name: "Unknown", src: "unknown", readOnly: "false", raw: raw})
}

// Fail queues failures: the next requests get them, in order.
func (c *CloudTrail) Fail(fs ...Failure) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.failures = append(c.failures, fs...)
}

// FailAfter makes every request after the first n fail with f; n < 0
// turns it off.
func (c *CloudTrail) FailAfter(n int, f Failure) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.failAfter, c.failWith = n, f
	if n < 0 {
		c.failAfter = 0
	}
}

// Requests returns the requests received so far.
func (c *CloudTrail) Requests() []LookupRequest {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]LookupRequest(nil), c.requests...)
}

func writeError(w http.ResponseWriter, f Failure) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-ErrorType", f.Code)
	w.WriteHeader(f.Status)
	json.NewEncoder(w).Encode(map[string]string{"__type": f.Code, "message": f.Message})
}

func epoch(v *float64) time.Time {
	if v == nil {
		return time.Time{}
	}
	sec, frac := math.Modf(*v)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC()
}

type ctToken struct {
	Time int64  `json:"t"`
	ID   string `json:"i"`
	Q    string `json:"q"`
}

func (c *CloudTrail) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.Header.Get("X-Amz-Target") != "CloudTrail_20131101.LookupEvents" {
		writeError(w, Failure{400, "UnknownOperationException", "unknown operation " + r.Header.Get("X-Amz-Target")})
		return
	}
	if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
		writeError(w, Failure{400, "MissingAuthenticationTokenException", "Missing Authentication Token"})
		return
	}
	body, _ := io.ReadAll(r.Body)
	var in struct {
		StartTime        *float64 `json:"StartTime"`
		EndTime          *float64 `json:"EndTime"`
		MaxResults       *int     `json:"MaxResults"`
		NextToken        string   `json:"NextToken"`
		LookupAttributes []struct {
			AttributeKey   string `json:"AttributeKey"`
			AttributeValue string `json:"AttributeValue"`
		} `json:"LookupAttributes"`
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	req := LookupRequest{At: time.Now()}
	respond := func(f Failure) {
		req.Status = f.Status
		c.requests = append(c.requests, req)
		writeError(w, f)
	}
	if err := json.Unmarshal(body, &in); err != nil {
		respond(Failure{400, "SerializationException", "invalid JSON body"})
		return
	}
	req.Start, req.End, req.NextToken = epoch(in.StartTime), epoch(in.EndTime), in.NextToken
	req.MaxResults = 50
	if in.MaxResults != nil {
		req.MaxResults = *in.MaxResults
	}
	for _, a := range in.LookupAttributes {
		req.Attributes = append(req.Attributes, map[string]string{a.AttributeKey: a.AttributeValue})
	}
	if len(c.failures) > 0 {
		f := c.failures[0]
		c.failures = c.failures[1:]
		respond(f)
		return
	}
	if c.failWhen != nil && c.failWhen(req) {
		respond(c.failWhenWith)
		return
	}
	if c.failAfter > 0 && len(c.requests) >= c.failAfter {
		respond(c.failWith)
		return
	}
	switch {
	case req.MaxResults < 1 || req.MaxResults > 50:
		respond(Failure{400, "InvalidMaxResultsException", "MaxResults must be between 1 and 50"})
		return
	case !req.Start.IsZero() && !req.End.IsZero() && req.Start.After(req.End):
		respond(Failure{400, "InvalidTimeRangeException", "Start time must be before end time"})
		return
	case len(in.LookupAttributes) > 1:
		respond(Failure{400, "InvalidLookupAttributesException", "You can only specify one lookup attribute"})
		return
	}
	q := fmt.Sprintf("%v|%v|%v", req.Start.Unix(), req.End.Unix(), req.Attributes)
	var matched []ctEvent
	for _, e := range c.events {
		if !req.Start.IsZero() && e.time.Before(req.Start) || !req.End.IsZero() && e.time.After(req.End) {
			continue
		}
		if len(in.LookupAttributes) == 1 && !attrMatches(e, in.LookupAttributes[0].AttributeKey, in.LookupAttributes[0].AttributeValue) {
			continue
		}
		matched = append(matched, e)
	}
	sort.Slice(matched, func(i, j int) bool {
		if !matched[i].time.Equal(matched[j].time) {
			return matched[i].time.After(matched[j].time)
		}
		return matched[i].id > matched[j].id
	})
	if in.NextToken != "" {
		var tok ctToken
		b, err := base64.RawURLEncoding.DecodeString(in.NextToken)
		if err != nil || json.Unmarshal(b, &tok) != nil || tok.Q != q {
			respond(Failure{400, "InvalidNextTokenException", "Invalid NextToken"})
			return
		}
		// Resume strictly after the last event returned, so events that
		// arrive between pages neither shift nor repeat the listing.
		i := 0
		for i < len(matched) && (matched[i].time.UnixNano() > tok.Time || matched[i].time.UnixNano() == tok.Time && matched[i].id >= tok.ID) {
			i++
		}
		matched = matched[i:]
	}
	page := matched
	next := ""
	if len(page) > req.MaxResults {
		page = page[:req.MaxResults]
		last := page[len(page)-1]
		b, _ := json.Marshal(ctToken{Time: last.time.UnixNano(), ID: last.id, Q: q})
		next = base64.RawURLEncoding.EncodeToString(b)
	}
	type outEvent struct {
		EventID         string  `json:"EventId"`
		EventName       string  `json:"EventName"`
		ReadOnly        string  `json:"ReadOnly"`
		AccessKeyID     string  `json:"AccessKeyId,omitempty"`
		EventTime       float64 `json:"EventTime"`
		EventSource     string  `json:"EventSource"`
		Username        string  `json:"Username,omitempty"`
		Resources       []any   `json:"Resources"`
		CloudTrailEvent string  `json:"CloudTrailEvent"`
	}
	out := struct {
		Events    []outEvent `json:"Events"`
		NextToken string     `json:"NextToken,omitempty"`
	}{Events: []outEvent{}, NextToken: next}
	for _, e := range page {
		out.Events = append(out.Events, outEvent{EventID: e.id, EventName: e.name, ReadOnly: e.readOnly, AccessKeyID: e.accessKeyID,
			EventTime: float64(e.time.UnixNano()) / 1e9, EventSource: e.src, Username: e.user, Resources: []any{}, CloudTrailEvent: e.raw})
	}
	req.Status, req.Returned = 200, len(page)
	c.requests = append(c.requests, req)
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	json.NewEncoder(w).Encode(out)
}

func attrMatches(e ctEvent, key, value string) bool {
	switch key {
	case "EventId":
		return e.id == value
	case "EventName":
		return e.name == value
	case "EventSource":
		return e.src == value
	case "ReadOnly":
		return e.readOnly == value
	case "Username":
		return e.user == value
	case "AccessKeyId":
		return e.accessKeyID == value
	}
	return false
}
