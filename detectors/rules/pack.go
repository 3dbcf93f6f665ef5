package rules

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/trailhound/trailhound/detectors"
)

//go:embed builtin/*.yaml
var builtinFS embed.FS

// Builtin returns the definitions of the built-in rule pack, embedded in
// the binary.
func Builtin() ([]Definition, error) {
	return loadFS(builtinFS, "builtin", "builtin")
}

// LoadDir reads every *.yaml and *.yml file under dir as rule files.
func LoadDir(dir string) ([]Definition, error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	var defs []Definition
	seen := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !isRuleFile(p) {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		ds, err := Parse(b, p, dir)
		if err != nil {
			return err
		}
		for _, d := range ds {
			if prev, ok := seen[d.ID]; ok {
				return &Error{File: d.File, Line: d.Line, Rule: d.ID, Key: "id", Msg: "duplicate id, also defined in " + prev}
			}
			seen[d.ID] = fmt.Sprintf("%s:%d", d.File, d.Line)
		}
		defs = append(defs, ds...)
		return nil
	})
	if err != nil {
		if _, ok := err.(*Error); ok {
			return nil, err
		}
		return nil, fmt.Errorf("rules: %w", err)
	}
	return defs, nil
}

func loadFS(fsys fs.FS, root, origin string) ([]Definition, error) {
	var defs []Definition
	seen := map[string]string{}
	err := fs.WalkDir(fsys, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !isRuleFile(p) {
			return nil
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		ds, err := Parse(b, path.Join("detectors/rules", p), origin)
		if err != nil {
			return err
		}
		for _, d := range ds {
			if prev, ok := seen[d.ID]; ok {
				return &Error{File: d.File, Line: d.Line, Rule: d.ID, Key: "id", Msg: "duplicate id, also defined in " + prev}
			}
			seen[d.ID] = fmt.Sprintf("%s:%d", d.File, d.Line)
		}
		defs = append(defs, ds...)
		return nil
	})
	return defs, err
}

func isRuleFile(p string) bool {
	return strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")
}

// Options says which rules a pack holds.
type Options struct {
	// NoBuiltin leaves out the built-in pack.
	NoBuiltin bool
	// Dirs are directories of YAML rule files. A rule whose id is already
	// defined (built in, or in an earlier directory) replaces it.
	Dirs []string
	// Extra are further definitions, such as translated Sigma rules, added
	// last with the same override rule.
	Extra []Definition
	// Enable lists rules shipped turned off (enabled: false) to run.
	Enable []string
	// Disable lists rule ids to leave out.
	Disable []string
	// DeploymentPrincipals are the role and user name patterns (shell
	// globs, case-insensitive) the field deployer takes as deployment
	// tooling; nil means DefaultDeploymentPrincipals. The setting is
	// process-wide: the last Load wins.
	DeploymentPrincipals []string
}

// Pack is a compiled, ordered set of rules.
type Pack struct {
	rules []*Rule
	byID  map[string]*Rule
	off   []Definition
}

// Off returns the definitions left out: disabled, or shipped off and not
// enabled.
func (p *Pack) Off() []Definition { return p.off }

// Load builds a pack from the built-in rules, the rule directories and the
// extra definitions, minus the disabled ids.
func Load(opts Options) (*Pack, error) {
	if opts.DeploymentPrincipals != nil {
		setDeploymentPrincipals(opts.DeploymentPrincipals)
	} else {
		setDeploymentPrincipals(DefaultDeploymentPrincipals)
	}
	var layers [][]Definition
	if !opts.NoBuiltin {
		b, err := Builtin()
		if err != nil {
			return nil, err
		}
		layers = append(layers, b)
	}
	for _, d := range opts.Dirs {
		defs, err := LoadDir(d)
		if err != nil {
			return nil, err
		}
		layers = append(layers, defs)
	}
	layers = append(layers, opts.Extra)
	return Assemble(layers, opts.Enable, opts.Disable)
}

// Assemble compiles layers of definitions into a pack: a definition
// replaces an earlier one with the same id, rules shipped off run only when
// enabled, disabled ids are dropped, and superseded_by references are
// resolved.
func Assemble(layers [][]Definition, enable, disable []string) (*Pack, error) {
	var order []string
	defs := map[string]Definition{}
	for _, layer := range layers {
		for _, d := range layer {
			if _, ok := defs[d.ID]; !ok {
				order = append(order, d.ID)
			}
			defs[d.ID] = d
		}
	}
	on := map[string]bool{}
	for _, id := range enable {
		if _, ok := defs[id]; !ok {
			return nil, fmt.Errorf("rules: cannot enable unknown rule %q", id)
		}
		on[id] = true
	}
	off := map[string]bool{}
	for _, id := range disable {
		if _, ok := defs[id]; !ok {
			return nil, fmt.Errorf("rules: cannot disable unknown rule %q", id)
		}
		off[id] = true
	}
	p := &Pack{byID: map[string]*Rule{}}
	for _, id := range order {
		if off[id] || defs[id].Off && !on[id] {
			p.off = append(p.off, defs[id])
			continue
		}
		r, err := Compile(defs[id])
		if err != nil {
			return nil, err
		}
		p.rules = append(p.rules, r)
		p.byID[id] = r
	}
	for _, r := range p.rules {
		for i, id := range r.def.SupersededBy {
			if _, ok := defs[id]; !ok {
				return nil, &Error{File: r.def.File, Line: r.def.Line, Rule: r.def.ID, Key: fmt.Sprintf("superseded_by[%d]", i), Msg: fmt.Sprintf("unknown rule %q", id)}
			}
			if id == r.def.ID {
				return nil, &Error{File: r.def.File, Line: r.def.Line, Rule: r.def.ID, Key: fmt.Sprintf("superseded_by[%d]", i), Msg: "a rule cannot supersede itself"}
			}
			if s, ok := p.byID[id]; ok {
				r.superseded = append(r.superseded, s)
			}
		}
	}
	return p, nil
}

// Rules returns the pack's rules in definition order.
func (p *Pack) Rules() []*Rule { return p.rules }

// Rule returns the rule with the given id.
func (p *Pack) Rule(id string) (*Rule, bool) {
	r, ok := p.byID[id]
	return r, ok
}

// Sorted returns the rules ordered by id.
func (p *Pack) Sorted() []*Rule {
	out := append([]*Rule(nil), p.rules...)
	sort.Slice(out, func(i, j int) bool { return out[i].def.ID < out[j].def.ID })
	return out
}

// LoadState reads the windows of the threshold rules from db.
func (p *Pack) LoadState(db *bolt.DB) error {
	for _, r := range p.rules {
		if err := r.Load(db); err != nil {
			return err
		}
	}
	return nil
}

// Detectors returns the rules as detectors, in order.
func (p *Pack) Detectors() []detectors.Detector {
	out := make([]detectors.Detector, len(p.rules))
	for i, r := range p.rules {
		out[i] = r
	}
	return out
}

// RunTests runs the inline tests of every rule, or of the rule with the
// given id when id is not empty.
func (p *Pack) RunTests(id string) []CaseResult {
	var out []CaseResult
	for _, r := range p.rules {
		if id == "" || r.def.ID == id {
			out = append(out, r.RunTests()...)
		}
	}
	return out
}
