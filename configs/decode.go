package configs

import (
	"fmt"
	"math"
	"os"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"
)

// Error is a configuration problem at a place in a file.
type Error struct {
	File string
	Line int
	// Key is the dotted path of the offending key, e.g.
	// sources[0].options.paths.
	Key string
	Msg string
}

func (e *Error) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc = fmt.Sprintf("%s:%d", loc, e.Line)
	}
	if e.Key != "" {
		return fmt.Sprintf("%s: %s: %s", loc, e.Key, e.Msg)
	}
	return fmt.Sprintf("%s: %s", loc, e.Msg)
}

// Section is a part of the config that a package decodes into its own
// options struct with Decode. It remembers where it came from so errors
// name the file, line and key.
type Section struct {
	file string
	path string
	node *yaml.Node
	// err is a problem found while parsing that only matters to whoever
	// decodes the section: an environment variable it names is unset.
	err error
}

// IsZero reports whether the section was absent from the file.
func (s Section) IsZero() bool { return s.node == nil || s.node.Kind == 0 }

// Path returns the dotted key path of the section.
func (s Section) Path() string { return s.path }

// Line returns the line the section starts on.
func (s Section) Line() int {
	if s.node == nil {
		return 0
	}
	return s.node.Line
}

// Errorf returns an Error located at the section.
func (s Section) Errorf(key, format string, args ...any) error {
	p := s.path
	if key != "" {
		p = joinPath(p, key)
	}
	line := s.Line()
	if s.node != nil && s.node.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(s.node.Content); i += 2 {
			if s.node.Content[i].Value == key {
				line = s.node.Content[i].Line
			}
		}
	}
	return &Error{File: s.file, Line: line, Key: p, Msg: fmt.Sprintf(format, args...)}
}

// Decode decodes the section into v strictly: a key that v has no field
// for, or a value of the wrong type, is an error naming file, line and
// key. An absent section leaves v unchanged.
func (s Section) Decode(v any) error {
	if s.IsZero() {
		return nil
	}
	if s.err != nil {
		return s.err
	}
	return decodeStrict(s.file, s.path, s.node, v)
}

// UnmarshalYAML keeps the node for a later Decode.
func (s *Section) UnmarshalYAML(n *yaml.Node) error {
	s.node = n
	return nil
}

func joinPath(base, key string) string {
	if base == "" {
		return key
	}
	if strings.HasPrefix(key, "[") {
		return base + key
	}
	return base + "." + key
}

// keyTracer, when set, is told every key a decoded section accepts.
var keyTracer struct {
	sync.Mutex
	fn func(key string)
}

// TraceKeys calls fn with the dotted path of every key that a section
// decoded from now on accepts, whether or not the file sets it (list
// items as "[]", map entries as "*"), until stop is called. Tests use it
// to check that configs/example.yaml documents every option.
func TraceKeys(fn func(key string)) (stop func()) {
	keyTracer.Lock()
	keyTracer.fn = fn
	keyTracer.Unlock()
	return func() {
		keyTracer.Lock()
		keyTracer.fn = nil
		keyTracer.Unlock()
	}
}

// traceKeys reports the keys type t accepts under path.
func traceKeys(path string, t reflect.Type, fn func(string), depth int) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if depth > 8 || t == sectionType || t == durationType || reflect.PointerTo(t).Implements(unmarshalType) {
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		for key, ft := range yamlFields(t) {
			p := joinPath(path, key)
			fn(p)
			traceKeys(p, ft, fn, depth+1)
		}
	case reflect.Slice, reflect.Array:
		traceKeys(path+"[]", t.Elem(), fn, depth+1)
	case reflect.Map:
		traceKeys(joinPath(path, "*"), t.Elem(), fn, depth+1)
	}
}

