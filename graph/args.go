package graph

import (
	"fmt"
	"strings"

	"github.com/vektah/gqlparser/v2/ast"

	"github.com/rollcall/rollcall/internal/apperr"
	"github.com/rollcall/rollcall/internal/bulksend"
)

// listCap is how many elements the list in input field field of type
// typeName may hold, when that differs from Limits.MaxList: the service
// behind it takes more, and checks its own bound.
func listCap(typeName, field string) (int, bool) {
	if typeName == "SendInvitationsInput" && field == "userIds" {
		return bulksend.MaxUserIDs, true
	}
	return 0, false
}

// inputs checks the arguments the operation passes, literals and variables
// alike, down through input objects and lists: no string holds NUL (which
// PostgreSQL cannot store or compare), and no list is longer than
// Limits.MaxList, nor all of them together (every id in a filter becomes a
// query parameter, and the databases take tens of thousands at most).
type inputs struct {
	schema *ast.Schema
	doc    *ast.QueryDocument
	limits Limits
	vars   variables
	// seen holds, for each fragment already checked, the elements its
	// lists count towards the general cap (-1 while it is being checked):
	// each further spread adds them again without checking again.
	seen     map[string]spread
	listed   int    // elements of the lists under the general cap so far
	lastList string // path of the last list counted
}

// check walks the fields of op, then every variable (for a variable used
// where no argument names it, such as a directive).
func (c *inputs) check(op *ast.OperationDefinition) error {
	c.seen = map[string]spread{}
	if err := c.selectionSet(op.SelectionSet, (&shape{schema: c.schema}).rootType(op.Operation)); err != nil {
		return err
	}
	for name, value := range c.vars.values {
		if path, ok := findNUL(value, "$"+name); ok {
			return nulError(path)
		}
	}
	return nil
}

func (c *inputs) selectionSet(set ast.SelectionSet, parent *ast.Definition) error {
	for _, sel := range set {
		switch sel := sel.(type) {
		case *ast.Field:
			var def *ast.FieldDefinition
			if parent != nil {
				def = parent.Fields.ForName(sel.Name)
			}
			for _, arg := range sel.Arguments {
				var t *ast.Type
				if def != nil {
					if a := def.Arguments.ForName(arg.Name); a != nil {
						t = a.Type
					}
				}
				if err := c.literal(arg.Value, t, arg.Name, "", ""); err != nil {
					return err
				}
			}
			var child *ast.Definition
			if def != nil {
				child = c.schema.Types[def.Type.Name()]
			}
			if err := c.selectionSet(sel.SelectionSet, child); err != nil {
				return err
			}
		case *ast.InlineFragment:
			t := parent
			if sel.TypeCondition != "" {
				t = c.schema.Types[sel.TypeCondition]
			}
			if err := c.selectionSet(sel.SelectionSet, t); err != nil {
				return err
			}
		case *ast.FragmentSpread:
			if f, ok := c.seen[sel.Name]; ok {
				if f.listed > 0 {
					if err := c.count(f.listed, f.path); err != nil {
						return err
					}
				}
				continue
			}
			c.seen[sel.Name] = spread{} // a cycle is the cost check's to refuse
			before := c.listed
			if def := c.doc.Fragments.ForName(sel.Name); def != nil {
				if err := c.selectionSet(def.SelectionSet, c.schema.Types[def.TypeCondition]); err != nil {
					return err
				}
			}
			c.seen[sel.Name] = spread{listed: c.listed - before, path: c.lastList}
		}
	}
	return nil
}

// literal checks a value written in the document, of type t (nil when
// unknown) at path. typeName and field name the input field holding it,
// for listCap.
func (c *inputs) literal(v *ast.Value, t *ast.Type, path, typeName, field string) error {
	if v == nil {
		return nil
	}
	switch v.Kind {
	case ast.Variable:
		value, def, ok := c.vars.lookup(v.Raw)
		switch {
		case !ok:
			return nil
		case def != nil:
			return c.literal(def, t, path, typeName, field)
		}
		return c.value(value, t, path, typeName, field)
	case ast.StringValue, ast.BlockValue:
		if strings.ContainsRune(v.Raw, 0) {
			return nulError(path)
		}
	case ast.ListValue:
		if err := c.list(len(v.Children), path, typeName, field); err != nil {
			return err
		}
		for _, el := range v.Children {
			if err := c.literal(el.Value, elem(t), path, typeName, field); err != nil {
				return err
			}
		}
	case ast.ObjectValue:
		obj := c.inputObject(t)
		for _, f := range v.Children {
			if err := c.literal(f.Value, fieldType(obj, f.Name), path+"."+f.Name, objName(obj), f.Name); err != nil {
				return err
			}
		}
	}
	return nil
}

