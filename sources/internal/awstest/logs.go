package awstest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unicode"
)

// Logs is an httptest server speaking CloudWatch Logs' JSON 1.1 protocol
// for FilterLogEvents, which, unlike moto, applies JSON filter patterns
// (equality and inequality on $.paths, &&, ||, parentheses, * wildcards)
// and plain term patterns, so tests can check what a pushed pattern keeps.
type Logs struct {
	URL string

	mu       sync.Mutex
	groups   map[string][]LogRecord
	patterns []string
}

// LogRecord is one log event in a fake log group.
type LogRecord struct {
	ID        string
	Stream    string
	Timestamp int64
	Message   string
}

// NewLogs starts the server, closed on cleanup.
func NewLogs(t testing.TB) *Logs {
	l := &Logs{groups: map[string][]LogRecord{}}
	srv := httptest.NewServer(http.HandlerFunc(l.serve))
	t.Cleanup(srv.Close)
	l.URL = srv.URL
	return l
}

// Put adds events to a log group, creating it.
func (l *Logs) Put(group string, recs ...LogRecord) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.groups[group] = append(l.groups[group], recs...)
}

// Patterns returns the filter patterns of the requests received.
func (l *Logs) Patterns() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.patterns...)
}

func (l *Logs) serve(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, code, msg string) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]string{"__type": code, "message": msg})
	}
	if r.Header.Get("X-Amz-Target") != "Logs_20140328.FilterLogEvents" {
		fail(400, "UnknownOperationException", "unknown operation")
		return
	}
	var in struct {
		LogGroupName  string `json:"logGroupName"`
		StartTime     *int64 `json:"startTime"`
		EndTime       *int64 `json:"endTime"`
		FilterPattern string `json:"filterPattern"`
		NextToken     string `json:"nextToken"`
		Limit         int    `json:"limit"`
	}
	body, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(body, &in); err != nil {
		fail(400, "SerializationException", "invalid body")
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.patterns = append(l.patterns, in.FilterPattern)
	recs, ok := l.groups[in.LogGroupName]
	if !ok {
		fail(400, "ResourceNotFoundException", "The specified log group does not exist.")
		return
	}
	match, err := compilePattern(in.FilterPattern)
	if err != nil {
		fail(400, "InvalidParameterException", "Invalid filter pattern: "+err.Error())
		return
	}
	var kept []LogRecord
	for _, rec := range recs {
		if in.StartTime != nil && rec.Timestamp < *in.StartTime || in.EndTime != nil && rec.Timestamp > *in.EndTime {
			continue
		}
		if match(rec.Message) {
			kept = append(kept, rec)
		}
	}
	sort.SliceStable(kept, func(i, j int) bool { return kept[i].Timestamp < kept[j].Timestamp })
	start := 0
	if in.NextToken != "" {
		start, _ = strconv.Atoi(strings.TrimPrefix(in.NextToken, "page-"))
	}
	limit := in.Limit
	if limit <= 0 || limit > 10000 {
		limit = 10000
	}
	end := min(start+limit, len(kept))
	type outEvent struct {
		EventID       string `json:"eventId"`
		IngestionTime int64  `json:"ingestionTime"`
		LogStreamName string `json:"logStreamName"`
		Message       string `json:"message"`
		Timestamp     int64  `json:"timestamp"`
	}
	out := struct {
		Events    []outEvent `json:"events"`
		NextToken string     `json:"nextToken,omitempty"`
	}{Events: []outEvent{}}
	for _, rec := range kept[min(start, len(kept)):end] {
		out.Events = append(out.Events, outEvent{rec.ID, rec.Timestamp + 1000, rec.Stream, rec.Message, rec.Timestamp})
	}
	if end < len(kept) {
		out.NextToken = fmt.Sprintf("page-%d", end)
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	json.NewEncoder(w).Encode(out)
}

// compilePattern compiles a filter pattern into a matcher.
func compilePattern(p string) (func(string) bool, error) {
	p = strings.TrimSpace(p)
	if p == "" {
		return func(string) bool { return true }, nil
	}
	if !strings.HasPrefix(p, "{") {
		terms := strings.Fields(p)
		return func(msg string) bool {
			for _, t := range terms {
				if !strings.Contains(msg, strings.Trim(t, `"`)) {
					return false
				}
			}
			return true
		}, nil
	}
	if !strings.HasSuffix(p, "}") {
		return nil, fmt.Errorf("unbalanced braces")
	}
	toks, err := lex(p[1 : len(p)-1])
	if err != nil {
		return nil, err
	}
	ps := &parser{toks: toks}
	e, err := ps.or()
	if err != nil {
		return nil, err
	}
	if ps.i != len(ps.toks) {
		return nil, fmt.Errorf("unexpected %q", ps.toks[ps.i])
	}
	return func(msg string) bool {
		var doc any
		if json.Unmarshal([]byte(msg), &doc) != nil {
			return false
		}
		return e(doc)
	}, nil
}

func lex(s string) ([]string, error) {
	var toks []string
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case unicode.IsSpace(rune(c)):
			i++
		case strings.HasPrefix(s[i:], "&&"), strings.HasPrefix(s[i:], "||"), strings.HasPrefix(s[i:], "!="):
			toks = append(toks, s[i:i+2])
			i += 2
		case c == '(' || c == ')' || c == '=':
			toks = append(toks, string(c))
			i++
		case c == '"':
			j := strings.IndexByte(s[i+1:], '"')
			if j < 0 {
				return nil, fmt.Errorf("unterminated string")
			}
			toks = append(toks, s[i:i+j+2])
			i += j + 2
		default:
			j := i
			for j < len(s) && !unicode.IsSpace(rune(s[j])) && !strings.ContainsRune("()=!&|", rune(s[j])) {
				j++
			}
			if j == i {
				return nil, fmt.Errorf("unexpected %q", s[i:])
			}
			toks = append(toks, s[i:j])
			i = j
		}
	}
	return toks, nil
}

