package template

import (
	"fmt"
	"strings"
	"text/template/parse"
)

// This file decides where values may stand in a part, and which HTML a body may
// contain. It walks the part's parse tree and reads the text between actions
// with a small HTML tokenizer that follows the HTML5 tokenizer closely enough to
// know, at each action, which element and attribute it is in, while refusing
// whatever HTML5 would read otherwise than it does (a "<" that does not open a
// tag, attributes not separated by spaces, names with odd characters). Values
// printed by actions are escaped by html/template and cannot add markup, so the
// markup of every email a body can render is what this reader sees, with an
// opaque value at each action.
//
// The reader is path-sensitive: it keeps the set of states the text can be in,
// reads every {{if}}/{{with}} branch from each of them, and continues with the
// union of the states the branches end in. Every way through the template is
// thus read (and some that cannot happen, which only makes it stricter).

// maxStates bounds the states the reader keeps at once: the branches of a
// template end in so many different places only if {{if}} is used inside tags
// and attribute values in unusual ways.
const maxStates = 64

// maxNameBytes bounds element and attribute names (the longest allowed one,
// aria-activedescendant, is 21 bytes).
const maxNameBytes = 32

// mode is where the reader is in the markup.
type mode uint8

const (
	inText        mode = iota // HTML text, between tags
	inPlain                   // a plain-text part: the subject or the text body
	afterLT                   // after "<" in text: a tag, a comment or a doctype must follow
	afterLTSlash              // after "</": an end tag's name must follow
	inDecl                    // after "<!": "--" or "doctype" must follow
	inComment                 // inside <!-- -->
	inDoctype                 // inside <!doctype …>
	inTagName                 // reading a start tag's name
	inEndTagName              // reading an end tag's name
	inEndTag                  // after an end tag's name: spaces, then ">"
	inTag                     // in a start tag, where an attribute or the tag's end may come
	inAttrName                // reading an attribute's name
	afterAttrName             // after an attribute's name: "=", another attribute or the tag's end
	beforeValue               // after "=": the value follows
	inValue                   // in an attribute value (quote says which quote ends it, 0: unquoted)
	afterValue                // after a quoted value's closing quote
	afterSlash                // after "/" in a start tag: ">" must follow
	inRawText                 // in the content of <style> or <title> (tag says which)
)

// scan is the reader's state. It is comparable, so a set of them can be kept
// without duplicates.
type scan struct {
	mode   mode
	tag    string // the tag being read, or the element whose content inRawText is in
	attr   string // the attribute whose value is being read
	attrs  string // the tag's attributes so far, each followed by a space
	name   string // inTagName, inEndTagName, inAttrName, inDecl: the name read so far
	quote  byte   // inValue: the quote that ends the value, 0 when unquoted
	value  tail   // inValue, of href: the first bytes of the value's text, for the scheme
	texted bool   // inValue, of href: the value has text
	filled bool   // inValue, of href: a value was printed into it
	secret bool   // inValue, of href: it is {{.ActionURL}}
	signIn bool   // inValue, of href: it is {{.SignInURL}}
	css    cssScan
	recent tail // inComment, inRawText: the last bytes read, to find the end
	count  int  // inComment: bytes read so far (up to 3); inDoctype unused
	blank  bool // inComment: only spaces were read so far
	// sep (inText, inPlain) tells that what was read last cannot continue a
	// URL: the start, a space, or an element that breaks the line.
	sep bool
	// after (inText, inPlain) is the secret printed last, until the next byte
	// is read: only a space, punctuation or a tag may follow it.
	after string
}

// tail holds up to 8 bytes: the first or the last bytes of some text.
type tail struct {
	b [8]byte
	n uint8
}

// push appends c, dropping the oldest byte when full.
func (t *tail) push(c byte) {
	if int(t.n) < len(t.b) {
		t.b[t.n] = c
		t.n++
		return
	}
	copy(t.b[:], t.b[1:])
	t.b[len(t.b)-1] = c
}

// add appends c while there is room, keeping the first bytes.
func (t *tail) add(c byte) {
	if int(t.n) < len(t.b) {
		t.b[t.n] = c
		t.n++
	}
}

func (t *tail) String() string { return string(t.b[:t.n]) }

