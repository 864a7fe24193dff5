package template

import (
	"fmt"
	"strings"
	"text/template/parse"
)

// This file finds, on the parse tree, what would fail when a template is
// rendered, whatever the values: every variable of Data is text, len returns a
// number, not, eq and ne true or false, and and or one of their arguments; eq
// and ne fail on values of different kinds (text and a number), and len on
// anything but text. It runs after checker, so functions, arities and
// variables are known to be allowed.

// types is a set of kinds of value a node may have.
type types uint8

const (
	tText types = 1 << iota
	tInt
	tFloat
	tComplex
	tBool
)

// describe names the kinds in t for an admin.
func (t types) describe() string {
	var parts []string
	for _, k := range []struct {
		t    types
		name string
	}{{tText, "text"}, {tInt, "a whole number"}, {tFloat, "a decimal number"}, {tComplex, "a complex number"}, {tBool, "true or false"}} {
		if t&k.t != 0 {
			parts = append(parts, k.name)
		}
	}
	return strings.Join(parts, " or ")
}

// single reports whether t holds exactly one kind.
func (t types) single() bool { return t != 0 && t&(t-1) == 0 }

// typer walks a parse tree with the kinds of dot and of each variable.
type typer struct {
	field string
	text  string // the source, for line numbers
	vars  []typedVar
}

// typedVar is a variable in scope ($x) and the kinds it may hold.
type typedVar struct {
	name string
	t    types
}

// checkTypes reports the first node of root that would fail to render.
func checkTypes(field, text string, root *parse.ListNode) error {
	t := typer{field: field, text: text}
	return t.list(root, tText)
}

// fail returns a *FieldError located at n.
func (t *typer) fail(n parse.Node, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if pos := int(n.Position()); pos >= 0 && pos <= len(t.text) {
		msg = fmt.Sprintf("line %d: %s", 1+strings.Count(t.text[:pos], "\n"), msg)
	}
	return &FieldError{Field: t.field, Message: msg}
}

// list walks the nodes of n; dot is the kinds dot may hold (Data counts as
// text: checker refuses printing it).
func (t *typer) list(n *parse.ListNode, dot types) error {
	if n == nil {
		return nil
	}
	for _, node := range n.Nodes {
		var err error
		switch node := node.(type) {
		case *parse.ActionNode:
			_, err = t.pipe(node.Pipe, dot)
		case *parse.IfNode:
			err = t.branch(&node.BranchNode, false, dot)
		case *parse.WithNode:
			err = t.branch(&node.BranchNode, true, dot)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// branch walks an {{if}} or {{with}}. Variables declared in it end with it;
// those assigned in one branch may hold what either branch left.
func (t *typer) branch(b *parse.BranchNode, with bool, dot types) error {
	mark := len(t.vars)
	pt, err := t.pipe(b.Pipe, dot)
	if err != nil {
		return err
	}
	before := append([]typedVar(nil), t.vars...)
	body := dot
	if with {
		body = pt
	}
	if err := t.list(b.List, body); err != nil {
		return err
	}
	afterBody := t.vars[:len(before)]
	t.vars = append([]typedVar(nil), before...)
	if err := t.list(b.ElseList, dot); err != nil {
		return err
	}
	for i := range before {
		t.vars[i].t |= afterBody[i].t
	}
	t.vars = t.vars[:mark]
	return nil
}

// pipe returns the kinds a pipeline's value may have, and declares or assigns
// its variables.
func (t *typer) pipe(p *parse.PipeNode, dot types) (types, error) {
	var v types
	for i, cmd := range p.Cmds {
		var piped *types
		if i > 0 {
			prev := v
			piped = &prev
		}
		var err error
		if v, err = t.command(cmd, dot, piped); err != nil {
			return 0, err
		}
	}
	for _, d := range p.Decl {
		if p.IsAssign {
			for j := len(t.vars) - 1; j >= 0; j-- {
				if t.vars[j].name == d.Ident[0] {
					t.vars[j].t = v
					break
				}
			}
			continue
		}
		t.vars = append(t.vars, typedVar{name: d.Ident[0], t: v})
	}
	return v, nil
}

// command returns the kinds of one command's value; piped is the previous
// command's, passed as the last argument.
func (t *typer) command(cmd *parse.CommandNode, dot types, piped *types) (types, error) {
	id, ok := cmd.Args[0].(*parse.IdentifierNode)
	if !ok {
		return t.operand(cmd.Args[0], dot)
	}
	args := make([]types, 0, len(cmd.Args))
	nodes := cmd.Args[1:]
	for _, a := range nodes {
		at, err := t.operand(a, dot)
		if err != nil {
			return 0, err
		}
		args = append(args, at)
	}
	if piped != nil {
		args = append(args, *piped)
	}
	describe := func(i int) string {
		if i < len(nodes) {
			if _, ok := nodes[i].(*parse.PipeNode); ok {
				return fmt.Sprintf("(%s) (%s)", nodes[i], args[i].describe())
			}
			return fmt.Sprintf("%s (%s)", nodes[i], args[i].describe())
		}
		return fmt.Sprintf("the piped value (%s)", args[i].describe())
	}
	switch id.Ident {
	case "and", "or":
		var v types
		for _, a := range args {
			v |= a
		}
		return v, nil
	case "not":
		return tBool, nil
	case "len":
		if args[0] != tText {
			return 0, t.fail(id, "len measures text, but %s may be something else; rendering would fail", describe(0))
		}
		return tInt, nil
	case "eq", "ne":
		for i := 1; i < len(args); i++ {
			if u := args[0] | args[i]; !u.single() {
				return 0, t.fail(id, "%s compares %s with %s: values of different kinds cannot be compared, so "+
					"rendering would fail; every variable is text, so compare it with quoted text such as \"3\"",
					id.Ident, describe(0), describe(i))
			}
		}
		return tBool, nil
	}
	return 0, t.fail(id, "function %q is not allowed", id.Ident) // checker refused it before
}

// operand returns the kinds of one argument.
func (t *typer) operand(n parse.Node, dot types) (types, error) {
	switch n := n.(type) {
	case *parse.FieldNode:
		return tText, nil
	case *parse.VariableNode:
		if n.Ident[0] == "$" {
			return tText, nil
		}
		for j := len(t.vars) - 1; j >= 0; j-- {
			if t.vars[j].name == n.Ident[0] {
				return t.vars[j].t, nil
			}
		}
		return 0, t.fail(n, "undefined variable %s", n.Ident[0]) // the parser refuses it before
	case *parse.DotNode:
		return dot, nil
	case *parse.StringNode:
		return tText, nil
	case *parse.BoolNode:
		return tBool, nil
	case *parse.NumberNode:
		return t.number(n)
	case *parse.PipeNode:
		return t.pipe(n, dot)
	}
	return 0, t.fail(n, "%s is not allowed", n) // checker refused it before
}

// number returns the kind text/template gives a number constant, as its
// idealConstant does, or an error for one it cannot use.
func (t *typer) number(n *parse.NumberNode) (types, error) {
	hexInt := len(n.Text) > 2 && n.Text[0] == '0' && (n.Text[1] == 'x' || n.Text[1] == 'X') &&
		!strings.ContainsAny(n.Text, "pP")
	runeInt := n.Text != "" && n.Text[0] == '\''
	switch {
	case n.IsComplex:
		return tComplex, nil
	case n.IsFloat && !hexInt && !runeInt && strings.ContainsAny(n.Text, ".eEpP"):
		return tFloat, nil
	case n.IsInt:
		return tInt, nil
	}
	return 0, t.fail(n, "the number %s is too large", n.Text)
}