// value checks a variable's value (decoded JSON) used where type t is
// expected, as literal does.
func (c *inputs) value(v any, t *ast.Type, path, typeName, field string) error {
	switch v := v.(type) {
	case string:
		if strings.ContainsRune(v, 0) {
			return nulError(path)
		}
	case []any:
		if err := c.list(len(v), path, typeName, field); err != nil {
			return err
		}
		for _, el := range v {
			if err := c.value(el, elem(t), path, typeName, field); err != nil {
				return err
			}
		}
	case map[string]any:
		obj := c.inputObject(t)
		for name, f := range v {
			if err := c.value(f, fieldType(obj, name), path+"."+name, objName(obj), name); err != nil {
				return err
			}
		}
	}
	return nil
}

// list counts a list of n elements at path against the limits.
func (c *inputs) list(n int, path, typeName, field string) error {
	if most, ok := listCap(typeName, field); ok {
		if n > most {
			return listError(path, fmt.Sprintf("%s holds %d elements; at most %d are accepted", path, n, most))
		}
		return nil
	}
	if over(int64(n), c.limits.MaxList) {
		return listError(path, fmt.Sprintf("%s holds %d elements; at most %d are accepted", path, n, c.limits.MaxList))
	}
	return c.count(n, path)
}

// spread is what a checked fragment adds to the lists' total each time it
// is spread, and the path of its last list, for the error.
type spread struct {
	listed int
	path   string
}

// count adds n elements, at path, to the lists' total under the general cap.
func (c *inputs) count(n int, path string) error {
	c.listed += n
	c.lastList = path
	if over(int64(c.listed), c.limits.MaxList) {
		return listError(path, fmt.Sprintf("the arguments' lists hold more than %d elements in all", c.limits.MaxList))
	}
	return nil
}

// inputObject is the input object type t names, or nil.
func (c *inputs) inputObject(t *ast.Type) *ast.Definition {
	if t == nil || t.Elem != nil {
		return nil
	}
	if d := c.schema.Types[t.NamedType]; d != nil && d.Kind == ast.InputObject {
		return d
	}
	return nil
}

// elem is the element type of list type t; a single value where a list is
// expected is coerced to a list of one, so t itself otherwise.
func elem(t *ast.Type) *ast.Type {
	if t != nil && t.Elem != nil {
		return t.Elem
	}
	return t
}

func fieldType(obj *ast.Definition, name string) *ast.Type {
	if obj == nil {
		return nil
	}
	if f := obj.Fields.ForName(name); f != nil {
		return f.Type
	}
	return nil
}

func objName(obj *ast.Definition) string {
	if obj == nil {
		return ""
	}
	return obj.Name
}

// findNUL returns the path of the first string within v that holds NUL.
func findNUL(v any, path string) (string, bool) {
	switch v := v.(type) {
	case string:
		return path, strings.ContainsRune(v, 0)
	case []any:
		for _, el := range v {
			if p, ok := findNUL(el, path); ok {
				return p, true
			}
		}
	case map[string]any:
		for name, f := range v {
			if p, ok := findNUL(f, path+"."+name); ok {
				return p, true
			}
		}
	}
	return "", false
}

// lastSegment is the innermost name of a path such as where.emailContains:
// the field extensions.field names, as the services' own errors do.
func lastSegment(path string) string {
	return strings.TrimPrefix(path[strings.LastIndexByte(path, '.')+1:], "$")
}

func nulError(path string) error {
	return apperr.Invalid(lastSegment(path), fmt.Sprintf("%s contains a NUL character (U+0000), which is not accepted", path))
}

func listError(path, msg string) error {
	return apperr.Invalid(lastSegment(path), msg)
}
