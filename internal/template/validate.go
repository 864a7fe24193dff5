package template

import (
	"fmt"
	htmltemplate "html/template"
	"io"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"strings"
	texttemplate "text/template"
	"text/template/parse"
)

// Names of the parts of a Source, as used in FieldError.Field.
const (
	fieldSubject = "subject"
	fieldHTML    = "html"
	fieldText    = "text"
)

// Size limits of a Source, in bytes.
const (
	maxSubjectBytes = 500
	maxBodyBytes    = 100 << 10
)

// allowedFuncs is the documentation form of the functions templates may call;
// funcArity is the authoritative list.
const allowedFuncs = "and, or, not, eq, ne, len"

// funcArity returns how many arguments an allowed function takes (max -1: no
// limit), and false for a function templates may not call.
func funcArity(name string) (minArgs, maxArgs int, ok bool) {
	switch name {
	case "and", "or":
		return 1, -1, true
	case "not", "len":
		return 1, 1, true
	case "eq":
		return 2, -1, true
	case "ne":
		return 2, 2, true
	}
	return 0, 0, false
}

// FieldError says which part of a Source is wrong.
type FieldError struct {
	// Field is "subject", "html" or "text".
	Field string
	// Message describes the problem for an admin, with its line when known.
	Message string
}

// Error returns the field and the message.
func (e *FieldError) Error() string {
	return e.Field + ": " + e.Message
}

// Validate parses src and returns a *FieldError for the first problem found,
// checking the subject, then the HTML, then the text; it returns a plain error
// for an unknown kind. Problems are:
//
//   - a blank subject, or both bodies blank (one of HTML and Text may be empty);
//   - a subject over 500 bytes, or an HTML or text body over 100 KB;
//   - a syntax error;
//   - an unknown variable (the message names it and lists the known ones), or
//     one not available for k, such as TemporaryPassword outside
//     TEMPORARY_PASSWORD (see Variables);
//   - {{define}}, {{template}} and {{block}}, since a Source is one template;
//   - {{range}}: nothing in Data is a list, and ranging over numbers could
//     make an email of any size;
//   - calling a function other than and, or, not, eq, ne and len, or with the
//     wrong number of arguments (printf, html, js, urlquery, index, slice,
//     call and print are refused: values are already formatted and escaping
//     is automatic);
//   - printing all of Data with {{.}} or {{$}}, fields of a value
//     ({{.FirstName.X}}), or {{.Field}} inside {{with}}, where dot is the
//     value itself ({{$.Field}} is fine there);
//   - nil, and anything html/template cannot escape safely;
//   - what would fail when rendered for some person: eq or ne between values
//     of different kinds (every variable is text, len gives a number, not a
//     boolean: {{eq .FirstName 1}} can never work), len of anything but text,
//     a number constant too large;
//   - a secret out of place. {{.ActionURL}} may only be the whole, quoted
//     value of a link's href (<a href="{{.ActionURL}}">) or stand alone in
//     text; {{.TemporaryPassword}} only alone in text; neither in the subject.
//     Alone in text means printed as it is (no function, pipeline, variable or
//     {{with}}), in HTML text or the text body (not in an attribute, <title>,
//     <style> or a comment), at the start of the part or right after a space,
//     tab or line break or an element that breaks the line (<p>, <br>, <td>…:
//     not an inline one such as <a>, <span>, <strong> or <code>, nor a value),
//     and followed by the end, a space, one of . , ; : ! ? ) or (in HTML) a
//     tag. In conditions a secret may only be tested for being set
//     ({{if .ActionURL}}, also through and, or and not). This holds on every
//     way through the template's {{if}} and {{with}} branches;
//   - in the HTML body, anything that could load or run something: elements
//     other than html, head, body, title, meta, style, table, tr, td, th,
//     tbody, thead, tfoot, caption, colgroup, col, div, span, p, br, hr, a,
//     h1–h6, strong, b, em, i, u, s, small, sup, sub, ul, ol, li, blockquote,
//     pre, code, center and font; attributes other than class, id, style,
//     align, valign, width, height, bgcolor, color, border, cellpadding,
//     cellspacing, role, dir, lang, title, alt, target, rel, face, size,
//     colspan, rowspan, span, start, type, media, nowrap and aria-*, plus href
//     on <a> (starting with https:, http: or mailto:, or {{.ActionURL}} or
//     {{.SignInURL}} alone)
//     and charset, name and content on <meta>; CSS (in style attributes and
//     <style>) with url(, @import, image-set( and the like, a backslash or an
//     "&", or any printed value; conditional comments; a "<" that does not
//     start a tag; and values printed anywhere but in text and quoted
//     attribute values.
//
// As a backstop, each part is also executed with every combination of set and
// empty for the variables it uses (see maxTrials), so an error that only shows
// when the template runs is caught.
func Validate(k Kind, src Source) error {
	_, err := compile(k, src, true)
	return err
}