// cssScan reads CSS a byte at a time, without comments and spaces and in lower
// case, and finds what could load something from elsewhere.
type cssScan struct {
	comment bool // inside /* */
	star    bool // inside a comment, after "*"
	slash   bool // after "/" outside a comment: a comment may start
	recent  [16]byte
}

// cssForbidden are what could make CSS load a resource, as they read once
// comments and spaces are gone and letters are in lower case. Matching without
// spaces also refuses "url (", which is harmless; that is fine.
var cssForbidden = [...]string{
	"url(", "src(", "image(", "image-set(", "cross-fade(", "element(",
	"expression(", "@import", "-moz-binding", "behavior:",
}

// feed reads one byte of CSS and returns a problem, or "".
func (c *cssScan) feed(b byte) string {
	switch {
	case c.comment:
		if c.star && b == '/' {
			c.comment = false
		}
		c.star = b == '*'
		return ""
	case c.slash:
		c.slash = false
		if b == '*' {
			c.comment, c.star = true, false
			return ""
		}
		if p := c.push('/'); p != "" {
			return p
		}
	}
	switch {
	case b == '/':
		c.slash = true
		return ""
	case b == '\\':
		return "CSS may not contain backslash escapes"
	case b == '&':
		return "CSS may not contain \"&\" (character references could hide what it says)"
	case isSpace(b):
		return ""
	}
	return c.push(lowerASCII(b))
}

