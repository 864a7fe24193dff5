package graph

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/vektah/gqlparser/v2/ast"

	"github.com/rollcall/rollcall/internal/apperr"
	"github.com/rollcall/rollcall/internal/people"
)

// What fields cost. A field costs 1, plus what its selection costs times
// the number of items it returns: a connection (a field with first or last)
// multiplies the items of its edges and nodes by its page size (default 50,
// at most 500, as every connection pages), nodes(ids:) multiplies by the
// number of ids, and other lists of objects by listEstimate. Fields that do
// more than read a loaded value carry their own weight on top.
const (
	// listEstimate is the assumed length of a list of objects that takes no
	// size (roles, templates, an import's people in a payload, the
	// schema's types in introspection).
	listEstimate = 10
	// pageWeight is a page's own queries (the rows, their eager-loaded
	// edges); nodeWeight a lookup by id.
	pageWeight = 10
	nodeWeight = 10
	// countWeight is a totalCount: a COUNT over every matching row.
	countWeight = 5000
	// searchWeight is a search argument: a substring match over every row.
	searchWeight = 5000
	// mutationWeight is a mutation: a transaction, often more.
	mutationWeight = 500
	// saturated bounds every figure, so sums and products never overflow.
	saturated = math.MaxInt64 / 4
)

// extraWeight is what a field costs beyond 1 for what it does itself.
// Statistics and other aggregates get an entry here when they are added.
func extraWeight(parent *ast.Definition, def *ast.FieldDefinition, schema *ast.Schema) int64 {
	switch {
	case parent == nil || def == nil:
		return 0
	case parent == schema.Mutation:
		return mutationWeight
	case def.Name == "totalCount" && isConnection(parent):
		return countWeight
	case parent == schema.Query && (def.Name == "peopleStats" || def.Name == "invitationFunnel"):
		// A GROUP BY over every matching person; the funnel, five.
		return countWeight
	case parent.Name == "BulkSend" && (def.Name == "accepted" || def.Name == "medianSecondsToAccept"):
		return pageWeight // a query per send
	case parent == schema.Query && (def.Name == "node" || def.Name == "nodes"):
		return nodeWeight
	case def.Type.Name() == "Node":
		// A Node-typed field (an audit event's actor or target) reads its
		// node on its own, one query each.
		return nodeWeight
	case def.Arguments.ForName("first") != nil || def.Arguments.ForName("last") != nil:
		return pageWeight
	}
	return 0
}

// isConnection reports whether t is a Relay connection, whose lists (edges,
// nodes) hold one page.
func isConnection(t *ast.Definition) bool {
	return t != nil && strings.HasSuffix(t.Name, "Connection")
}

func add(a, b int64) int64 { return min(a+b, saturated) }

func mul(a, b int64) int64 {
	if a == 0 || b == 0 {
		return 0
	}
	if a >= saturated/b {
		return saturated
	}
	return a * b
}

// measure is what one selection set adds to the field that holds it.
type measure struct {
	width   int64 // fields the executor collects for it, fragments expanded
	depth   int64 // deepest nesting of fields below it
	fixed   int64 // cost, but for a connection's lists
	perItem int64 // cost of one item of a connection's lists (edges, nodes)
}

func (m *measure) merge(o measure) {
	m.width = add(m.width, o.width)
	m.depth = max(m.depth, o.depth)
	m.fixed = add(m.fixed, o.fixed)
	m.perItem = add(m.perItem, o.perItem)
}

// total is the cost of the set when its connection lists hold items items.
func (m measure) total(items int64) int64 { return add(m.fixed, mul(items, m.perItem)) }

// fragmentMeasure memoises a fragment definition: each is measured once,
// however often it is spread.
type fragmentMeasure struct {
	measure
	done   bool
	onPath bool // being measured: a spread of it now is a cycle
}

