package sources

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	segjson "github.com/segmentio/encoding/json"
)

// ErrNotCloudTrail is returned by Normalize for input that cannot be
// judged as a CloudTrail record: it has no usable eventName.
var ErrNotCloudTrail = errors.New("not a CloudTrail record")

// Normalize turns one CloudTrail record (as JSON) into an Event. The raw
// bytes are kept in Event.Raw; the caller must not modify them afterwards.
//
// Normalize is lenient, because exports and third-party forwarders bend
// CloudTrail's shapes. It reads:
//   - eventTime as RFC 3339 with or without fractional seconds and zone,
//     with a space instead of the T, or as epoch seconds or milliseconds
//     (a JSON number or a numeric string, 10 or 13 digits before any
//     fraction); times without a zone are UTC;
//   - booleans written as strings ("true", "FALSE") or as 1 and 0;
//   - a one-element array where a single value is expected;
//   - a JSON number where a string is expected (an integral one is written
//     as a plain integer, so account ids read as 111122223333).
//
// Any other unusable field (an object where a string is expected, a
// missing or unreadable eventTime, a missing eventSource) is left empty
// and named in Event.Warnings; the record is still returned. Normalize
// fails, naming the problem, only when the record cannot be judged at
// all: it is not JSON, not a JSON object, or has no usable eventName
// (ErrNotCloudTrail).
func Normalize(raw []byte, source string) (Event, error) {
	if c := firstByte(raw); c != '{' {
		if !json.Valid(raw) {
			var v any
			return Event{}, fmt.Errorf("invalid JSON: %w", json.Unmarshal(raw, &v))
		}
		if c == 'n' {
			return Event{}, errors.New("not a JSON object: found null")
		}
		return Event{}, fmt.Errorf("not a JSON object: found %s: %s", kindOf(c), show(raw))
	}
	var r ctRecord
	var warns []string
	if err := strictDecode(raw, &r); err != nil {
		// A value of an unexpected type fails the strict decode, which
		// keeps the common, well-formed record fast; such a record is
		// read again, field by field.
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return Event{}, fmt.Errorf("invalid JSON: %w", err)
		}
		r = ctRecord{}
		if warns, err = looseRecord(raw, &r); err != nil {
			return Event{}, err
		}
	}
	return normalize(&r, raw, source, warns)
}

// strictDecode is the fast path's decode of a well-formed record. It uses
// segmentio/encoding's decoder, which on CloudTrail records is several
// times faster than encoding/json (see BenchmarkStrictDecode) and
// decodes into the same struct tags and UnmarshalJSON methods; a record
// it cannot decode is handed to encoding/json, so the choice between
// "invalid JSON" and the lenient path is unchanged (FuzzStrictDecode
// compares the two decoders). Strings are copied: one kept by a detector
// (a principal, an address) must not pin the whole record; only
// responseElements, read here and dropped, points into raw.
func strictDecode(raw []byte, r *ctRecord) error {
	rest, err := segjson.Parse(raw, r, segjson.DontCopyRawMessage)
	if err != nil || len(bytes.TrimLeft(rest, " \t\r\n")) > 0 {
		// Rare: a record the lenient path reads, or no JSON at all.
		// encoding/json decides which, as it always did (it reports
		// trailing data before a wrong type, for one).
		*r = ctRecord{}
		return json.Unmarshal(raw, r)
	}
	return nil
}

// decodeFields decodes a record into a map for Event.Field, with the
// decoder of strictDecode (about twice as fast as encoding/json into a
// map, see BenchmarkStrictDecode), strings copied. A record that is no
// JSON object gives an empty map.
func decodeFields(raw []byte) map[string]any {
	var m map[string]any
	if err := segjson.Unmarshal(raw, &m); err != nil || m == nil {
		return map[string]any{}
	}
	return m
}

// stdDecodeFields is decodeFields with encoding/json, to compare with.
func stdDecodeFields(raw []byte) map[string]any {
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return map[string]any{}
	}
	return m
}

// stdDecode is strictDecode with encoding/json, to compare with.
func stdDecode(raw []byte, r *ctRecord) error { return json.Unmarshal(raw, r) }

// ctRecord is the subset of a CloudTrail record that Normalize reads.
type ctRecord struct {
	EventTime        string          `json:"eventTime"`
	EventID          string          `json:"eventID"`
	EventSource      string          `json:"eventSource"`
	EventName        string          `json:"eventName"`
	EventType        string          `json:"eventType"`
	AWSRegion        string          `json:"awsRegion"`
	SourceIP         string          `json:"sourceIPAddress"`
	UserAgent        string          `json:"userAgent"`
	ErrorCode        string          `json:"errorCode"`
	ErrorMessage     string          `json:"errorMessage"`
	ReadOnly         jsonBool        `json:"readOnly"`
	Recipient        string          `json:"recipientAccountId"`
	UserIdentity     *identity       `json:"userIdentity"`
	Additional       *additionalData `json:"additionalEventData"`
	ResponseElements json.RawMessage `json:"responseElements"`
}

type additionalData struct {
	MFAUsed string `json:"MFAUsed"`
}

type identity struct {
	Type           string          `json:"type"`
	PrincipalID    string          `json:"principalId"`
	ARN            string          `json:"arn"`
	AccountID      string          `json:"accountId"`
	AccessKeyID    string          `json:"accessKeyId"`
	UserName       string          `json:"userName"`
	InvokedBy      string          `json:"invokedBy"`
	SessionContext *sessionContext `json:"sessionContext"`
}