type parser struct {
	toks []string
	i    int
}

type expr func(doc any) bool

func (p *parser) peek() string {
	if p.i < len(p.toks) {
		return p.toks[p.i]
	}
	return ""
}

func (p *parser) or() (expr, error) {
	l, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.peek() == "||" {
		p.i++
		r, err := p.and()
		if err != nil {
			return nil, err
		}
		a, b := l, r
		l = func(d any) bool { return a(d) || b(d) }
	}
	return l, nil
}

func (p *parser) and() (expr, error) {
	l, err := p.term()
	if err != nil {
		return nil, err
	}
	for p.peek() == "&&" {
		p.i++
		r, err := p.term()
		if err != nil {
			return nil, err
		}
		a, b := l, r
		l = func(d any) bool { return a(d) && b(d) }
	}
	return l, nil
}

func (p *parser) term() (expr, error) {
	if p.peek() == "(" {
		p.i++
		e, err := p.or()
		if err != nil {
			return nil, err
		}
		if p.peek() != ")" {
			return nil, fmt.Errorf("missing )")
		}
		p.i++
		return e, nil
	}
	if p.i+3 > len(p.toks) || !strings.HasPrefix(p.toks[p.i], "$.") {
		return nil, fmt.Errorf("expected $.field OP value at %q", p.peek())
	}
	field, op, val := p.toks[p.i][2:], p.toks[p.i+1], p.toks[p.i+2]
	p.i += 3
	if op != "=" && op != "!=" {
		return nil, fmt.Errorf("unsupported operator %q", op)
	}
	val = strings.Trim(val, `"`)
	return func(d any) bool {
		cur := d
		for _, part := range strings.Split(field, ".") {
			m, ok := cur.(map[string]any)
			if !ok {
				return false
			}
			cur = m[part]
		}
		var s string
		switch v := cur.(type) {
		case nil:
			return op == "!="
		case string:
			s = v
		default:
			s = fmt.Sprint(v)
		}
		ok, _ := path.Match(val, s)
		if op == "=" {
			return ok
		}
		return !ok
	}, nil
}