// Compiled is a validated, parsed template, ready to render many times
// (also concurrently).
type Compiled struct {
	kind    Kind
	subject *texttemplate.Template
	html    *htmltemplate.Template
	text    *texttemplate.Template
}

// Compile checks src as Validate does and parses it once for many Render
// calls. It executes each part once rather than with every combination of
// values (templates are stored only once Validate accepted them, and the
// checks on the parse tree are what decide), so it stays cheap enough to run
// for every send; a template saved before a rule existed is still refused.
func Compile(k Kind, src Source) (*Compiled, error) {
	c, err := compile(k, src, false)
	if err != nil {
		return nil, fmt.Errorf("compile %s template: %w", k, err)
	}
	return c, nil
}

// compile validates src and parses its parts; trials tells whether to execute
// each part with every combination of values, or once.
func compile(k Kind, src Source, trials bool) (*Compiled, error) {
	if !k.valid() {
		return nil, fmt.Errorf("unknown template kind %q", k)
	}
	if strings.TrimSpace(src.Subject) == "" {
		return nil, &FieldError{Field: fieldSubject, Message: "the subject is required"}
	}
	if strings.TrimSpace(src.HTML) == "" && strings.TrimSpace(src.Text) == "" {
		return nil, &FieldError{Field: fieldHTML, Message: "an HTML or a text body is required"}
	}
	c := Compiled{kind: k}
	var err error
	if c.subject, err = compileText(k, fieldSubject, src.Subject, maxSubjectBytes, trials); err != nil {
		return nil, err
	}
	tree, err := check(k, fieldHTML, src.HTML, maxBodyBytes)
	if err != nil {
		return nil, err
	}
	if c.html, err = htmltemplate.New(fieldHTML).Option("missingkey=error").Parse(src.HTML); err != nil {
		return nil, &FieldError{Field: fieldHTML, Message: cleanMessage(fieldHTML, err)}
	}
	if err = tryExecute(k, fieldHTML, c.html, tree, trialLimit(len(src.HTML), trials)); err != nil {
		return nil, err
	}
	if c.text, err = compileText(k, fieldText, src.Text, maxBodyBytes, trials); err != nil {
		return nil, err
	}
	return &c, nil
}

// compileText checks and parses one plain-text part.
func compileText(k Kind, field, text string, limit int, trials bool) (*texttemplate.Template, error) {
	tree, err := check(k, field, text, limit)
	if err != nil {
		return nil, err
	}
	t, err := texttemplate.New(field).Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, &FieldError{Field: field, Message: cleanMessage(field, err)}
	}
	if err := tryExecute(k, field, t, tree, trialLimit(len(text), trials)); err != nil {
		return nil, err
	}
	return t, nil
}

// executor is what text/template and html/template have in common.
type executor interface {
	Execute(w io.Writer, data any) error
}

// Bounds on the trial executions of one part: every combination of set and
// empty for the variables it uses while there are at most maxTrials of them
// (eight variables), a sample beyond; and for a large part, fewer, so that
// trials times the part's size stay within trialBytes (but at least
// minTrials: a 100 KB body is tried 40 times).
const (
	maxTrials  = 256
	minTrials  = 16
	trialBytes = 4 << 20
)