type sessionContext struct {
	SessionIssuer *sessionIssuer     `json:"sessionIssuer"`
	Attributes    *sessionAttributes `json:"attributes"`
}

type sessionIssuer struct {
	UserName string `json:"userName"`
}

type sessionAttributes struct {
	MFAAuthenticated jsonBool `json:"mfaAuthenticated"`
}

// jsonBool accepts CloudTrail's booleans, which come as true/false or as
// the strings "true"/"false".
type jsonBool struct {
	Set   bool
	Value bool
}

var errNotBool = errors.New("not a boolean")

func (b *jsonBool) UnmarshalJSON(data []byte) error {
	switch string(data) {
	case "true", `"true"`:
		b.Set, b.Value = true, true
		return nil
	case "false", `"false"`:
		b.Set, b.Value = true, false
		return nil
	case "null", `""`:
		return nil
	}
	v, ok := parseBool(data)
	if !ok {
		// Normalize reads the record again leniently and warns.
		return errNotBool
	}
	*b = v
	return nil
}

func normalize(r *ctRecord, raw []byte, source string, warns []string) (Event, error) {
	if r.EventName == "" {
		return Event{}, fmt.Errorf("%w: missing eventName", ErrNotCloudTrail)
	}
	if r.EventSource == "" && !warned(warns, "eventSource") {
		warns = append(warns, "eventSource: missing")
	}
	var t time.Time
	switch {
	case r.EventTime != "":
		var ok bool
		if t, ok = parseTime(r.EventTime); !ok || t.IsZero() {
			warns = append(warns, fmt.Sprintf("eventTime: %q is not a time", truncate(r.EventTime, 40)))
		}
	case !warned(warns, "eventTime"):
		warns = append(warns, "eventTime: missing")
	}
	ev := Event{
		Time:         t,
		ID:           r.EventID,
		Source:       source,
		Account:      r.Recipient,
		Region:       r.AWSRegion,
		Service:      r.EventSource,
		Action:       r.EventName,
		EventType:    r.EventType,
		SourceIP:     r.SourceIP,
		UserAgent:    r.UserAgent,
		ErrorCode:    r.ErrorCode,
		ErrorMessage: r.ErrorMessage,
		ReadOnly:     r.ReadOnly.Value,
		Raw:          raw,
		Warnings:     warns,
	}
	if id := r.UserIdentity; id != nil {
		ev.Principal = Principal{ARN: id.ARN, Type: id.Type, AccountID: id.AccountID, AccessKeyID: id.AccessKeyID, InvokedBy: id.InvokedBy}
		ev.Principal.Name = principalName(id)
		if ev.Account == "" {
			ev.Account = id.AccountID
		}
		if sc := id.SessionContext; sc != nil && sc.Attributes != nil && sc.Attributes.MFAAuthenticated.Set {
			v := sc.Attributes.MFAAuthenticated.Value
			ev.MFA = &v
		}
	}
	if r.Additional != nil && r.Additional.MFAUsed != "" {
		v := strings.EqualFold(r.Additional.MFAUsed, "yes")
		ev.MFA = &v
	}
	if r.EventName == "ConsoleLogin" && len(r.ResponseElements) > 0 {
		if consoleLoginResult(r.ResponseElements) == "Failure" && ev.ErrorMessage == "" {
			ev.ErrorMessage = "Failed authentication"
		}
	}
	if ev.ID == "" {
		// CloudTrail always sets eventID; synthesise a stable one so dedup
		// still works for hand-made or truncated records.
		ev.ID = "synthetic-" + hashHex(raw)
	}
	return ev, nil
}

// consoleLoginResult returns responseElements.ConsoleLogin of a sign-in
// record: Success, Failure or empty.
func consoleLoginResult(raw json.RawMessage) string {
	var resp struct {
		ConsoleLogin string `json:"ConsoleLogin"`
	}
	if json.Unmarshal(raw, &resp) == nil {
		return resp.ConsoleLogin
	}
	var loose struct {
		ConsoleLogin json.RawMessage `json:"ConsoleLogin"`
	}
	if json.Unmarshal(raw, &loose) != nil {
		return ""
	}
	return (&lenient{}).str("responseElements.ConsoleLogin", loose.ConsoleLogin)
}

// warned reports whether a warning names field.
func warned(warns []string, field string) bool {
	for _, w := range warns {
		if strings.HasPrefix(w, field) && strings.HasPrefix(w[len(field):], ":") {
			return true
		}
	}
	return false
}

func principalName(id *identity) string {
	switch id.Type {
	case "Root":
		return "root"
	case "IAMUser":
		if id.UserName != "" {
			return id.UserName
		}
	case "AssumedRole":
		role := ""
		if sc := id.SessionContext; sc != nil && sc.SessionIssuer != nil {
			role = sc.SessionIssuer.UserName
		}
		session := ""
		if i := strings.LastIndex(id.ARN, "/"); i >= 0 {
			session = id.ARN[i+1:]
		}
		switch {
		case role != "" && session != "":
			return role + "/" + session
		case role != "":
			return role
		}
	case "AWSService":
		if id.InvokedBy != "" {
			return id.InvokedBy
		}
	}
	if id.UserName != "" {
		return id.UserName
	}
	if i := strings.LastIndex(id.ARN, "/"); i >= 0 {
		return id.ARN[i+1:]
	}
	if id.ARN != "" {
		return id.ARN
	}
	return id.PrincipalID
}

// truncate shortens s to at most n bytes, cut at a character boundary,
// marking the cut with an ellipsis.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