// decodeStrict checks n against the shape of v, then decodes it.
func decodeStrict(file, path string, n *yaml.Node, v any) error {
	keyTracer.Lock()
	if fn := keyTracer.fn; fn != nil {
		traceKeys(segmentIndexRe.ReplaceAllString(path, "[]"), reflect.TypeOf(v), fn, 0)
	}
	keyTracer.Unlock()
	if err := checkKeys(file, path, n, reflect.TypeOf(v)); err != nil {
		return err
	}
	if err := n.Decode(v); err != nil {
		return typeError(file, path, n, reflect.TypeOf(v), err)
	}
	fillSections(file, path, n, reflect.ValueOf(v))
	return nil
}

var lineRe = regexp.MustCompile(`line (\d+): (.*)`)

// typeError turns yaml.v3's decode error into an Error with line and key,
// saying in words what the key wants and what it got.
func typeError(file, path string, n *yaml.Node, t reflect.Type, err error) error {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "yaml: unmarshal errors:\n")
	first := strings.TrimSpace(strings.SplitN(msg, "\n", 2)[0])
	if m := lineRe.FindStringSubmatch(first); m != nil {
		var line int
		fmt.Sscan(m[1], &line)
		key := keyAtLine(path, n, line)
		text := m[2]
		if u := unmarshalRe.FindStringSubmatch(text); u != nil && key != "" {
			if ft := typeAt(t, strings.TrimPrefix(key, path)); ft != nil {
				text = fmt.Sprintf("want %s, got %s", wantWords(ft, lastKey(key)), gotWords(u[1]))
			}
		}
		return &Error{File: file, Line: line, Key: key, Msg: text}
	}
	return &Error{File: file, Line: n.Line, Key: path, Msg: first}
}

// unmarshalRe matches yaml.v3's type error: the YAML tag, then the Go
// type.
var unmarshalRe = regexp.MustCompile("^cannot unmarshal !!(\\w+)(?: `.*`)? into (.+)$")

// segmentIndexRe matches the list indexes of a key path.
var segmentIndexRe = regexp.MustCompile(`\[\d+\]`)

// segmentRe splits a key path into keys and [index] parts.
var segmentRe = regexp.MustCompile(`\[\d+\]|[^.\[\]]+`)

// typeAt returns the Go type a relative key path (".a.b[0]") decodes into,
// or nil when it cannot tell.
func typeAt(t reflect.Type, rel string) reflect.Type {
	for _, seg := range segmentRe.FindAllString(rel, -1) {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		switch {
		case strings.HasPrefix(seg, "["):
			if t.Kind() != reflect.Slice && t.Kind() != reflect.Array {
				return nil
			}
			t = t.Elem()
		case t.Kind() == reflect.Struct:
			ft, ok := yamlFields(t)[seg]
			if !ok {
				return nil
			}
			t = ft
		case t.Kind() == reflect.Map:
			t = t.Elem()
		default:
			return nil
		}
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// lastKey returns the last mapping key of a key path.
func lastKey(path string) string {
	segs := segmentRe.FindAllString(path, -1)
	for i := len(segs) - 1; i >= 0; i-- {
		if !strings.HasPrefix(segs[i], "[") {
			return segs[i]
		}
	}
	return ""
}

var durationType = reflect.TypeOf(time.Duration(0))

// wantWords says in words what a value of type t looks like; key names
// the list's items when it is a plain plural ("paths").
func wantWords(t reflect.Type, key string) string {
	switch {
	case t == durationType:
		return "a duration like 90s, 10m or 2h"
	case t == sectionType:
		return "a mapping of keys to values"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "a whole number"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number of 0 or more"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		if key != "" && strings.HasSuffix(key, "s") && !strings.Contains(key, "_") {
			return "a list of " + key
		}
		return "a list, each item " + wantWords(t.Elem(), "")
	case reflect.Map, reflect.Struct:
		return "a mapping of keys to values"
	}
	return "a " + t.String()
}

// gotWords names a YAML tag for a person.
func gotWords(tag string) string {
	switch tag {
	case "str":
		return "a string"
	case "int", "float":
		return "a number"
	case "bool":
		return "true or false"
	case "seq":
		return "a list"
	case "map":
		return "a mapping"
	case "null":
		return "nothing"
	case "timestamp":
		return "a date"
	}
	return "a " + tag
}

// keyAtLine finds the dotted path of the key on a line.
func keyAtLine(path string, n *yaml.Node, line int) string {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			p := joinPath(path, k.Value)
			if k.Line == line && (val.Kind == yaml.ScalarNode || val.Line == line) {
				return p
			}
			if r := keyAtLine(p, val, line); r != "" {
				return r
			}
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			if c.Kind == yaml.ScalarNode && c.Line == line {
				return p
			}
			if r := keyAtLine(p, c, line); r != "" {
				return r
			}
		}
	}
	return ""
}

