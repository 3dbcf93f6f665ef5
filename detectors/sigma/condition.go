package sigma

import (
	"fmt"
	"path"
	"strings"

	"github.com/trailhound/trailhound/detectors/rules"
)

// condParser parses a Sigma condition:
//
//	expr    = and { "or" and }
//	and     = not { "and" not }
//	not     = "not" not | primary
//	primary = "(" expr ")" | ("1" | "any" | "all") "of" (pattern | "them") | name
//
// Aggregations ("| count() > 5") are not supported.
type condParser struct {
	searches map[string]rules.Expr
	names    []string
	toks     []string
	pos      int
}

func (p *condParser) parse(s string) (rules.Expr, error) {
	if strings.Contains(s, "|") {
		return rules.Expr{}, fmt.Errorf("aggregation %q is not supported; express it as a threshold rule", strings.TrimSpace(s[strings.Index(s, "|"):]))
	}
	p.toks = tokenize(s)
	p.pos = 0
	if len(p.toks) == 0 {
		return rules.Expr{}, fmt.Errorf("empty condition")
	}
	e, err := p.or()
	if err != nil {
		return rules.Expr{}, err
	}
	if p.pos < len(p.toks) {
		return rules.Expr{}, fmt.Errorf("unexpected %q in condition %q", p.toks[p.pos], s)
	}
	return e, nil
}

func tokenize(s string) []string {
	var toks []string
	var cur strings.Builder
	flush := func() {
		if cur.Len() > 0 {
			toks = append(toks, cur.String())
			cur.Reset()
		}
	}
	for _, r := range s {
		switch {
		case r == '(' || r == ')':
			flush()
			toks = append(toks, string(r))
		case r == ' ' || r == '\t' || r == '\n' || r == '\r':
			flush()
		default:
			cur.WriteRune(r)
		}
	}
	flush()
	return toks
}

func (p *condParser) peek() string {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return ""
}

func (p *condParser) next() string {
	t := p.peek()
	p.pos++
	return t
}

func (p *condParser) or() (rules.Expr, error) {
	left, err := p.and()
	if err != nil {
		return rules.Expr{}, err
	}
	args := []rules.Expr{left}
	for strings.EqualFold(p.peek(), "or") {
		p.next()
		right, err := p.and()
		if err != nil {
			return rules.Expr{}, err
		}
		args = append(args, right)
	}
	if len(args) == 1 {
		return left, nil
	}
	return rules.Expr{Op: "any", Args: args}, nil
}

func (p *condParser) and() (rules.Expr, error) {
	left, err := p.not()
	if err != nil {
		return rules.Expr{}, err
	}
	args := []rules.Expr{left}
	for strings.EqualFold(p.peek(), "and") {
		p.next()
		right, err := p.not()
		if err != nil {
			return rules.Expr{}, err
		}
		args = append(args, right)
	}
	if len(args) == 1 {
		return left, nil
	}
	return rules.Expr{Op: "all", Args: args}, nil
}

func (p *condParser) not() (rules.Expr, error) {
	if strings.EqualFold(p.peek(), "not") {
		p.next()
		e, err := p.not()
		if err != nil {
			return rules.Expr{}, err
		}
		return rules.Expr{Op: "not", Args: []rules.Expr{e}}, nil
	}
	return p.primary()
}

func (p *condParser) primary() (rules.Expr, error) {
	t := p.next()
	switch {
	case t == "":
		return rules.Expr{}, fmt.Errorf("condition ends too early")
	case t == "(":
		e, err := p.or()
		if err != nil {
			return rules.Expr{}, err
		}
		if p.next() != ")" {
			return rules.Expr{}, fmt.Errorf("missing )")
		}
		return e, nil
	case t == ")":
		return rules.Expr{}, fmt.Errorf("unexpected )")
	case (t == "1" || strings.EqualFold(t, "any") || strings.EqualFold(t, "all")) && strings.EqualFold(p.peek(), "of"):
		p.next()
		target := p.next()
		if target == "" {
			return rules.Expr{}, fmt.Errorf("%s of what?", t)
		}
		var picked []rules.Expr
		for _, n := range p.names {
			var ok bool
			if strings.EqualFold(target, "them") {
				ok = !strings.HasPrefix(n, "_")
			} else {
				ok, _ = path.Match(target, n)
			}
			if ok {
				picked = append(picked, p.searches[n])
			}
		}
		if len(picked) == 0 {
			return rules.Expr{}, fmt.Errorf("%s of %s matches no search identifier", t, target)
		}
		op := "any"
		if strings.EqualFold(t, "all") {
			op = "all"
		}
		if len(picked) == 1 {
			return picked[0], nil
		}
		return rules.Expr{Op: op, Args: picked}, nil
	}
	switch strings.ToLower(t) {
	case "and", "or", "not", "of":
		return rules.Expr{}, fmt.Errorf("unexpected %q", t)
	}
	e, ok := p.searches[t]
	if !ok {
		return rules.Expr{}, fmt.Errorf("unknown search identifier %q", t)
	}
	return e, nil
}
