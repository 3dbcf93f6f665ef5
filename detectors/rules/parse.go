package rules

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/trailhound/trailhound/configs"
	"github.com/trailhound/trailhound/detectors"
)

// ruleKeys are the keys a rule may have.
var ruleKeys = []string{"id", "title", "severity", "technique", "description", "recommendation", "reason", "tags", "references", "group_by", "match", "severity_if", "superseded_by", "threshold", "tests", "enabled", "coverage"}

// opKeys are the keys of an operator mapping in a match block, besides the
// test operators.
var opModifiers = []string{"exists", "absent", "nocase", "all", "decode"}

// Parse reads a YAML rule file: a list of rules. file names it in errors
// and origin says where it comes from ("builtin" or the directory). Every
// problem is an *Error naming the file, line, rule and key.
func Parse(data []byte, file, origin string) ([]Definition, error) {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		line, msg := yamlErr(err)
		return nil, &Error{File: file, Line: line, Msg: msg}
	}
	if len(root.Content) == 0 {
		return nil, nil
	}
	doc := root.Content[0]
	if doc.Kind != yaml.SequenceNode {
		return nil, &Error{File: file, Line: doc.Line, Msg: "a rule file must be a list of rules (each starting with \"- id: ...\")"}
	}
	p := &parser{file: file}
	var defs []Definition
	for i, n := range doc.Content {
		d, err := p.rule(n, i)
		if err != nil {
			return nil, err
		}
		d.Origin = origin
		defs = append(defs, d)
	}
	return defs, nil
}

// yamlErr splits a yaml.v3 syntax error into its line and message.
func yamlErr(err error) (int, string) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	var line int
	if _, e := fmt.Sscanf(msg, "line %d:", &line); e == nil {
		_, rest, _ := strings.Cut(msg, ": ")
		return line, rest
	}
	return 0, msg
}

type parser struct {
	file   string
	ruleID string // id of the rule being parsed
}

func (p *parser) errorf(n *yaml.Node, key, format string, args ...any) error {
	line := 0
	if n != nil {
		line = n.Line
	}
	return &Error{File: p.file, Line: line, Rule: p.ruleID, Key: key, Msg: fmt.Sprintf(format, args...)}
}

// pairs returns a mapping's key and value nodes, rejecting duplicate keys.
func (p *parser) pairs(n *yaml.Node, key string) ([][2]*yaml.Node, error) {
	if n.Kind != yaml.MappingNode {
		return nil, p.errorf(n, key, "must be a mapping")
	}
	seen := map[string]bool{}
	var out [][2]*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if seen[k.Value] {
			return nil, p.errorf(k, join(key, k.Value), "duplicate key")
		}
		seen[k.Value] = true
		out = append(out, [2]*yaml.Node{k, n.Content[i+1]})
	}
	return out, nil
}

func join(base, key string) string {
	if base == "" {
		return key
	}
	return base + "." + key
}

func (p *parser) str(n *yaml.Node, key string) (string, error) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return "", p.errorf(n, key, "must be a string")
	}
	return n.Value, nil
}