var (
	sectionType   = reflect.TypeOf(Section{})
	unmarshalType = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()
)

// checkKeys reports the first mapping key with no matching struct field.
func checkKeys(file, path string, n *yaml.Node, t reflect.Type) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if t == sectionType || reflect.PointerTo(t).Implements(unmarshalType) && t.Kind() != reflect.Struct {
		return nil
	}
	switch t.Kind() {
	case reflect.Struct:
		if reflect.PointerTo(t).Implements(unmarshalType) {
			return nil
		}
		if n.Kind != yaml.MappingNode {
			return nil // the decoder reports the type error
		}
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			ft, ok := fields[k.Value]
			if !ok {
				return &Error{File: file, Line: k.Line, Key: joinPath(path, k.Value), Msg: "unknown key" + suggest(k.Value, fields)}
			}
			if err := checkKeys(file, joinPath(path, k.Value), n.Content[i+1], ft); err != nil {
				return err
			}
		}
	case reflect.Slice, reflect.Array:
		if n.Kind == yaml.SequenceNode {
			for i, c := range n.Content {
				if err := checkKeys(file, fmt.Sprintf("%s[%d]", path, i), c, t.Elem()); err != nil {
					return err
				}
			}
		}
	case reflect.Map:
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				if err := checkKeys(file, joinPath(path, n.Content[i].Value), n.Content[i+1], t.Elem()); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func yamlFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if strings.Contains(opts, "inline") {
			for k, v := range yamlFields(f.Type) {
				out[k] = v
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
	return out
}

func suggest(key string, fields map[string]reflect.Type) string {
	best, bestD := "", 3
	for f := range fields {
		if d := editDistance(key, f); d < bestD {
			best, bestD = f, d
		}
	}
	if best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return ""
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// fillSections gives every Section inside v its file and path.
func fillSections(file, path string, n *yaml.Node, v reflect.Value) {
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return
		}
		v = v.Elem()
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if v.Type() == sectionType {
		s := v.Addr().Interface().(*Section)
		s.file, s.path = file, path
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return
		}
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "" {
				name = strings.ToLower(f.Name)
			}
			for j := 0; j+1 < len(n.Content); j += 2 {
				if n.Content[j].Value == name {
					fillSections(file, joinPath(path, name), n.Content[j+1], v.Field(i))
				}
			}
		}
	case reflect.Slice:
		if n.Kind == yaml.SequenceNode {
			for i := 0; i < v.Len() && i < len(n.Content); i++ {
				fillSections(file, fmt.Sprintf("%s[%d]", path, i), n.Content[i], v.Index(i))
			}
		}
	case reflect.Map:
		// Sections are not used inside maps.
	}
}