// shape measures a parsed document without expanding fragment spreads
// more than once, so its work is linear in the document's size. The
// document has not been validated: unknown fields, types and fragments
// count as cheap leaves, and validation refuses them afterwards.
type shape struct {
	schema    *ast.Schema
	doc       *ast.QueryDocument
	limits    Limits
	vars      variables
	fragments map[string]*fragmentMeasure
}

// over reports whether n is over limit; a limit of 0 or less is none.
func over(n int64, limit int) bool { return limit > 0 && n > int64(limit) }

// limitErrorf reports a request over one of the limits.
func limitErrorf(format string, args ...any) error {
	return apperr.New(apperr.BadUserInput, fmt.Sprintf(format, args...))
}

// check refuses a document whose selection sets are too wide, whose
// fragments spread themselves, whose operations are too deep, whose
// operation op (the one to run; nil when unknown) costs too much, or which
// selects too many fields, or the same ones too often, for validation.
func (s *shape) check(op *ast.OperationDefinition) error {
	s.fragments = make(map[string]*fragmentMeasure, len(s.doc.Fragments))
	for _, f := range s.doc.Fragments {
		if _, err := s.fragment(f.Name); err != nil {
			return err
		}
	}
	for _, o := range s.doc.Operations {
		m, err := s.selectionSet(o.SelectionSet, s.rootType(o.Operation))
		if err != nil {
			return err
		}
		if over(m.depth, s.limits.MaxDepth) {
			return limitErrorf("query depth %d exceeds the limit of %d", m.depth, s.limits.MaxDepth)
		}
		if o != op {
			continue
		}
		if cost := m.total(people.DefaultPageSize); over(cost, s.limits.MaxComplexity) {
			return limitErrorf("query cost %d exceeds the limit of %d: ask for fewer or smaller pages, or fewer fields", cost, s.limits.MaxComplexity)
		}
	}
	return s.overlaps()
}

// pairsPerField is how many pairs of same-path fields validation may compare
// per field Limits.MaxFields allows.
const pairsPerField = 2

// responsePath is a node of the tree of response paths (aliases, or names)
// a selection set's fields produce, fragments expanded.
type responsePath struct {
	fields   int64 // fields at this path
	children map[string]*responsePath
}

// overlaps bounds validation's overlapping-fields rule, which compares every
// two fields at the same response path (quadratic: 200 aliases of a field
// with 60 subfields took 28 s): the document's operations and fragment
// definitions, fragments expanded, may select at most Limits.MaxFields
// fields, and their fields at a shared path may make at most pairsPerField
// times as many pairs. Fragments are acyclic by now (check refused cycles),
// and the walk stops at either bound, so its work is bounded too.
func (s *shape) overlaps() error {
	if s.limits.MaxFields <= 0 {
		return nil
	}
	var fields, pairs int64
	budget := mul(pairsPerField, int64(s.limits.MaxFields))
	var expand func(set ast.SelectionSet, at *responsePath) error
	expand = func(set ast.SelectionSet, at *responsePath) error {
		for _, sel := range set {
			switch sel := sel.(type) {
			case *ast.Field:
				name := sel.Alias
				if name == "" {
					name = sel.Name
				}
				if at.children == nil {
					at.children = map[string]*responsePath{}
				}
				p := at.children[name]
				if p == nil {
					p = &responsePath{}
					at.children[name] = p
				}
				pairs += p.fields // the new field pairs with each one already there
				p.fields++
				if fields++; fields > int64(s.limits.MaxFields) {
					return limitErrorf("the document selects more than %d fields, fragments expanded; at most %d are accepted", s.limits.MaxFields, s.limits.MaxFields)
				}
				if pairs > budget {
					return limitErrorf("the document selects the same fields too often (%d pairs of fields at the same response path, fragments expanded; at most %d)", pairs, budget)
				}
				if err := expand(sel.SelectionSet, p); err != nil {
					return err
				}
			case *ast.InlineFragment:
				if err := expand(sel.SelectionSet, at); err != nil {
					return err
				}
			case *ast.FragmentSpread:
				if def := s.doc.Fragments.ForName(sel.Name); def != nil {
					if err := expand(def.SelectionSet, at); err != nil {
						return err
					}
				}
			}
		}
		return nil
	}
	for _, o := range s.doc.Operations {
		if err := expand(o.SelectionSet, &responsePath{}); err != nil {
			return err
		}
	}
	for _, f := range s.doc.Fragments {
		if err := expand(f.SelectionSet, &responsePath{}); err != nil {
			return err
		}
	}
	return nil
}