func (p *parser) strList(n *yaml.Node, key string) ([]string, error) {
	if n.Kind == yaml.ScalarNode && n.Tag != "!!null" {
		return []string{n.Value}, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, p.errorf(n, key, "must be a string or a list of strings")
	}
	var out []string
	for i, c := range n.Content {
		s, err := p.str(c, fmt.Sprintf("%s[%d]", key, i))
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func (p *parser) boolean(n *yaml.Node, key string) (bool, error) {
	var b bool
	if n.Kind != yaml.ScalarNode || n.Decode(&b) != nil {
		return false, p.errorf(n, key, "must be true or false")
	}
	return b, nil
}

func (p *parser) rule(n *yaml.Node, i int) (Definition, error) {
	p.ruleID = ""
	key := fmt.Sprintf("rules[%d]", i)
	kvs, err := p.pairs(n, key)
	if err != nil {
		return Definition{}, err
	}
	d := Definition{File: p.file, Line: n.Line}
	// Read the id first so every later error names the rule.
	for _, kv := range kvs {
		if kv[0].Value == "id" {
			if d.ID, err = p.str(kv[1], "id"); err != nil {
				return d, err
			}
			p.ruleID = d.ID
		}
	}
	if d.ID == "" {
		return d, p.errorf(n, key+".id", "is required")
	}
	var severity, match *yaml.Node
	for _, kv := range kvs {
		k, v := kv[0], kv[1]
		switch k.Value {
		case "id":
		case "title":
			d.Title, err = p.str(v, k.Value)
		case "severity":
			severity = v
		case "technique":
			d.Technique, err = p.str(v, k.Value)
		case "description":
			d.Description, err = p.str(v, k.Value)
		case "recommendation":
			d.Recommendation, err = p.str(v, k.Value)
		case "reason":
			d.Reason, err = p.str(v, k.Value)
		case "tags":
			d.Tags, err = p.strList(v, k.Value)
		case "references":
			_, err = p.strList(v, k.Value)
		case "group_by":
			d.GroupBy, err = p.strList(v, k.Value)
		case "superseded_by":
			d.SupersededBy, err = p.strList(v, k.Value)
		case "match":
			match = v
		case "severity_if":
			d.SeverityIf, err = p.severityIf(v, k.Value)
		case "threshold":
			d.Threshold, err = p.threshold(v, k.Value)
		case "tests":
			d.Tests, err = p.tests(v, k.Value)
		case "enabled":
			var on bool
			on, err = p.boolean(v, k.Value)
			d.Off = !on
		case "coverage":
			d.Coverage, err = p.coverage(v, k.Value)
		default:
			err = p.errorf(k, k.Value, "unknown key (want one of %s)", strings.Join(ruleKeys, ", "))
		}
		if err != nil {
			return d, err
		}
	}
	if severity == nil {
		return d, p.errorf(n, "severity", "is required")
	}
	s, err := p.str(severity, "severity")
	if err != nil {
		return d, err
	}
	if d.Severity, err = detectors.ParseSeverity(s); err != nil {
		return d, p.errorf(severity, "severity", "%v", err)
	}
	if match == nil {
		return d, p.errorf(n, "match", "is required")
	}
	if d.Match, err = p.match(match, "match"); err != nil {
		return d, err
	}
	return d, nil
}

// coverage parses the eventSources a rule declares it covers: values
// listed in coverage.yaml, or "*" alone for every service.
func (p *parser) coverage(n *yaml.Node, key string) ([]string, error) {
	vals, err := p.strList(n, key)
	if err != nil {
		return nil, err
	}
	if _, err := CoverageRows(); err != nil {
		return nil, p.errorf(n, key, "cannot check the eventSources: %v", err)
	}
	for i, v := range vals {
		kk, at := fmt.Sprintf("%s[%d]", key, i), n
		if n.Kind == yaml.SequenceNode {
			at = n.Content[i]
		}
		switch {
		case v == "*" && len(vals) > 1:
			return nil, p.errorf(at, kk, `"*" (every service) stands alone`)
		case v == "*":
		case !KnownEventSource(v):
			return nil, p.errorf(at, kk, "%q is not an eventSource listed in detectors/rules/coverage.yaml (or \"*\" for every service)", v)
		}
	}
	return vals, nil
}

func (p *parser) severityIf(n *yaml.Node, key string) ([]SeverityIf, error) {
	if n.Kind != yaml.SequenceNode {
		return nil, p.errorf(n, key, "must be a list of {when: ..., severity: ...}")
	}
	var out []SeverityIf
	for i, c := range n.Content {
		k := fmt.Sprintf("%s[%d]", key, i)
		kvs, err := p.pairs(c, k)
		if err != nil {
			return nil, err
		}
		var s SeverityIf
		var haveWhen, haveSev bool
		for _, kv := range kvs {
			switch kv[0].Value {
			case "when":
				if s.When, err = p.match(kv[1], k+".when"); err != nil {
					return nil, err
				}
				haveWhen = true
			case "severity":
				v, err := p.str(kv[1], k+".severity")
				if err != nil {
					return nil, err
				}
				if s.Severity, err = detectors.ParseSeverity(v); err != nil {
					return nil, p.errorf(kv[1], k+".severity", "%v", err)
				}
				haveSev = true
			default:
				return nil, p.errorf(kv[0], k+"."+kv[0].Value, "unknown key (want when, severity)")
			}
		}
		if !haveWhen || !haveSev {
			return nil, p.errorf(c, k, "needs both when and severity")
		}
		out = append(out, s)
	}
	return out, nil
}

func (p *parser) threshold(n *yaml.Node, key string) (*Threshold, error) {
	kvs, err := p.pairs(n, key)
	if err != nil {
		return nil, err
	}
	t := &Threshold{}
	for _, kv := range kvs {
		k, v := kv[0], kv[1]
		kk := key + "." + k.Value
		switch k.Value {
		case "count":
			if v.Kind != yaml.ScalarNode || v.Decode(&t.Count) != nil {
				return nil, p.errorf(v, kk, "must be a whole number")
			}
			if t.Count < 1 {
				return nil, p.errorf(v, kk, "must be at least 1")
			}
		case "window":
			s, err := p.str(v, kk)
			if err != nil {
				return nil, err
			}
			if t.Window, err = configs.ParseDuration(s); err != nil {
				return nil, p.errorf(v, kk, "%v", err)
			}
			if t.Window <= 0 {
				return nil, p.errorf(v, kk, "must be positive")
			}
		case "group_by":
			if t.GroupBy, err = p.strList(v, kk); err != nil {
				return nil, err
			}
		case "distinct":
			if t.Distinct, err = p.strList(v, kk); err != nil {
				return nil, err
			}
		default:
			return nil, p.errorf(k, kk, "unknown key (want count, window, group_by, distinct)")
		}
	}
	switch {
	case t.Count == 0:
		return nil, p.errorf(n, key+".count", "is required")
	case t.Window == 0:
		return nil, p.errorf(n, key+".window", "is required")
	}
	return t, nil
}

// match parses a match block: a mapping whose entries all hold. Keys are
// field paths, or all / any (lists of blocks) and not (a block).
func (p *parser) match(n *yaml.Node, key string) (Expr, error) {
	kvs, err := p.pairs(n, key)
	if err != nil {
		return Expr{}, err
	}
	if len(kvs) == 0 {
		return Expr{}, p.errorf(n, key, "is empty")
	}
	e := Expr{Op: "all", Key: key, Line: n.Line}
	for _, kv := range kvs {
		k, v := kv[0], kv[1]
		kk := join(key, k.Value)
		switch k.Value {
		case "all", "any":
			if v.Kind != yaml.SequenceNode || len(v.Content) == 0 {
				return Expr{}, p.errorf(v, kk, "must be a non-empty list of conditions")
			}
			sub := Expr{Op: k.Value, Key: kk, Line: k.Line}
			for i, c := range v.Content {
				x, err := p.match(c, fmt.Sprintf("%s[%d]", kk, i))
				if err != nil {
					return Expr{}, err
				}
				sub.Args = append(sub.Args, x)
			}
			e.Args = append(e.Args, sub)
		case "not":
			x, err := p.match(v, kk)
			if err != nil {
				return Expr{}, err
			}
			e.Args = append(e.Args, Expr{Op: "not", Args: []Expr{x}, Key: kk, Line: k.Line})
		default:
			x, err := p.field(k.Value, v, kk)
			if err != nil {
				return Expr{}, err
			}
			e.Args = append(e.Args, x)
		}
	}
	if len(e.Args) == 1 {
		return e.Args[0], nil
	}
	return e, nil
}

// field parses the tests of one field: a value (equality, with * and ?
// wildcards), a list of values (any of them), null (absent), or a mapping
// of operators.
func (p *parser) field(name string, v *yaml.Node, key string) (Expr, error) {
	e := Expr{Op: "field", Field: name, Key: key, Line: v.Line}
	switch v.Kind {
	case yaml.ScalarNode:
		if v.Tag == "!!null" {
			f := false
			e.Exists = &f
			return e, nil
		}
		e.Tests = []Test{{Op: "eq", Values: []string{v.Value}, Key: key, Line: v.Line}}
		return e, nil
	case yaml.SequenceNode:
		vals, err := p.strList(v, key)
		if err != nil {
			return e, err
		}
		if len(vals) == 0 {
			return e, p.errorf(v, key, "empty list matches nothing")
		}
		e.Tests = []Test{{Op: "eq", Values: vals, Key: key, Line: v.Line}}
		return e, nil
	case yaml.MappingNode:
	default:
		return e, p.errorf(v, key, "must be a value, a list of values or a mapping of operators")
	}
	kvs, err := p.pairs(v, key)
	if err != nil {
		return e, err
	}
	var fold, all bool
	var decode string
	for _, kv := range kvs {
		k, val := kv[0], kv[1]
		kk := key + "." + k.Value
		switch k.Value {
		case "exists", "absent":
			b, err := p.boolean(val, kk)
			if err != nil {
				return e, err
			}
			if k.Value == "absent" {
				b = !b
			}
			if e.Exists != nil && *e.Exists != b {
				return e, p.errorf(val, kk, "contradicts the other exists/absent")
			}
			e.Exists = &b
		case "nocase":
			if fold, err = p.boolean(val, kk); err != nil {
				return e, err
			}
		case "all":
			if all, err = p.boolean(val, kk); err != nil {
				return e, err
			}
		case "decode":
			if decode, err = p.str(val, kk); err != nil {
				return e, err
			}
			if decode != "url" {
				return e, p.errorf(val, kk, "unknown decode %q (want url)", decode)
			}
		default:
			op, negate := k.Value, false
			if rest, ok := strings.CutPrefix(op, "not_"); ok && isOp(rest) {
				op, negate = rest, true
			}
			if !isOp(op) {
				return e, p.errorf(k, kk, "unknown operator (want one of %s, any of them prefixed with not_, or %s)", strings.Join(Ops, ", "), strings.Join(opModifiers, ", "))
			}
			vals, err := p.strList(val, kk)
			if err != nil {
				return e, err
			}
			if len(vals) == 0 {
				return e, p.errorf(val, kk, "empty list matches nothing")
			}
			e.Tests = append(e.Tests, Test{Op: op, Negate: negate, Values: vals, Key: kk, Line: val.Line})
		}
	}
	for i := range e.Tests {
		e.Tests[i].Fold, e.Tests[i].All, e.Tests[i].Decode = fold, all, decode
	}
	if e.Exists != nil && len(e.Tests) > 0 {
		return e, p.errorf(v, key, "exists/absent cannot be combined with other operators")
	}
	if e.Exists == nil && len(e.Tests) == 0 {
		return e, p.errorf(v, key, "no operator given")
	}
	return e, nil
}

func isOp(s string) bool {
	for _, o := range Ops {
		if o == s {
			return true
		}
	}
	return false
}

// tests parses inline test cases.
func (p *parser) tests(n *yaml.Node, key string) ([]Case, error) {
	if n.Kind != yaml.SequenceNode {
		return nil, p.errorf(n, key, "must be a list of test cases")
	}
	var out []Case
	for i, c := range n.Content {
		k := fmt.Sprintf("%s[%d]", key, i)
		kvs, err := p.pairs(c, k)
		if err != nil {
			return nil, err
		}
		tc := Case{Line: c.Line}
		haveMatch := false
		for _, kv := range kvs {
			kk := k + "." + kv[0].Value
			switch kv[0].Value {
			case "name":
				if tc.Name, err = p.str(kv[1], kk); err != nil {
					return nil, err
				}
			case "match":
				if tc.Match, err = p.boolean(kv[1], kk); err != nil {
					return nil, err
				}
				haveMatch = true
			case "event":
				ev, err := p.jsonValue(kv[1], kk)
				if err != nil {
					return nil, err
				}
				tc.Events = append(tc.Events, ev)
			case "events":
				if kv[1].Kind != yaml.SequenceNode {
					return nil, p.errorf(kv[1], kk, "must be a list of events")
				}
				for j, evn := range kv[1].Content {
					ev, err := p.jsonValue(evn, fmt.Sprintf("%s[%d]", kk, j))
					if err != nil {
						return nil, err
					}
					tc.Events = append(tc.Events, ev)
				}
			case "line":
				s, err := p.str(kv[1], kk)
				if err != nil {
					return nil, err
				}
				tc.Lines = append(tc.Lines, s)
			case "lines":
				ls, err := p.strList(kv[1], kk)
				if err != nil {
					return nil, err
				}
				tc.Lines = append(tc.Lines, ls...)
			default:
				return nil, p.errorf(kv[0], kk, "unknown key (want name, match, event, events, line, lines)")
			}
		}
		if !haveMatch {
			return nil, p.errorf(c, k+".match", "is required (true or false)")
		}
		if len(tc.Events) == 0 && len(tc.Lines) == 0 {
			return nil, p.errorf(c, k, "needs an event, events, line or lines")
		}
		if len(tc.Events) > 0 && len(tc.Lines) > 0 {
			return nil, p.errorf(c, k, "give CloudTrail events or log lines, not both")
		}
		out = append(out, tc)
	}
	return out, nil
}

// jsonValue converts a YAML mapping (a CloudTrail record written in YAML)
// to JSON.
func (p *parser) jsonValue(n *yaml.Node, key string) (json.RawMessage, error) {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind != yaml.MappingNode {
		return nil, p.errorf(n, key, "must be a mapping (a CloudTrail record)")
	}
	var v any
	if err := n.Decode(&v); err != nil {
		return nil, p.errorf(n, key, "%v", err)
	}
	b, err := json.Marshal(jsonable(v))
	if err != nil {
		return nil, p.errorf(n, key, "%v", err)
	}
	return b, nil
}

// jsonable turns yaml.v3's map[string]any / map[any]any into values
// encoding/json can marshal.
func jsonable(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = jsonable(e)
		}
		return x
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[fmt.Sprint(k)] = jsonable(e)
		}
		return m
	case []any:
		for i, e := range x {
			x[i] = jsonable(e)
		}
		return x
	}
	return v
}
