package sources

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// This file reads CloudTrail records whose values have unexpected types:
// the slow path of Normalize, taken only when the record does not decode
// into ctRecord as it stands.

// looseCT is ctRecord with every field kept as raw JSON, so that decoding
// cannot fail on a type.
type looseCT struct {
	EventTime        json.RawMessage `json:"eventTime"`
	EventID          json.RawMessage `json:"eventID"`
	EventSource      json.RawMessage `json:"eventSource"`
	EventName        json.RawMessage `json:"eventName"`
	EventType        json.RawMessage `json:"eventType"`
	AWSRegion        json.RawMessage `json:"awsRegion"`
	SourceIP         json.RawMessage `json:"sourceIPAddress"`
	UserAgent        json.RawMessage `json:"userAgent"`
	ErrorCode        json.RawMessage `json:"errorCode"`
	ErrorMessage     json.RawMessage `json:"errorMessage"`
	ReadOnly         json.RawMessage `json:"readOnly"`
	Recipient        json.RawMessage `json:"recipientAccountId"`
	UserIdentity     json.RawMessage `json:"userIdentity"`
	Additional       json.RawMessage `json:"additionalEventData"`
	ResponseElements json.RawMessage `json:"responseElements"`
}

type looseIdentity struct {
	Type           json.RawMessage `json:"type"`
	PrincipalID    json.RawMessage `json:"principalId"`
	ARN            json.RawMessage `json:"arn"`
	AccountID      json.RawMessage `json:"accountId"`
	AccessKeyID    json.RawMessage `json:"accessKeyId"`
	UserName       json.RawMessage `json:"userName"`
	InvokedBy      json.RawMessage `json:"invokedBy"`
	SessionContext json.RawMessage `json:"sessionContext"`
}

type looseSession struct {
	SessionIssuer json.RawMessage `json:"sessionIssuer"`
	Attributes    json.RawMessage `json:"attributes"`
}

// looseRecord fills r from raw, a JSON object, converting what it can and
// returning a warning for each field it could not use. It fails only when
// raw is not a JSON object or eventName is unusable.
func looseRecord(raw []byte, r *ctRecord) ([]string, error) {
	var lr looseCT
	if err := json.Unmarshal(raw, &lr); err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	l := &lenient{}
	r.EventName = l.str("eventName", lr.EventName)
	if r.EventName == "" && len(l.warns) > 0 {
		return nil, fmt.Errorf("%w: %s", ErrNotCloudTrail, l.warns[0])
	}
	r.EventTime = l.str("eventTime", lr.EventTime)
	r.EventID = l.str("eventID", lr.EventID)
	r.EventSource = l.str("eventSource", lr.EventSource)
	r.EventType = l.str("eventType", lr.EventType)
	r.AWSRegion = l.str("awsRegion", lr.AWSRegion)
	r.SourceIP = l.str("sourceIPAddress", lr.SourceIP)
	r.UserAgent = l.str("userAgent", lr.UserAgent)
	r.ErrorCode = l.str("errorCode", lr.ErrorCode)
	r.ErrorMessage = l.str("errorMessage", lr.ErrorMessage)
	r.ReadOnly = l.boolean("readOnly", lr.ReadOnly)
	r.Recipient = l.str("recipientAccountId", lr.Recipient)
	r.UserIdentity = l.identity(lr.UserIdentity)
	if obj := l.object("additionalEventData", lr.Additional); obj != nil {
		var a struct {
			MFAUsed json.RawMessage `json:"MFAUsed"`
		}
		_ = json.Unmarshal(obj, &a) // an object: cannot fail
		r.Additional = &additionalData{MFAUsed: l.str("additionalEventData.MFAUsed", a.MFAUsed)}
	}
	r.ResponseElements = lr.ResponseElements
	return l.warns, nil
}

// lenient converts raw JSON values to the types a CloudTrail record should
// have, collecting a warning for each value it cannot use.
type lenient struct {
	warns []string
}

func (l *lenient) warn(field, format string, args ...any) {
	l.warns = append(l.warns, field+": "+fmt.Sprintf(format, args...))
}

// str reads a string: a string as is, a number as its text (an integral
// one as a plain integer), the element of a one-element array. Absent and
// null are empty without a warning; anything else is empty with one.
func (l *lenient) str(field string, raw json.RawMessage) string {
	raw = l.single(field, raw, "a string")
	if raw == nil {
		return ""
	}
	switch c := raw[0]; {
	case c == '"':
		var s string
		_ = json.Unmarshal(raw, &s) // valid JSON from the outer decode
		return s
	case c == '-' || c >= '0' && c <= '9':
		return numberText(raw)
	default:
		l.warn(field, "%s where a string was expected: %s", kindOf(c), show(raw))
		return ""
	}
}

