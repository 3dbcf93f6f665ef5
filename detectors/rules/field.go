package rules

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/trailhound/trailhound/sources"
)

// normField reads one normalised field of an event without allocating.
// The names and values are those of sources.Event.Field.
type normField func(ev *sources.Event) (string, bool)

// normFields are the normalised field names sources.Event.Field knows;
// anything else is a path into the raw CloudTrail record.
var normFields = map[string]normField{
	"id":                      func(e *sources.Event) (string, bool) { return e.ID, e.ID != "" },
	"source":                  func(e *sources.Event) (string, bool) { return e.Source, e.Source != "" },
	"account":                 func(e *sources.Event) (string, bool) { return e.Account, e.Account != "" },
	"region":                  func(e *sources.Event) (string, bool) { return e.Region, e.Region != "" },
	"action":                  func(e *sources.Event) (string, bool) { return e.Action, e.Action != "" },
	"service":                 func(e *sources.Event) (string, bool) { return e.Service, e.Service != "" },
	"source_ip":               func(e *sources.Event) (string, bool) { return e.SourceIP, e.SourceIP != "" },
	"user_agent":              func(e *sources.Event) (string, bool) { return e.UserAgent, e.UserAgent != "" },
	"error_code":              func(e *sources.Event) (string, bool) { return e.ErrorCode, e.ErrorCode != "" },
	"error_message":           func(e *sources.Event) (string, bool) { return e.ErrorMessage, e.ErrorMessage != "" },
	"principal.type":          func(e *sources.Event) (string, bool) { return e.Principal.Type, e.Principal.Type != "" },
	"principal.arn":           func(e *sources.Event) (string, bool) { return e.Principal.ARN, e.Principal.ARN != "" },
	"principal.name":          func(e *sources.Event) (string, bool) { return e.Principal.Name, e.Principal.Name != "" },
	"principal.account_id":    func(e *sources.Event) (string, bool) { return e.Principal.AccountID, e.Principal.AccountID != "" },
	"principal.access_key_id": func(e *sources.Event) (string, bool) { return e.Principal.AccessKeyID, e.Principal.AccessKeyID != "" },
	"message":                 func(e *sources.Event) (string, bool) { return e.Message, e.Message != "" },
	"log_group":               func(e *sources.Event) (string, bool) { return e.LogGroup, e.LogGroup != "" },
	"log_stream":              func(e *sources.Event) (string, bool) { return e.LogStream, e.LogStream != "" },
	"event_type":              func(e *sources.Event) (string, bool) { return e.EventType, e.EventType != "" },
	"mfa": func(e *sources.Event) (string, bool) {
		if e.MFA == nil {
			return "", false
		}
		return strconv.FormatBool(*e.MFA), true
	},
	"read_only": func(e *sources.Event) (string, bool) {
		return strconv.FormatBool(e.ReadOnly), len(e.Raw) > 0
	},
	"failed": func(e *sources.Event) (string, bool) {
		return strconv.FormatBool(e.Failed()), len(e.Raw) > 0
	},
	"by_service":        byService,
	"deployer":          deployer,
	"principal.session": principalSession,
	"iac_client":        iacClient,
	"time": func(e *sources.Event) (string, bool) {
		if e.Time.IsZero() {
			return "", false
		}
		return e.Time.UTC().Format(time.RFC3339), true
	},
}

// NormalizedFields returns the normalised field names a rule may use,
// besides raw CloudTrail paths.
func NormalizedFields() []string {
	out := make([]string, 0, len(normFields))
	for n := range normFields {
		out = append(out, n)
	}
	return out
}

// accessor reads a field of an event: a normalised field, or a dotted path
// into the raw CloudTrail record whose arrays are searched element by
// element.
type accessor struct {
	path string
	norm normField
	top  string   // first segment of a raw path
	rest []string // remaining segments
}

func newAccessor(path string) *accessor {
	a := &accessor{path: path}
	if f, ok := normFields[path]; ok {
		a.norm = f
		return a
	}
	segs := strings.Split(path, ".")
	a.top, a.rest = segs[0], segs[1:]
	return a
}

// raw reports whether the accessor reads the raw record, which is parsed
// on first use and so costs more than a normalised field.
func (a *accessor) raw() bool { return a.norm == nil }

// root returns the value at the accessor's first raw segment.
func (a *accessor) root(ev *sources.Event) (any, bool) {
	return ev.Field(a.top)
}

// present reports whether the field has a non-null value.
func (a *accessor) present(ev *sources.Event) bool {
	if a.norm != nil {
		_, ok := a.norm(ev)
		return ok
	}
	v, ok := a.root(ev)
	if !ok {
		return false
	}
	return walkPresent(v, a.rest)
}

func walkPresent(v any, segs []string) bool {
	for i, s := range segs {
		switch x := v.(type) {
		case map[string]any:
			nv, ok := x[s]
			if !ok || nv == nil {
				return false
			}
			v = nv
		case []any:
			for _, el := range x {
				if walkPresent(el, segs[i:]) {
					return true
				}
			}
			return false
		default:
			return false
		}
	}
	return v != nil
}

// first returns the field's first value as text, for templates and keys.
func (a *accessor) first(ev *sources.Event) (string, bool) {
	if a.norm != nil {
		return a.norm(ev)
	}
	vals := a.all(ev, nil)
	if len(vals) == 0 {
		return "", false
	}
	return vals[0], true
}

// all appends every value of the field, as text, to dst. Arrays on the
// path or at its end contribute each element.
func (a *accessor) all(ev *sources.Event, dst []string) []string {
	if a.norm != nil {
		if s, ok := a.norm(ev); ok {
			dst = append(dst, s)
		}
		return dst
	}
	v, ok := a.root(ev)
	if !ok {
		return dst
	}
	return walkAll(v, a.rest, dst)
}

func walkAll(v any, segs []string, dst []string) []string {
	for i, s := range segs {
		switch x := v.(type) {
		case map[string]any:
			nv, ok := x[s]
			if !ok || nv == nil {
				return dst
			}
			v = nv
		case []any:
			for _, el := range x {
				dst = walkAll(el, segs[i:], dst)
			}
			return dst
		default:
			return dst
		}
	}
	if arr, ok := v.([]any); ok {
		for _, el := range arr {
			if el != nil {
				dst = append(dst, text(el))
			}
		}
		return dst
	}
	if v != nil {
		dst = append(dst, text(v))
	}
	return dst
}

// text renders a JSON value as matchable text: strings as they are,
// numbers in shortest form, booleans as true/false, objects and arrays as
// compact JSON.
func text(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case json.Number:
		return x.String()
	case nil:
		return ""
	}
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}