var envRe = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}`)

// expandEnv replaces ${VAR} and ${VAR:-default} in every scalar value,
// leaving out the subtrees in skip (already expanded). An unset variable
// without a default is an error naming it and the line.
func expandEnv(file string, n *yaml.Node, lookup func(string) (string, bool), skip map[*yaml.Node]bool) error {
	if skip[n] {
		return nil
	}
	if n.Kind == yaml.ScalarNode && strings.Contains(n.Value, "${") {
		var missing string
		n.Value = envRe.ReplaceAllStringFunc(n.Value, func(m string) string {
			sub := envRe.FindStringSubmatch(m)
			if v, ok := lookup(sub[1]); ok {
				return v
			}
			if sub[2] != "" {
				return sub[3]
			}
			if missing == "" {
				missing = sub[1]
			}
			return ""
		})
		if missing != "" {
			return &Error{File: file, Line: n.Line, Msg: fmt.Sprintf("environment variable %s is not set", missing)}
		}
	}
	for _, c := range n.Content {
		if err := expandEnv(file, c, lookup, skip); err != nil {
			return err
		}
	}
	return nil
}

// Duration is a time.Duration that also accepts days ("14d") in YAML.
type Duration time.Duration

// ParseDuration parses Go durations plus a "d" suffix for days, e.g. "14d",
// "36h", "1d12h".
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty duration")
	}
	var days time.Duration
	if i := strings.Index(s, "d"); i > 0 {
		var n int
		if _, err := fmt.Sscanf(s[:i], "%d", &n); err != nil || fmt.Sprint(n) != s[:i] || n < 0 {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		// time.Duration holds about 106,751 days; more would wrap.
		if n > maxDurationDays {
			return 0, fmt.Errorf("duration %q is too long (at most %d days)", s, maxDurationDays)
		}
		days = time.Duration(n) * 24 * time.Hour
		s = s[i+1:]
		if s == "" {
			return days, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q (use e.g. 90s, 10m, 2h, 14d)", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("negative duration %q", s)
	}
	if days+d < days {
		return 0, fmt.Errorf("duration %q is too long", s)
	}
	return days + d, nil
}

// maxDurationDays is the most days ParseDuration takes: the largest whole
// number of days a time.Duration can hold.
const maxDurationDays = int(math.MaxInt64 / int64(24*time.Hour))

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: duration must be a string like 10m", n.Line)
	}
	v, err := ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %v", n.Line, err)
	}
	*d = Duration(v)
	return nil
}

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Secret is a credential read from the config or a file. It never prints
// its value: String, GoString and MarshalText all give "[redacted]".
type Secret struct {
	value string
}

// NewSecret wraps a value.
func NewSecret(v string) Secret { return Secret{value: v} }

// Reveal returns the secret value, for use by the one client that needs it.
func (s Secret) Reveal() string { return s.value }

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.value == "" }

// String implements fmt.Stringer.
func (s Secret) String() string {
	if s.value == "" {
		return ""
	}
	return "[redacted]"
}

// GoString implements fmt.GoStringer.
func (s Secret) GoString() string { return s.String() }

// MarshalText implements encoding.TextMarshaler.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalYAML implements yaml.Unmarshaler.
func (s *Secret) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: secret must be a string", n.Line)
	}
	s.value = n.Value
	return nil
}

// ResolveSecret returns the secret given either inline (value) or as a file
// (path), requiring exactly one of them unless optional. key is the inline
// key's name, used in errors along with key+"_file". A file's content is
// trimmed of surrounding white space.
func ResolveSecret(sec Section, key string, value Secret, path string, optional bool) (Secret, error) {
	switch {
	case !value.IsZero() && path != "":
		return Secret{}, sec.Errorf(key, "give only one of %s and %s_file", key, key)
	case path != "":
		b, err := os.ReadFile(path)
		if err != nil {
			return Secret{}, sec.Errorf(key+"_file", "read secret file: %v", err)
		}
		v := strings.TrimSpace(string(b))
		if v == "" {
			return Secret{}, sec.Errorf(key+"_file", "secret file %s is empty", path)
		}
		return Secret{value: v}, nil
	case value.IsZero() && !optional:
		return Secret{}, sec.Errorf(key, "one of %s and %s_file is required", key, key)
	}
	return value, nil
}