// boolean reads a boolean: true and false, as JSON or as strings in any
// case, 1 and 0, or the element of a one-element array.
func (l *lenient) boolean(field string, raw json.RawMessage) jsonBool {
	raw = l.single(field, raw, "a boolean")
	if raw == nil {
		return jsonBool{}
	}
	b, ok := parseBool(raw)
	if !ok {
		l.warn(field, "%s is not a boolean", show(raw))
	}
	return b
}

// object returns raw when it is a JSON object, or the object in a
// one-element array; nil, with a warning unless it is absent or null,
// otherwise.
func (l *lenient) object(field string, raw json.RawMessage) json.RawMessage {
	raw = l.single(field, raw, "an object")
	if raw == nil {
		return nil
	}
	if raw[0] != '{' {
		l.warn(field, "%s where an object was expected: %s", kindOf(raw[0]), show(raw))
		return nil
	}
	return raw
}

// single trims raw and unwraps a one-element array. It returns nil for an
// absent or null value, and, with a warning, for an array of any other
// length or one holding an array.
func (l *lenient) single(field string, raw json.RawMessage, want string) json.RawMessage {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] == 'n' {
		return nil
	}
	if raw[0] != '[' {
		return raw
	}
	var elems []json.RawMessage
	_ = json.Unmarshal(raw, &elems) // valid JSON from the outer decode
	if len(elems) != 1 {
		l.warn(field, "an array of %d values where %s was expected: %s", len(elems), want, show(raw))
		return nil
	}
	e := bytes.TrimSpace(elems[0])
	switch {
	case len(e) == 0 || e[0] == 'n':
		return nil
	case e[0] == '[':
		l.warn(field, "nested arrays where %s was expected: %s", want, show(raw))
		return nil
	}
	return e
}

func (l *lenient) identity(raw json.RawMessage) *identity {
	obj := l.object("userIdentity", raw)
	if obj == nil {
		return nil
	}
	var li looseIdentity
	_ = json.Unmarshal(obj, &li) // an object: cannot fail
	id := &identity{
		Type:        l.str("userIdentity.type", li.Type),
		PrincipalID: l.str("userIdentity.principalId", li.PrincipalID),
		ARN:         l.str("userIdentity.arn", li.ARN),
		AccountID:   l.str("userIdentity.accountId", li.AccountID),
		AccessKeyID: l.str("userIdentity.accessKeyId", li.AccessKeyID),
		UserName:    l.str("userIdentity.userName", li.UserName),
		InvokedBy:   l.str("userIdentity.invokedBy", li.InvokedBy),
	}
	sc := l.object("userIdentity.sessionContext", li.SessionContext)
	if sc == nil {
		return id
	}
	var ls looseSession
	_ = json.Unmarshal(sc, &ls)
	id.SessionContext = &sessionContext{}
	if iss := l.object("userIdentity.sessionContext.sessionIssuer", ls.SessionIssuer); iss != nil {
		var v struct {
			UserName json.RawMessage `json:"userName"`
		}
		_ = json.Unmarshal(iss, &v)
		id.SessionContext.SessionIssuer = &sessionIssuer{UserName: l.str("userIdentity.sessionContext.sessionIssuer.userName", v.UserName)}
	}
	if attrs := l.object("userIdentity.sessionContext.attributes", ls.Attributes); attrs != nil {
		var v struct {
			MFAAuthenticated json.RawMessage `json:"mfaAuthenticated"`
		}
		_ = json.Unmarshal(attrs, &v)
		id.SessionContext.Attributes = &sessionAttributes{MFAAuthenticated: l.boolean("userIdentity.sessionContext.attributes.mfaAuthenticated", v.MFAAuthenticated)}
	}
	return id
}

// parseBool reads true or false, bare or quoted in any case, and 1 or 0,
// bare or quoted (and the other spellings strconv.ParseBool knows). A null
// or empty string is unset.
func parseBool(raw []byte) (jsonBool, bool) {
	s := string(bytes.TrimSpace(raw))
	if len(s) >= 2 && s[0] == '"' {
		if err := json.Unmarshal([]byte(s), &s); err != nil {
			return jsonBool{}, false
		}
		s = strings.TrimSpace(s)
	}
	switch {
	case s == "" || s == "null":
		return jsonBool{}, true
	case strings.EqualFold(s, "true"):
		return jsonBool{Set: true, Value: true}, true
	case strings.EqualFold(s, "false"):
		return jsonBool{Set: true, Value: false}, true
	}
	v, err := strconv.ParseBool(s)
	if err != nil {
		return jsonBool{}, false
	}
	return jsonBool{Set: true, Value: v}, true
}