// trialLimit is how many trial executions a part of size bytes gets: one
// without all.
func trialLimit(size int, all bool) int {
	if !all {
		return 1
	}
	return min(maxTrials, max(minTrials, trialBytes/max(size, 1)))
}

// tryExecute runs t with up to limit combinations of set and empty for the
// variables tree uses (see combinations; with a limit of 1, all empty), so
// that errors only execution finds, and html/template's escaping errors (found
// on the first execution whatever the data), are reported now.
func tryExecute(k Kind, field string, t executor, tree *parse.Tree, limit int) error {
	used := usedVariables(k, tree)
	for _, mask := range combinations(len(used), limit) {
		d := trialData(used, mask)
		if err := t.Execute(io.Discard, d); err != nil {
			fe := execError(field, err)
			if len(used) > 0 {
				fe.Message += " (" + describeTrial(used, mask) + ")"
			}
			return fe
		}
	}
	return nil
}

// usedVariables lists the variables tree refers to, in the order of Variables.
func usedVariables(k Kind, tree *parse.Tree) []string {
	var out []string
	for _, v := range Variables() {
		if slices.Contains(v.Kinds, k) && tree != nil && mentions(rootPipe(tree.Root), []string{v.Name}) {
			out = append(out, v.Name)
		}
	}
	return out
}

// rootPipe gathers every pipeline of a tree into one, for mentions.
func rootPipe(n *parse.ListNode) *parse.PipeNode {
	p := &parse.PipeNode{}
	var walk func(n parse.Node)
	walk = func(n parse.Node) {
		switch n := n.(type) {
		case *parse.ListNode:
			if n != nil {
				for _, m := range n.Nodes {
					walk(m)
				}
			}
		case *parse.ActionNode:
			p.Cmds = append(p.Cmds, n.Pipe.Cmds...)
		case *parse.IfNode:
			p.Cmds = append(p.Cmds, n.Pipe.Cmds...)
			walk(n.List)
			walk(n.ElseList)
		case *parse.WithNode:
			p.Cmds = append(p.Cmds, n.Pipe.Cmds...)
			walk(n.List)
			walk(n.ElseList)
		}
	}
	walk(n)
	return p
}

// combinations returns bit masks over n variables (bit i set: variable i is
// set): all 2^n of them when that is at most limit, otherwise none set, all
// set, each one alone set and alone empty, and a fixed pseudo-random sample up
// to limit.
func combinations(n, limit int) []uint64 {
	if n < 63 && 1<<n <= limit {
		out := make([]uint64, 1<<n)
		for i := range out {
			out[i] = uint64(i)
		}
		return out
	}
	all := uint64(1)<<n - 1
	seen := map[uint64]bool{}
	var out []uint64
	add := func(m uint64) {
		if m &= all; !seen[m] && len(out) < limit {
			seen[m] = true
			out = append(out, m)
		}
	}
	add(0)
	add(all)
	for i := range n {
		add(1 << i)
		add(all &^ (1 << i))
	}
	r := rand.New(rand.NewPCG(0x5eed, uint64(n)))
	for len(out) < limit {
		add(r.Uint64())
	}
	return out
}

// trialData is Data with the variables of used set (from sampleData) where
// mask has a bit.
func trialData(used []string, mask uint64) Data {
	sample := reflect.ValueOf(sampleData())
	var d Data
	v := reflect.ValueOf(&d).Elem()
	for i, name := range used {
		if mask&(1<<i) != 0 {
			v.FieldByName(name).Set(sample.FieldByName(name))
		}
	}
	return d
}

// describeTrial says which variables were set and empty, for a message.
func describeTrial(used []string, mask uint64) string {
	var set, empty []string
	for i, name := range used {
		if mask&(1<<i) != 0 {
			set = append(set, name)
		} else {
			empty = append(empty, name)
		}
	}
	var parts []string
	if len(set) > 0 {
		parts = append(parts, "with "+strings.Join(set, ", ")+" set")
	}
	if len(empty) > 0 {
		parts = append(parts, "with "+strings.Join(empty, ", ")+" empty")
	}
	return "when rendered " + strings.Join(parts, " and ")
}