// push adds b to the recent bytes and looks for a forbidden function or rule.
func (c *cssScan) push(b byte) string {
	copy(c.recent[:], c.recent[1:])
	c.recent[len(c.recent)-1] = b
	for _, f := range cssForbidden {
		if strings.HasSuffix(string(c.recent[:]), f) {
			return fmt.Sprintf("CSS may not use %q: an email must not load anything from elsewhere", f)
		}
	}
	return ""
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r'
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// afterSecret reports whether c may follow a secret in text: a space, sentence
// punctuation, or (in HTML) the "<" of a tag.
func afterSecret(c byte, html bool) bool {
	return isSpace(c) || strings.IndexByte(".,;:!?)", c) >= 0 || html && c == '<'
}

// element says whether name is an element bodies may contain, and whether it
// is inline: inline elements do not separate the text around them.
func element(name string) (allowed, inline bool) {
	switch name {
	case "a", "span", "strong", "b", "em", "i", "u", "s", "small", "sup", "sub", "code", "font":
		return true, true
	case "html", "head", "body", "title", "meta", "style",
		"table", "tr", "td", "th", "tbody", "thead", "tfoot", "caption", "colgroup", "col",
		"div", "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6",
		"ul", "ol", "li", "blockquote", "pre", "center":
		return true, false
	}
	return false, false
}

// attribute reports whether tag may have the attribute name.
func attribute(tag, name string) bool {
	switch name {
	case "class", "id", "style", "align", "valign", "width", "height", "bgcolor", "color", "border",
		"cellpadding", "cellspacing", "role", "dir", "lang", "title", "alt", "target", "rel", "face",
		"size", "colspan", "rowspan", "span", "start", "type", "media", "nowrap":
		return true
	case "href":
		return tag == "a"
	case "charset", "name", "content":
		return tag == "meta"
	}
	return strings.HasPrefix(name, "aria-") && len(name) > len("aria-")
}

// tagProblem explains why an element is refused.
func tagProblem(name string) string {
	switch name {
	case "img", "image", "picture", "source", "video", "audio", "svg", "math", "iframe", "frame", "object",
		"embed", "link", "script", "base", "form", "input", "applet":
		return fmt.Sprintf("<%s> is not allowed: an email must not load or run anything from elsewhere", name)
	}
	return fmt.Sprintf("<%s> is not allowed (allowed elements: html, head, body, title, meta, style, table, tr, td, th, "+
		"tbody, thead, tfoot, caption, colgroup, col, div, span, p, br, hr, a, h1–h6, strong, b, em, i, u, s, small, "+
		"sup, sub, ul, ol, li, blockquote, pre, code, center, font)", name)
}

// attributeProblem explains why an attribute is refused on tag.
func attributeProblem(tag, name string) string {
	switch {
	case strings.HasPrefix(name, "on"):
		return fmt.Sprintf("the event handler %s is not allowed", name)
	case name == "href":
		return fmt.Sprintf("href is only allowed on <a>, not on <%s>", tag)
	case name == "http-equiv":
		return "<meta http-equiv> is not allowed (use <meta charset=\"utf-8\">)"
	case name == "src" || name == "srcset" || name == "ping" || name == "background" || name == "poster" ||
		name == "action" || name == "formaction" || name == "data" || name == "lowsrc" || name == "dynsrc":
		return fmt.Sprintf("the attribute %s is not allowed: an email must not load anything from elsewhere", name)
	}
	return fmt.Sprintf("the attribute %s is not allowed on <%s>", name, tag)
}

// linkScheme reports whether an href beginning with prefix starts with an
// allowed scheme.
func linkScheme(prefix string) bool {
	for _, s := range [...]string{"https:", "http:", "mailto:"} {
		if len(prefix) >= len(s) && strings.EqualFold(prefix[:len(s)], s) {
			return true
		}
	}
	return false
}

// markup reads one part's parse tree (see the top of this file).
type markup struct {
	kind    Kind
	field   string
	text    string // the source, for line numbers
	html    bool   // the part is the HTML body
	subject bool   // the part is the subject: no secret at all
}

// failAt returns a *FieldError for the byte at pos in the source.
func (m *markup) failAt(pos int, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if pos >= 0 && pos <= len(m.text) {
		msg = fmt.Sprintf("line %d: %s", 1+strings.Count(m.text[:pos], "\n"), msg)
	}
	return &FieldError{Field: m.field, Message: msg}
}

// check reads the whole tree.
func (m *markup) check(root *parse.ListNode) error {
	start := scan{mode: inPlain, sep: true}
	if m.html {
		start.mode = inText
	}
	out, err := m.list(root, []scan{start})
	if err != nil {
		return err
	}
	for _, s := range out {
		if s.mode != inText && s.mode != inPlain {
			return m.failAt(len(m.text), "the HTML ends %s", where(s))
		}
	}
	return nil
}

// where describes the place s is in, for messages.
func where(s scan) string {
	switch s.mode {
	case inComment:
		return "inside a comment (<!-- without -->)"
	case inRawText:
		return fmt.Sprintf("inside <%s> (no </%s>)", s.tag, s.tag)
	case inValue:
		return fmt.Sprintf("inside the value of the attribute %s of <%s>", s.attr, s.tag)
	case afterLT, afterLTSlash, inDecl:
		return "after \"<\""
	case inDoctype:
		return "inside <!DOCTYPE>"
	}
	if s.tag != "" {
		return fmt.Sprintf("inside the tag <%s>", s.tag)
	}
	return "inside a tag"
}

// list reads the nodes of n from every state in in.
func (m *markup) list(n *parse.ListNode, in []scan) ([]scan, error) {
	if n == nil {
		return in, nil
	}
	var err error
	for _, node := range n.Nodes {
		if in, err = m.node(node, in); err != nil {
			return nil, err
		}
	}
	return in, nil
}

// node reads one node from every state in in.
func (m *markup) node(n parse.Node, in []scan) ([]scan, error) {
	switch n := n.(type) {
	case *parse.TextNode:
		out := make([]scan, 0, len(in))
		for _, s := range in {
			s, err := m.read(s, string(n.Text), int(n.Pos))
			if err != nil {
				return nil, err
			}
			out = append(out, s)
		}
		return dedupe(out), nil
	case *parse.ActionNode:
		return m.action(n, in)
	case *parse.IfNode:
		return m.branch(&n.BranchNode, false, in)
	case *parse.WithNode:
		return m.branch(&n.BranchNode, true, in)
	}
	return in, nil // comments; what else a tree may hold was refused before
}

// dedupe removes repeated states, keeping the first of each.
func dedupe(in []scan) []scan {
	if len(in) < 2 {
		return in
	}
	seen := make(map[scan]bool, len(in))
	out := in[:0]
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// branch reads an {{if}} or {{with}}: both its branches from every state.
func (m *markup) branch(b *parse.BranchNode, with bool, in []scan) ([]scan, error) {
	if err := m.condition(b.Pipe, with); err != nil {
		return nil, err
	}
	body, err := m.list(b.List, in)
	if err != nil {
		return nil, err
	}
	els, err := m.list(b.ElseList, in)
	if err != nil {
		return nil, err
	}
	out := dedupe(append(append(make([]scan, 0, len(body)+len(els)), body...), els...))
	if len(out) > maxStates {
		return nil, m.failAt(int(b.Position()), "this {{if}} or {{with}} makes too many different ways through the "+
			"template; keep {{if}} out of tags and attribute values")
	}
	return out, nil
}

// condition checks how an {{if}} or {{with}} uses secrets: {{if}} may only
// test whether one is set ({{if .ActionURL}}, also through and, or and not),
// and {{with}} may not take one, since {{.}} would then print it unchecked.
func (m *markup) condition(p *parse.PipeNode, with bool) error {
	if !mentions(p, secrets()) {
		return nil
	}
	name := mentioned(p)
	if m.subject {
		return m.failAt(int(p.Position()), "{{.%s}} is a secret and may not be used in the subject", name)
	}
	if with {
		return m.failAt(int(p.Position()), "{{with}} may not take {{.%s}}, a secret: write {{if .%[1]s}}…{{.%[1]s}}…{{end}}", name)
	}
	if !tested(p, secrets()) {
		return m.failAt(int(p.Position()), "{{.%s}} is a secret: a condition may only test whether it is set "+
			"({{if .%[1]s}}), not compare, measure or keep it", name)
	}
	return nil
}

// mentioned returns the first secret n refers to.
func mentioned(n parse.Node) string {
	switch n := n.(type) {
	case *parse.PipeNode:
		for _, cmd := range n.Cmds {
			if s := mentioned(cmd); s != "" {
				return s
			}
		}
	case *parse.CommandNode:
		for _, a := range n.Args {
			if s := mentioned(a); s != "" {
				return s
			}
		}
	case *parse.FieldNode:
		if secret(n.Ident[0]) {
			return n.Ident[0]
		}
	case *parse.VariableNode:
		if len(n.Ident) > 1 && n.Ident[0] == "$" && secret(n.Ident[1]) {
			return n.Ident[1]
		}
	}
	return ""
}

// bare returns the variable a pipeline prints as it is ({{.ActionURL}} or
// {{$.ActionURL}}), or "".
func bare(p *parse.PipeNode) string {
	if len(p.Decl) != 0 || len(p.Cmds) != 1 || len(p.Cmds[0].Args) != 1 {
		return ""
	}
	switch a := p.Cmds[0].Args[0].(type) {
	case *parse.FieldNode:
		if len(a.Ident) == 1 {
			return a.Ident[0]
		}
	case *parse.VariableNode:
		if len(a.Ident) == 2 && a.Ident[0] == "$" {
			return a.Ident[1]
		}
	}
	return ""
}

// action reads an action from every state in in.
func (m *markup) action(n *parse.ActionNode, in []scan) ([]scan, error) {
	pos := int(n.Position())
	name := ""
	if mentions(n.Pipe, secrets()) {
		name = bare(n.Pipe)
		switch {
		case m.subject:
			return nil, m.failAt(pos, "{{.%s}} is a secret and may not be used in the subject", mentioned(n.Pipe))
		case len(n.Pipe.Decl) > 0:
			return nil, m.failAt(pos, "{{.%s}} is a secret and may not be kept in a variable; print it with {{.%[1]s}}",
				mentioned(n.Pipe))
		case !secret(name):
			return nil, m.failAt(pos, "{{.%s}} is a secret and may only be printed on its own, as {{.%[1]s}}, "+
				"not through functions or pipelines", mentioned(n.Pipe))
		}
	}
	if len(n.Pipe.Decl) > 0 {
		return in, nil // {{$x := …}} prints nothing
	}
	// The organisation's sign-in page may be a link's whole href, as the
	// person's link may: it is an http or https URL (checked when saved).
	signIn := name == "" && bare(n.Pipe) == signInURL
	out := make([]scan, 0, len(in))
	for _, s := range in {
		s, err := m.print(s, name, signIn, pos)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return dedupe(out), nil
}

// print reads a printed value from s; name is the secret it prints, or "";
// signIn tells that it prints {{.SignInURL}} as it is.
func (m *markup) print(s scan, name string, signIn bool, pos int) (scan, error) {
	if s.after != "" {
		return s, m.failAt(pos, "{{.%s}} must be followed by a space, punctuation or the end of the text, "+
			"not by another value", s.after)
	}
	switch s.mode {
	case inText, inPlain:
		if name != "" && !s.sep {
			return s, m.failAt(pos, "{{.%s}} is a secret and must stand alone: put it at the start of a line or "+
				"after a space, not right after other text, a value or an inline tag, where it could become part of "+
				"another link", name)
		}
		s.sep, s.after = false, name
		return s, nil
	case inRawText:
		if name != "" {
			return s, m.failAt(pos, "{{.%s}} is a secret and may not be used inside <%s>", name, s.tag)
		}
		if s.tag == "style" {
			return s, m.failAt(pos, "values may not be printed inside <style>")
		}
		// A value cannot complete "</title>": it is escaped, but an empty one
		// would join the text around it.
		r := s.recent.String()
		if i := strings.LastIndexByte(r, '<'); i >= 0 && strings.Trim(r[i+1:], "/abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") == "" {
			return s, m.failAt(pos, "a value may not follow \"<\" inside <title>")
		}
		s.recent.push(0)
		return s, nil
	case inValue:
		return m.printValue(s, name, signIn, pos)
	case beforeValue:
		if name != "" {
			return s, m.secretInAttribute(s, name, pos)
		}
		return s, m.failAt(pos, "quote the value of the attribute %s of <%s> to print a value in it", s.attr, s.tag)
	case inComment:
		return s, m.failAt(pos, "values may not be printed inside an HTML comment")
	}
	if name != "" {
		return s, m.failAt(pos, "{{.%s}} is a secret and may not be part of a tag", name)
	}
	return s, m.failAt(pos, "a value may not be printed %s: only in text and in quoted attribute values", where(s))
}

// secretInAttribute explains why the secret name may not stand in the current
// attribute of s.
func (m *markup) secretInAttribute(s scan, name string, pos int) error {
	if name == "ActionURL" && s.tag == "a" && s.attr == "href" {
		return m.failAt(pos, "{{.ActionURL}} must be the whole, quoted value of href: <a href=\"{{.ActionURL}}\">")
	}
	if name == "ActionURL" {
		return m.failAt(pos, "{{.ActionURL}} is a secret: in an attribute it may only be the whole href of a link "+
			"(<a href=\"{{.ActionURL}}\">), not in the attribute %s of <%s>", s.attr, s.tag)
	}
	return m.failAt(pos, "{{.%s}} is a secret and may only stand alone in text, not in the attribute %s of <%s>",
		name, s.attr, s.tag)
}

// printValue reads a value printed into an attribute value.
func (m *markup) printValue(s scan, name string, signIn bool, pos int) (scan, error) {
	switch {
	case s.secret:
		return s, m.failAt(pos, "{{.ActionURL}} must be the whole value of href: nothing may follow it")
	case s.signIn:
		return s, m.failAt(pos, "{{.SignInURL}} must be the whole value of href: nothing may follow it")
	case name != "":
		if name != "ActionURL" || s.tag != "a" || s.attr != "href" || s.quote == 0 || s.texted || s.filled {
			return s, m.secretInAttribute(s, name, pos)
		}
		s.secret = true
		return s, nil
	case signIn && s.tag == "a" && s.attr == "href" && s.quote != 0 && !s.texted && !s.filled:
		s.signIn = true
		return s, nil
	case s.quote == 0:
		return s, m.failAt(pos, "quote the value of the attribute %s of <%s> to print a value in it", s.attr, s.tag)
	case s.attr == "style":
		return s, m.failAt(pos, "values may not be printed inside a style attribute")
	case s.attr == "href" && !linkScheme(s.value.String()):
		return s, m.failAt(pos, "a link must start with https:, http: or mailto: before any value is printed in it")
	}
	s.filled = s.attr == "href"
	return s, nil
}

// read reads text (which starts at pos in the source) from s.
func (m *markup) read(s scan, text string, pos int) (scan, error) {
	for i := 0; i < len(text); {
		c := text[i]
		fail := func(format string, args ...any) (scan, error) {
			return s, m.failAt(pos+i, format, args...)
		}
		switch s.mode {
		case inPlain, inText:
			if s.after != "" && !afterSecret(c, m.html) {
				return fail("{{.%s}} must be followed by a space, punctuation or the end of the text, not %q", s.after, c)
			}
			s.after = ""
			j := len(text)
			if m.html {
				if k := strings.IndexByte(text[i:], '<'); k >= 0 {
					j = i + k
				}
			}
			if j > i {
				s.sep = isSpace(text[j-1])
			}
			if j < len(text) { // a "<"
				s.mode = afterLT
				j++
			}
			i = j
			continue
		case afterLT:
			switch {
			case isLetter(c):
				s.mode, s.name = inTagName, ""
				continue
			case c == '/':
				s.mode = afterLTSlash
			case c == '!':
				s.mode, s.name = inDecl, ""
			default:
				return fail("a \"<\" must start a tag: write &lt; for the character")
			}
		case afterLTSlash:
			if !isLetter(c) {
				return fail("\"</\" must start an end tag: write &lt; for the character")
			}
			s.mode, s.name = inEndTagName, ""
			continue
		case inDecl:
			d := s.name + string(lowerASCII(c))
			switch {
			case d == "--":
				s.mode, s.name, s.recent, s.count, s.blank = inComment, "", tail{}, 0, true
			case d == "doctype":
				s.mode, s.name = inDoctype, ""
			case strings.HasPrefix("--", d) || strings.HasPrefix("doctype", d):
				s.name = d
			default:
				return fail("only <!-- comments --> and <!DOCTYPE html> may start with \"<!\"")
			}
		case inComment:
			s.recent.push(c)
			if s.count < 3 {
				s.count++
			}
			r := s.recent.String()
			switch {
			case s.blank && c == '[':
				return fail("conditional comments (<!--[if …]>) are not allowed")
			case c == '>' && (s.count == 1 || s.count == 2 && r[len(r)-2] == '-' ||
				strings.HasSuffix(r, "-->") || strings.HasSuffix(r, "--!>")):
				s.mode = inText // comments are dropped: they separate nothing
			}
			s.blank = s.blank && isSpace(c)
		case inDoctype:
			switch c {
			case '<':
				return fail("\"<\" is not allowed inside <!DOCTYPE>")
			case '>':
				s.mode, s.sep = inText, true
			}
		case inTagName, inEndTagName, inAttrName:
			j := i
			for j < len(text) && (isLetter(text[j]) || isDigit(text[j]) || s.mode == inAttrName && text[j] == '-') {
				j++
			}
			s.name += strings.ToLower(text[i:j])
			if len(s.name) > maxNameBytes {
				return fail("the name %.32q… is too long", s.name)
			}
			i = j
			if i == len(text) {
				continue
			}
			var err error
			if s, err = m.endName(s, text[i], pos+i); err != nil {
				return s, err
			}
			continue
		case inEndTag:
			switch {
			case c == '>':
				s = m.closeTag(s)
			case !isSpace(c):
				return fail("an end tag may not have attributes")
			}
		case afterAttrName:
			switch {
			case isSpace(c):
			case c == '=':
				s.mode = beforeValue
			default: // the attribute has no value
				if err := m.endValue(s, pos+i); err != nil {
					return s, err
				}
				s.mode = inTag
				continue
			}
		case inTag, afterValue:
			switch {
			case isSpace(c):
				s.mode = inTag
			case c == '>':
				s = m.closeTag(s)
			case c == '/':
				s.mode = afterSlash
			case s.mode == afterValue:
				return fail("put a space between the attributes of <%s>", s.tag)
			case isLetter(c):
				s.mode, s.name = inAttrName, ""
				continue
			default:
				return fail("unexpected %q in the tag <%s>", c, s.tag)
			}
		case afterSlash:
			if c != '>' {
				return fail("\"/\" in a tag must be followed by \">\"")
			}
			s = m.closeTag(s)
		case beforeValue:
			switch {
			case isSpace(c):
			case c == '"' || c == '\'':
				s.mode, s.quote = inValue, c
			case c == '>':
				return fail("the attribute %s of <%s> has \"=\" but no value", s.attr, s.tag)
			default:
				s.mode, s.quote = inValue, 0
				continue
			}
		case inValue:
			var err error
			if i, s, err = m.readValue(s, text, i, pos); err != nil {
				return s, err
			}
			continue
		case inRawText:
			if s.tag == "style" {
				if p := s.css.feed(c); p != "" {
					return fail("%s", p)
				}
			}
			if (isSpace(c) || c == '/' || c == '>') && strings.EqualFold(lastBytes(s.recent.String(), len(s.tag)+2), "</"+s.tag) {
				if c == '/' {
					return fail("write </%s> without \"/\"", s.tag)
				}
				s.mode = inEndTag
				continue
			}
			s.recent.push(c)
		}
		i++
	}
	return s, nil
}

// lastBytes returns the last n bytes of s, or all of it.
func lastBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}

// endName handles the byte c that ends a tag or attribute name.
func (m *markup) endName(s scan, c byte, pos int) (scan, error) {
	name := s.name
	switch s.mode {
	case inTagName, inEndTagName:
		if ok, _ := element(name); !ok {
			return s, m.failAt(pos, "%s", tagProblem(name))
		}
		s.tag, s.name = name, ""
		if s.mode == inEndTagName {
			if !isSpace(c) && c != '>' {
				return s, m.failAt(pos, "unexpected %q in the end tag </%s>", c, name)
			}
			s.mode = inEndTag
			return s, nil
		}
		if !isSpace(c) && c != '>' && c != '/' {
			return s, m.failAt(pos, "unexpected %q in the tag <%s>", c, name)
		}
		s.mode, s.attrs = inTag, ""
		return s, nil
	}
	// inAttrName
	if !isSpace(c) && c != '>' && c != '/' && c != '=' {
		return s, m.failAt(pos, "unexpected %q in an attribute name of <%s>", c, s.tag)
	}
	if !attribute(s.tag, name) {
		return s, m.failAt(pos, "%s", attributeProblem(s.tag, name))
	}
	if strings.Contains(" "+s.attrs, " "+name+" ") {
		return s, m.failAt(pos, "the attribute %s appears twice in <%s>", name, s.tag)
	}
	s.attrs += name + " "
	s.attr, s.name = name, ""
	s.value, s.texted, s.filled, s.secret, s.signIn, s.css = tail{}, false, false, false, false, cssScan{}
	s.mode = afterAttrName // which reads c
	return s, nil
}

// readValue reads attribute value text from text[i:], up to the end of the
// value or of the text, and returns where it stopped.
func (m *markup) readValue(s scan, text string, i, pos int) (int, scan, error) {
	for ; i < len(text); i++ {
		c := text[i]
		if s.quote != 0 && c == s.quote || s.quote == 0 && (isSpace(c) || c == '>') {
			if err := m.endValue(s, pos+i); err != nil {
				return i, s, err
			}
			switch {
			case s.quote != 0:
				s.mode = afterValue
				i++
			case c == '>':
				s.mode = inTag // the ">" closes the tag
			default:
				s.mode = inTag
				i++
			}
			s.quote = 0
			return i, s, nil
		}
		if s.secret {
			return i, s, m.failAt(pos+i, "{{.ActionURL}} must be the whole value of href: nothing may follow it")
		}
		if s.signIn {
			return i, s, m.failAt(pos+i, "{{.SignInURL}} must be the whole value of href: nothing may follow it")
		}
		if s.quote == 0 && strings.IndexByte("\"'<=`", c) >= 0 {
			return i, s, m.failAt(pos+i, "unexpected %q in the unquoted value of the attribute %s: quote the value", c, s.attr)
		}
		if s.attr == "style" {
			if p := s.css.feed(c); p != "" {
				return i, s, m.failAt(pos+i, "%s", p)
			}
		}
		if s.attr == "href" { // other values are not kept: branches in them then join
			s.value.add(c)
			s.texted = true
		}
	}
	return i, s, nil
}

// endValue checks an attribute's whole value when it ends.
func (m *markup) endValue(s scan, pos int) error {
	if s.attr == "href" && !s.secret && !s.signIn && (!s.texted && !s.filled || !linkScheme(s.value.String())) {
		return m.failAt(pos, "a link must start with https:, http: or mailto:, or be {{.ActionURL}} or {{.SignInURL}} alone")
	}
	return nil
}

// closeTag handles the ">" that ends a start or end tag.
func (m *markup) closeTag(s scan) scan {
	end := s.mode == inEndTag
	if _, inline := element(s.tag); !inline {
		s.sep = true
	}
	s.mode, s.attrs, s.attr, s.after = inText, "", "", ""
	if !end && (s.tag == "style" || s.tag == "title") {
		s.mode, s.recent, s.css = inRawText, tail{}, cssScan{}
		return s
	}
	s.tag = ""
	return s
}
