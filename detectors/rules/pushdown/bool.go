package pushdown

import "strings"

// bx is a boolean expression over engine-specific leaves, simplified as it
// is built, so a condition an engine cannot express drops out of the
// query instead of appearing as a constant.
type bx struct {
	k    byte // 't' true, 'f' false, '&' and, '|' or, '!' not, 'l' leaf
	leaf string
	// key identifies the leaf for projections (the field it reads).
	key string
	// nullable marks a SQL leaf that may be NULL: under a negation it is
	// written as COALESCE(leaf, FALSE), so NOT keeps two-valued logic.
	nullable bool
	xs       []*bx
}

var (
	bTrue  = &bx{k: 't'}
	bFalse = &bx{k: 'f'}
)

func leaf(s, key string) *bx { return &bx{k: 'l', leaf: s, key: key} }

func nleaf(s, key string) *bx { return &bx{k: 'l', leaf: s, key: key, nullable: true} }

func and(xs ...*bx) *bx { return join('&', bTrue, bFalse, xs) }

func or(xs ...*bx) *bx { return join('|', bFalse, bTrue, xs) }

// join builds the conjunction ('&') or disjunction ('|') of xs: unit (true
// for and, false for or) drops out, zero decides the whole, nested terms of
// the same kind are flattened and repeats removed.
func join(k byte, unit, zero *bx, xs []*bx) *bx {
	var out []*bx
	for _, x := range xs {
		switch x.k {
		case zero.k:
			return zero
		case unit.k:
			continue
		case k:
			out = append(out, x.xs...)
		default:
			out = append(out, x)
		}
	}
	out = dedup(out)
	switch len(out) {
	case 0:
		return unit
	case 1:
		return out[0]
	}
	return &bx{k: k, xs: out}
}

func not(x *bx) *bx {
	switch x.k {
	case 't':
		return bFalse
	case 'f':
		return bTrue
	case '!':
		return x.xs[0]
	}
	return &bx{k: '!', xs: []*bx{x}}
}

// dedup drops repeated leaves, which or-ing many rules produces often.
func dedup(xs []*bx) []*bx {
	if len(xs) < 2 {
		return xs
	}
	seen := map[string]bool{}
	out := xs[:0:0]
	for _, x := range xs {
		if x.k == 'l' {
			if seen[x.leaf] {
				continue
			}
			seen[x.leaf] = true
		}
		out = append(out, x)
	}
	return out
}

// syntax is how an engine writes connectives and constants.
type syntax struct {
	and, or, not string
	t, f         string
}

var (
	sqlSyntax      = syntax{and: " AND ", or: " OR ", not: "NOT ", t: "TRUE", f: "FALSE"}
	insightsSyntax = syntax{and: " and ", or: " or ", not: "not ", t: "1 = 1", f: "1 = 0"}
	patternSyntax  = syntax{and: " && ", or: " || ", t: "", f: ""}
)

func (x *bx) render(s syntax) string {
	var b strings.Builder
	x.write(&b, s, true, false)
	return b.String()
}

func (x *bx) write(b *strings.Builder, s syntax, top, neg bool) {
	switch x.k {
	case 't':
		b.WriteString(s.t)
	case 'f':
		b.WriteString(s.f)
	case 'l':
		if neg && x.nullable {
			b.WriteString("COALESCE(" + x.leaf + ", FALSE)")
		} else {
			b.WriteString(x.leaf)
		}
	case '!':
		b.WriteString(s.not)
		b.WriteByte('(')
		x.xs[0].write(b, s, true, true)
		b.WriteByte(')')
	case '&', '|':
		sep := s.and
		if x.k == '|' {
			sep = s.or
		}
		if !top {
			b.WriteByte('(')
		}
		for i, c := range x.xs {
			if i > 0 {
				b.WriteString(sep)
			}
			c.write(b, s, false, neg)
		}
		if !top {
			b.WriteByte(')')
		}
	}
}

// project keeps the leaves and negations keep accepts (a negation with
// all it holds) and replaces the others with true, so the result holds
// wherever x does when x is an over-approximation.
func (x *bx) project(keep func(*bx) bool) *bx {
	switch x.k {
	case 'l':
		if keep(x) {
			return x
		}
		return bTrue
	case '&', '|':
		xs := make([]*bx, len(x.xs))
		for i, c := range x.xs {
			xs[i] = c.project(keep)
		}
		if x.k == '&' {
			return and(xs...)
		}
		return or(xs...)
	case '!':
		if keep(x) {
			return x
		}
		return bTrue
	}
	return x
}

// leaves returns the leaves of x, in order.
func (x *bx) leaves(dst []*bx) []*bx {
	if x.k == 'l' {
		return append(dst, x)
	}
	for _, c := range x.xs {
		dst = c.leaves(dst)
	}
	return dst
}

// factor writes the OR of terms with shared conjuncts taken out, so many
// rules that share parts (failed: "false", by_service: "false") say them
// once: (a AND b) OR (a AND c) becomes a AND (b OR c). The result holds
// exactly where the OR does.
func factor(terms []*bx, s syntax) *bx {
	var live []*bx
	for _, t := range terms {
		switch t.k {
		case 't':
			return bTrue
		case 'f':
			continue
		}
		live = append(live, t)
	}
	terms = live
	if len(terms) < 2 {
		return or(terms...)
	}
	conj := func(x *bx) []*bx {
		if x.k == '&' {
			return x.xs
		}
		return []*bx{x}
	}
	texts := map[*bx]string{}
	text := func(x *bx) string {
		t, ok := texts[x]
		if !ok {
			t = x.render(s)
			texts[x] = t
		}
		return t
	}
	count := map[string]int{}
	for _, t := range terms {
		seen := map[string]bool{}
		for _, c := range conj(t) {
			if k := text(c); !seen[k] {
				seen[k] = true
				count[k]++
			}
		}
	}
	best, gain := "", 0
	for k, n := range count {
		if g := (n - 1) * len(k); n > 1 && (g > gain || g == gain && k < best) {
			best, gain = k, g
		}
	}
	if best == "" {
		return or(terms...)
	}
	var with, without []*bx
	var common *bx
	for _, t := range terms {
		var rest []*bx
		found := false
		for _, c := range conj(t) {
			if text(c) == best {
				found, common = true, c
				continue
			}
			rest = append(rest, c)
		}
		if found {
			with = append(with, and(rest...))
		} else {
			without = append(without, t)
		}
	}
	return or(and(common, factor(with, s)), factor(without, s))
}