// execError turns an execution error into a *FieldError for field.
func execError(field string, err error) *FieldError {
	return &FieldError{Field: field, Message: cleanMessage(field, err)}
}

// sampleData is Data with every field set, for trial executions.
func sampleData() Data {
	return Data{
		FirstName:         "Ada",
		LastName:          "Lovelace",
		FullName:          "Ada Lovelace",
		Email:             "ada@example.com",
		NewEmail:          "ada.lovelace@example.org",
		Username:          "ada",
		OrganizationName:  "Analytical Engines Ltd",
		RoleName:          "Engineer",
		InviterName:       "Charles Babbage",
		ActionURL:         "https://rollcall.example.com/accept?token=sample",
		ExpiresAt:         "Monday 9 March 2026, 09:00 UTC",
		ExpiresIn:         "7 days",
		TemporaryPassword: "correct-horse-battery",
		ReplyTo:           "office@example.com",
		SignInURL:         "https://app.example.com/sign-in",
	}
}

// check enforces the size limit and the rules on the parse tree of one part
// (see Validate), and returns the tree.
func check(k Kind, field, text string, limit int) (*parse.Tree, error) {
	if len(text) > limit {
		return nil, &FieldError{Field: field, Message: fmt.Sprintf("is too long: %d bytes, at most %d", len(text), limit)}
	}
	tree := parse.New(field)
	tree.Mode = parse.SkipFuncCheck // unknown functions get a clearer message from the checker
	set := map[string]*parse.Tree{}
	if _, err := tree.Parse(text, "", "", set); err != nil {
		return nil, &FieldError{Field: field, Message: cleanMessage(field, err)}
	}
	if len(set) != 1 || set[field] != tree {
		return nil, &FieldError{Field: field, Message: "{{define}} and {{block}} are not allowed"}
	}
	c := checker{kind: k, field: field, text: text, vars: Variables()}
	if err := c.node(tree.Root, true); err != nil {
		return nil, err
	}
	if err := checkTypes(field, text, tree.Root); err != nil {
		return nil, err
	}
	m := markup{kind: k, field: field, text: text, html: field == fieldHTML, subject: field == fieldSubject}
	if err := m.check(tree.Root); err != nil {
		return nil, err
	}
	return tree, nil
}

// checker walks a parse tree and reports the first forbidden construct.
type checker struct {
	kind  Kind
	field string
	text  string // the source, to turn positions into line numbers
	vars  []Variable
}

// fail returns a *FieldError located at n.
func (c *checker) fail(n parse.Node, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if pos := int(n.Position()); pos >= 0 && pos <= len(c.text) {
		msg = fmt.Sprintf("line %d: %s", 1+strings.Count(c.text[:pos], "\n"), msg)
	}
	return &FieldError{Field: c.field, Message: msg}
}

// node checks n; dotIsData tells whether dot is Data (true) or a value
// computed by {{with}} (false).
func (c *checker) node(n parse.Node, dotIsData bool) error {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return nil
		}
		for _, m := range n.Nodes {
			if err := c.node(m, dotIsData); err != nil {
				return err
			}
		}
	case *parse.TextNode, *parse.CommentNode:
	case *parse.ActionNode:
		return c.pipe(n.Pipe, dotIsData)
	case *parse.IfNode:
		return c.branch(&n.BranchNode, dotIsData, dotIsData)
	case *parse.WithNode:
		return c.branch(&n.BranchNode, false, dotIsData)
	case *parse.RangeNode:
		return c.fail(n, "{{range}} is not allowed: no variable is a list")
	case *parse.TemplateNode:
		return c.fail(n, "{{template}} and {{block}} are not allowed")
	default:
		return c.fail(n, "%s is not allowed", n)
	}
	return nil
}

// branch checks an {{if}} or {{with}}: the condition and else part with the
// outer dot, the body with dot as bodyDotIsData says.
func (c *checker) branch(b *parse.BranchNode, bodyDotIsData, dotIsData bool) error {
	if err := c.pipe(b.Pipe, dotIsData); err != nil {
		return err
	}
	if err := c.node(b.List, bodyDotIsData); err != nil {
		return err
	}
	return c.node(b.ElseList, dotIsData)
}