func (s *shape) rootType(op ast.Operation) *ast.Definition {
	switch op {
	case ast.Mutation:
		return s.schema.Mutation
	case ast.Subscription:
		return s.schema.Subscription
	default:
		return s.schema.Query
	}
}

// selectionSet measures set, whose fields belong to parent (nil when
// unknown), and refuses it when it collects too many fields.
func (s *shape) selectionSet(set ast.SelectionSet, parent *ast.Definition) (measure, error) {
	var m measure
	for _, sel := range set {
		switch sel := sel.(type) {
		case *ast.Field:
			fm, err := s.field(sel, parent)
			if err != nil {
				return m, err
			}
			m.merge(fm)
		case *ast.InlineFragment:
			t := parent
			if sel.TypeCondition != "" {
				t = s.schema.Types[sel.TypeCondition]
			}
			im, err := s.selectionSet(sel.SelectionSet, t)
			if err != nil {
				return m, err
			}
			m.merge(im)
		case *ast.FragmentSpread:
			fm, err := s.fragment(sel.Name)
			if err != nil {
				return m, err
			}
			m.merge(fm)
		}
	}
	if over(m.width, s.limits.MaxSelections) {
		return m, limitErrorf("a selection set selects %d fields (fragments included); at most %d are accepted", m.width, s.limits.MaxSelections)
	}
	return m, nil
}

// fragment measures the fragment definition name once.
func (s *shape) fragment(name string) (measure, error) {
	fm := s.fragments[name]
	switch {
	case fm == nil:
		fm = &fragmentMeasure{}
		s.fragments[name] = fm
	case fm.onPath:
		return measure{}, limitErrorf("fragment %s spreads itself", name)
	case fm.done:
		return fm.measure, nil
	}
	def := s.doc.Fragments.ForName(name)
	if def == nil {
		fm.done = true // unknown: validation reports it
		return measure{}, nil
	}
	fm.onPath = true
	m, err := s.selectionSet(def.SelectionSet, s.schema.Types[def.TypeCondition])
	fm.onPath = false
	if err != nil {
		return measure{}, err
	}
	fm.measure, fm.done = m, true
	return m, nil
}

// field measures one field as part of its parent's selection set.
func (s *shape) field(f *ast.Field, parent *ast.Definition) (measure, error) {
	var def *ast.FieldDefinition
	if parent != nil {
		def = parent.Fields.ForName(f.Name)
	}
	weight := add(1, extraWeight(parent, def, s.schema))
	if def != nil && def.Arguments.ForName("search") != nil && s.vars.nonEmptyString(f.Arguments.ForName("search")) {
		weight = add(weight, searchWeight)
	}
	out := measure{width: 1, depth: 1}
	if len(f.SelectionSet) == 0 {
		out.fixed = weight
		return out, nil
	}
	var t *ast.Definition
	if def != nil {
		t = s.schema.Types[def.Type.Name()]
	}
	child, err := s.selectionSet(f.SelectionSet, t)
	if err != nil {
		return out, err
	}
	out.depth = add(1, child.depth)
	isList := def != nil && def.Type.Elem != nil
	switch {
	case s.paged(def):
		out.fixed = add(weight, child.total(s.pageSize(f)))
	case isList && isConnection(parent):
		// edges or nodes: one item here, times the page size above.
		out.perItem = add(weight, child.total(people.DefaultPageSize))
	case isList && def.Arguments.ForName("ids") != nil:
		out.fixed = add(weight, mul(s.vars.length(f.Arguments.ForName("ids")), child.total(people.DefaultPageSize)))
	case isList:
		out.fixed = add(weight, mul(listEstimate, child.total(people.DefaultPageSize)))
	default:
		out.fixed = add(weight, child.total(people.DefaultPageSize))
	}
	return out, nil
}