// numberText formats a JSON number for a string field: a plain integer
// when the number is integral and exactly representable (account ids
// written 111122223333 or 1.11122223333e11), its literal text otherwise.
func numberText(raw []byte) string {
	lit := string(raw)
	if isDigits(strings.TrimPrefix(lit, "-")) {
		return lit
	}
	f, err := strconv.ParseFloat(lit, 64)
	if err == nil && f == math.Trunc(f) && math.Abs(f) <= 1<<53 {
		return strconv.FormatInt(int64(f), 10)
	}
	return lit
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// parseTime reads an eventTime: RFC 3339 with or without fractional
// seconds and zone, "T" or a space between date and time, a zone as Z,
// UTC, ±hh:mm, ±hhmm or ±hh (none means UTC); or epoch seconds or
// milliseconds, with an optional fraction. The result is in UTC.
func parseTime(s string) (time.Time, bool) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), true
	}
	s = strings.TrimSpace(s)
	if t, ok := parseEpoch(s); ok {
		return t, true
	}
	if len(s) < 19 || s[4] != '-' || s[7] != '-' || s[13] != ':' || s[16] != ':' {
		return time.Time{}, false
	}
	switch s[10] {
	case 'T', 't', ' ':
	default:
		return time.Time{}, false
	}
	var b strings.Builder
	b.WriteString(s[:10])
	b.WriteByte('T')
	b.WriteString(s[11:19])
	rest := s[19:]
	if len(rest) > 0 && (rest[0] == '.' || rest[0] == ',') {
		i := 1
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 1 {
			return time.Time{}, false
		}
		b.WriteByte('.')
		b.WriteString(rest[1:min(i, 10)]) // nanoseconds at most
		rest = rest[i:]
	}
	rest = strings.TrimSpace(rest)
	switch {
	case rest == "" || rest == "Z" || rest == "z" || strings.EqualFold(rest, "UTC") || strings.EqualFold(rest, "GMT"):
		b.WriteByte('Z')
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		b.WriteString(rest)
	case len(rest) == 5 && (rest[0] == '+' || rest[0] == '-') && isDigits(rest[1:]):
		b.WriteString(rest[:3] + ":" + rest[3:])
	case len(rest) == 3 && (rest[0] == '+' || rest[0] == '-') && isDigits(rest[1:]):
		b.WriteString(rest + ":00")
	default:
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, b.String())
	if err != nil {
		return time.Time{}, false
	}
	return t.UTC(), true
}

// parseEpoch reads a number of seconds or milliseconds since the Unix
// epoch, optionally with a fraction, told apart by size: seconds from 1e9
// and milliseconds from 1e12, each up to ten times that (the years 2001 to
// 2286). Other numbers, such as 20221211194255, are refused rather than
// guessed.
func parseEpoch(s string) (time.Time, bool) {
	whole, frac, _ := strings.Cut(s, ".")
	if !isDigits(whole) || frac != "" && !isDigits(frac) || len(whole) > 14 {
		return time.Time{}, false
	}
	n, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	// nanos is the fraction of one unit, in billionths of that unit.
	var nanos int64
	if frac != "" {
		nanos, _ = strconv.ParseInt((frac + "000000000")[:9], 10, 64)
	}
	switch {
	case n >= 1e9 && n < 1e10:
		return time.Unix(n, nanos).UTC(), true
	case n >= 1e12 && n < 1e13:
		return time.UnixMilli(n).Add(time.Duration(nanos / 1e3)).UTC(), true
	}
	return time.Time{}, false
}

// firstByte returns the first byte of b that is not JSON white space, 0
// if there is none.
func firstByte(b []byte) byte {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return c
	}
	return 0
}

// kindOf names the JSON type a value starting with c has.
func kindOf(c byte) string {
	switch {
	case c == '{':
		return "an object"
	case c == '[':
		return "an array"
	case c == '"':
		return "a string"
	case c == 't' || c == 'f':
		return "a boolean"
	case c == 'n':
		return "null"
	case c == '-' || c >= '0' && c <= '9':
		return "a number"
	}
	return "nothing"
}

// show renders a JSON value for a message: compact, at most 40 bytes.
func show(raw []byte) string {
	var buf bytes.Buffer
	if json.Compact(&buf, raw) == nil {
		raw = buf.Bytes()
	}
	return truncate(string(raw), 40)
}