// pipe checks a pipeline such as {{.FirstName | eq "Ada"}}.
func (c *checker) pipe(p *parse.PipeNode, dotIsData bool) error {
	if p == nil {
		return nil
	}
	for i, cmd := range p.Cmds {
		if err := c.command(cmd, i > 0, dotIsData); err != nil {
			return err
		}
	}
	return nil
}

// command checks one command of a pipeline; piped tells whether it receives
// the previous command's value as its last argument.
func (c *checker) command(cmd *parse.CommandNode, piped, dotIsData bool) error {
	args := cmd.Args
	argc := len(args) - 1
	if piped {
		argc++
	}
	if id, ok := args[0].(*parse.IdentifierNode); ok {
		if err := c.call(id, argc); err != nil {
			return err
		}
		args = args[1:]
	} else if argc > 0 {
		return c.fail(cmd, "%s is not a function, so it cannot take arguments or a piped value", args[0])
	}
	for _, a := range args {
		if err := c.arg(a, dotIsData); err != nil {
			return err
		}
	}
	return nil
}

// call checks a call of function id with argc arguments.
func (c *checker) call(id *parse.IdentifierNode, argc int) error {
	minArgs, maxArgs, ok := funcArity(id.Ident)
	switch {
	case !ok:
		return c.fail(id, "function %q is not allowed (allowed: %s)", id.Ident, allowedFuncs)
	case argc < minArgs:
		return c.fail(id, "%s needs at least %d argument(s)", id.Ident, minArgs)
	case maxArgs >= 0 && argc > maxArgs:
		return c.fail(id, "%s takes at most %d argument(s)", id.Ident, maxArgs)
	}
	return nil
}

// arg checks one operand.
func (c *checker) arg(n parse.Node, dotIsData bool) error {
	switch n := n.(type) {
	case *parse.FieldNode:
		if !dotIsData {
			return c.fail(n, "inside {{with}}, dot is the value itself: write {{.}}, or {{$%s}} for the variable", n)
		}
		return c.variable(n, n.Ident)
	case *parse.VariableNode:
		if n.Ident[0] == "$" {
			if len(n.Ident) == 1 {
				return c.fail(n, "{{$}} on its own is not allowed; use a variable such as {{$.FirstName}}")
			}
			return c.variable(n, n.Ident[1:])
		}
		if len(n.Ident) > 1 {
			return c.fail(n, "%s is text and has no field %s", n.Ident[0], n.Ident[1])
		}
	case *parse.DotNode:
		if dotIsData {
			return c.fail(n, "{{.}} on its own is not allowed here; use a variable such as {{.FirstName}}")
		}
	case *parse.IdentifierNode: // a function called without arguments
		return c.call(n, 0)
	case *parse.PipeNode: // a parenthesised pipeline
		return c.pipe(n, dotIsData)
	case *parse.ChainNode:
		return c.fail(n, "%s: values have no fields", n)
	case *parse.StringNode, *parse.NumberNode, *parse.BoolNode:
	default:
		return c.fail(n, "%s is not allowed", n)
	}
	return nil
}

// variable checks a reference to a field of Data: ident is the field chain,
// e.g. ["FirstName"] for .FirstName or $.FirstName.
func (c *checker) variable(n parse.Node, ident []string) error {
	name := ident[0]
	v, ok := lookupVariable(c.vars, name)
	if !ok {
		return c.fail(n, "%s", unknownVariable(c.kind, name))
	}
	if !slices.Contains(v.Kinds, c.kind) {
		return c.fail(n, "variable %q is not available in %s templates", name, c.kind)
	}
	if len(ident) > 1 {
		return c.fail(n, "%s is text and has no field %s", name, ident[1])
	}
	return nil
}