// paged reports whether def is a connection field that takes a page size.
func (s *shape) paged(def *ast.FieldDefinition) bool {
	return def != nil && (def.Arguments.ForName("first") != nil || def.Arguments.ForName("last") != nil)
}

// pageSize is the number of items f's page holds: first or last, else the
// default, within the maximum every connection applies.
func (s *shape) pageSize(f *ast.Field) int64 {
	n, given := int64(0), false
	for _, name := range []string{"first", "last"} {
		if v, ok := s.vars.int(f.Arguments.ForName(name)); ok {
			n, given = max(n, v), true
		}
	}
	if !given {
		return people.DefaultPageSize
	}
	return min(max(n, 0), people.MaxPageSize)
}

// variables resolves argument values with the request's variables and the
// defaults of the operation that runs.
type variables struct {
	values map[string]any
	op     *ast.OperationDefinition // nil when unknown
}

// lookup returns the value of $name: the request's, else the operation's
// default (as a literal), else absent.
func (v variables) lookup(name string) (value any, literal *ast.Value, ok bool) {
	if value, ok := v.values[name]; ok {
		return value, nil, true
	}
	if v.op != nil {
		if d := v.op.VariableDefinitions.ForName(name); d != nil && d.DefaultValue != nil {
			return nil, d.DefaultValue, true
		}
	}
	return nil, nil, false
}

// int reads an Int argument; ok is false when it is absent, null or not
// an integer (validation reports the latter).
func (v variables) int(arg *ast.Argument) (int64, bool) {
	if arg == nil {
		return 0, false
	}
	return v.intValue(arg.Value)
}

func (v variables) intValue(val *ast.Value) (int64, bool) {
	switch {
	case val == nil:
		return 0, false
	case val.Kind == ast.IntValue:
		n, err := strconv.ParseInt(val.Raw, 10, 64)
		return n, err == nil
	case val.Kind != ast.Variable:
		return 0, false
	}
	value, literal, ok := v.lookup(val.Raw)
	switch {
	case !ok:
		return 0, false
	case literal != nil:
		return v.intValue(literal)
	}
	switch n := value.(type) {
	case json.Number:
		i, err := n.Int64()
		return i, err == nil
	case float64:
		return int64(n), n == math.Trunc(n)
	case int:
		return int64(n), true
	case int64:
		return n, true
	}
	return 0, false
}

// length is the number of elements of a list argument (one for a single
// value, which input coercion makes a list of one).
func (v variables) length(arg *ast.Argument) int64 {
	if arg == nil {
		return 0
	}
	return v.lengthOf(arg.Value)
}

func (v variables) lengthOf(val *ast.Value) int64 {
	switch {
	case val == nil || val.Kind == ast.NullValue:
		return 0
	case val.Kind == ast.ListValue:
		return int64(len(val.Children))
	case val.Kind != ast.Variable:
		return 1
	}
	value, literal, ok := v.lookup(val.Raw)
	switch {
	case !ok:
		return 0
	case literal != nil:
		return v.lengthOf(literal)
	}
	switch value := value.(type) {
	case nil:
		return 0
	case []any:
		return int64(len(value))
	}
	return 1
}

// nonEmptyString reports whether a String argument is given and not blank.
func (v variables) nonEmptyString(arg *ast.Argument) bool {
	if arg == nil {
		return false
	}
	val := arg.Value
	if val.Kind == ast.Variable {
		value, literal, ok := v.lookup(val.Raw)
		switch {
		case !ok:
			return false
		case literal == nil:
			s, _ := value.(string)
			return strings.TrimSpace(s) != ""
		}
		val = literal
	}
	return (val.Kind == ast.StringValue || val.Kind == ast.BlockValue) && strings.TrimSpace(val.Raw) != ""
}
