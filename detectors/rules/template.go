package rules

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/trailhound/trailhound/sources"
)

// Template is a compiled reason template: text with {field} placeholders
// naming a normalised field or raw CloudTrail path. A placeholder may list
// alternatives, {requestParameters.userName|requestParameters.roleName|'a
// principal'}: the first present field, or the quoted text, is used.
// Threshold rules may also use {count} (events or distinct values in the
// window), {threshold}, {window} and {values} (the distinct values
// counted). "{{" is a literal brace. A field that is absent renders as
// "unknown"; a field with several values renders them comma-separated.
type Template struct {
	parts []tplPart
}

type tplPart struct {
	lit  string
	alts []tplAlt
}

type tplAlt struct {
	acc *accessor
	th  string // count, threshold, window or values
	lit string // a quoted literal
	set bool   // lit is set (it may be empty)
}

// thresholdValues fill the threshold placeholders.
type thresholdValues struct {
	count     int
	threshold int
	window    string
	// values are the first distinct values counted; more says how many
	// others there are.
	values []string
	more   int
}

var thresholdNames = map[string]bool{"count": true, "threshold": true, "window": true, "values": true}

// ParseTemplate compiles a reason template.
func ParseTemplate(s string) (*Template, error) {
	t := &Template{}
	var lit strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '{' && i+1 < len(s) && s[i+1] == '{':
			lit.WriteByte('{')
			i++
		case c == '}' && i+1 < len(s) && s[i+1] == '}':
			lit.WriteByte('}')
			i++
		case c == '{':
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return nil, fmt.Errorf("unclosed { in %q", s)
			}
			body := s[i+1 : i+end]
			var part tplPart
			for _, alt := range strings.Split(body, "|") {
				alt = strings.TrimSpace(alt)
				switch {
				case len(alt) >= 2 && alt[0] == '\'' && alt[len(alt)-1] == '\'':
					part.alts = append(part.alts, tplAlt{lit: alt[1 : len(alt)-1], set: true})
				case alt == "" || strings.ContainsAny(alt, "{ '"):
					return nil, fmt.Errorf("bad placeholder {%s} in %q", body, s)
				case thresholdNames[alt]:
					part.alts = append(part.alts, tplAlt{th: alt})
				default:
					part.alts = append(part.alts, tplAlt{acc: newAccessor(alt)})
				}
			}
			if lit.Len() > 0 {
				t.parts = append(t.parts, tplPart{lit: lit.String()})
				lit.Reset()
			}
			t.parts = append(t.parts, part)
			i += end
		case c == '}':
			return nil, fmt.Errorf("unmatched } in %q", s)
		default:
			lit.WriteByte(c)
		}
	}
	if lit.Len() > 0 {
		t.parts = append(t.parts, tplPart{lit: lit.String()})
	}
	return t, nil
}

// maxRendered caps one rendered value, so a huge policy document does not
// flood the chat message.
const maxRendered = 160

// Render fills the template from an event.
func (t *Template) Render(ev *sources.Event, tv *thresholdValues) string {
	var b strings.Builder
	for _, p := range t.parts {
		if p.alts == nil {
			b.WriteString(p.lit)
			continue
		}
		b.WriteString(p.render(ev, tv))
	}
	return b.String()
}

func (p tplPart) render(ev *sources.Event, tv *thresholdValues) string {
	for _, a := range p.alts {
		switch {
		case a.set:
			return a.lit
		case a.th != "":
			if tv != nil {
				return tv.get(a.th)
			}
		default:
			if vals := a.acc.all(ev, nil); len(vals) > 0 {
				return renderValues(vals)
			}
		}
	}
	return "unknown"
}

func (tv *thresholdValues) get(name string) string {
	if tv == nil {
		return "unknown"
	}
	switch name {
	case "count":
		return strconv.Itoa(tv.count)
	case "threshold":
		return strconv.Itoa(tv.threshold)
	case "window":
		return tv.window
	}
	s := renderValues(tv.values)
	if tv.more > 0 {
		s += fmt.Sprintf(" and %d more", tv.more)
	}
	return s
}

func renderValues(vals []string) string {
	switch len(vals) {
	case 0:
		return "unknown"
	case 1:
		return clip(vals[0])
	}
	const show = 5
	var parts []string
	seen := map[string]bool{}
	for _, v := range vals {
		if seen[v] {
			continue
		}
		seen[v] = true
		parts = append(parts, clip(v))
	}
	if len(parts) > show {
		return strings.Join(parts[:show], ", ") + fmt.Sprintf(" and %d more", len(parts)-show)
	}
	return strings.Join(parts, ", ")
}

func clip(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) <= maxRendered {
		return s
	}
	cut := maxRendered
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