// cleanMessage turns a text/template or html/template error about the part
// called name into a message for admins: "line 3: unexpected EOF".
func cleanMessage(name string, err error) string {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "html/template:")
	msg = strings.TrimPrefix(msg, "template: ")
	rest, ok := strings.CutPrefix(msg, name+":")
	if !ok {
		return msg
	}
	line, rest, ok := strings.Cut(rest, ":")
	if _, err := strconv.Atoi(line); !ok || err != nil {
		return msg
	}
	if col, r, ok := strings.Cut(rest, ":"); ok {
		if _, err := strconv.Atoi(col); err == nil {
			rest = r
		}
	}
	rest = strings.TrimSpace(rest)
	rest = strings.TrimPrefix(rest, fmt.Sprintf("executing %q at ", name))
	return "line " + line + ": " + rest
}

// Substitutable reports whether c uses the named fields only as whole
// values: printed ({{.FirstName}}), or tested for being set ({{if
// .FirstName}}, also through and, or and not). Then rendering once with
// stand-ins for them and substituting a recipient's values gives what
// rendering for that recipient would, among recipients whose values are empty
// in the same places. A field compared ({{if eq .FirstName "Ada"}}),
// measured (len) or bound by {{with}} or a variable makes it false.
func (c *Compiled) Substitutable(fields ...string) bool {
	for _, t := range []*parse.Tree{c.subject.Tree, c.html.Tree, c.text.Tree} {
		if t != nil && !substitutable(t.Root, fields) {
			return false
		}
	}
	return true
}

// substitutable walks n for uses of fields (see Substitutable).
func substitutable(n parse.Node, fields []string) bool {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return true
		}
		for _, m := range n.Nodes {
			if !substitutable(m, fields) {
				return false
			}
		}
		return true
	case *parse.ActionNode:
		return printed(n.Pipe, fields)
	case *parse.IfNode:
		return tested(n.Pipe, fields) && substitutable(n.List, fields) && substitutable(n.ElseList, fields)
	case *parse.WithNode:
		return !mentions(n.Pipe, fields) && substitutable(n.List, fields) && substitutable(n.ElseList, fields)
	}
	return true // text and comments
}

// printed: the pipeline prints one of fields as it is (html/template's
// escapers may follow), or uses none of them.
func printed(p *parse.PipeNode, fields []string) bool {
	if len(p.Decl) == 0 && len(p.Cmds[0].Args) == 1 && refersTo(p.Cmds[0].Args[0], fields) {
		for _, cmd := range p.Cmds[1:] {
			id, ok := cmd.Args[0].(*parse.IdentifierNode)
			if !ok || len(cmd.Args) != 1 || !strings.HasPrefix(id.Ident, "_html_template_") {
				return false
			}
		}
		return true
	}
	return !mentions(p, fields)
}

// tested: the condition depends on fields only through whether they are set.
func tested(p *parse.PipeNode, fields []string) bool {
	if len(p.Decl) > 0 || len(p.Cmds) != 1 {
		return !mentions(p, fields)
	}
	args := p.Cmds[0].Args
	if len(args) == 1 {
		if inner, ok := args[0].(*parse.PipeNode); ok {
			return tested(inner, fields)
		}
		return true // a value tested for being set
	}
	if id, ok := args[0].(*parse.IdentifierNode); !ok || (id.Ident != "and" && id.Ident != "or" && id.Ident != "not") {
		return !mentions(p, fields)
	}
	for _, a := range args[1:] {
		if inner, ok := a.(*parse.PipeNode); ok && !tested(inner, fields) {
			return false
		}
	}
	return true
}

// mentions reports whether n refers to any of fields.
func mentions(n parse.Node, fields []string) bool {
	switch n := n.(type) {
	case *parse.PipeNode:
		if n == nil {
			return false
		}
		for _, cmd := range n.Cmds {
			if mentions(cmd, fields) {
				return true
			}
		}
	case *parse.CommandNode:
		for _, a := range n.Args {
			if mentions(a, fields) {
				return true
			}
		}
	default:
		return refersTo(n, fields)
	}
	return false
}

// refersTo reports whether n is .Name or $.Name for one of fields.
func refersTo(n parse.Node, fields []string) bool {
	switch n := n.(type) {
	case *parse.FieldNode:
		return slices.Contains(fields, n.Ident[0])
	case *parse.VariableNode:
		return len(n.Ident) > 1 && n.Ident[0] == "$" && slices.Contains(fields, n.Ident[1])
	}
	return false
}
