package scim

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	filter "github.com/scim2/filter-parser/v2"
)

// SCIM attribute names are case-insensitive (RFC 7643 §2.1): bodies, paths
// and filters are matched on lower-cased names.

// userIgnored are core and common User attributes Rollcall accepts and
// does not keep (providers send them by default).
var userIgnored = []string{"nickname", "profileurl", "title", "usertype", "timezone", "password",
	"phonenumbers", "ims", "photos", "addresses", "entitlements", "roles", "x509certificates", "groups", "meta", "id", "schemas"}

// readOnly are the attributes no PATCH path may name (in a PUT body, or a
// PATCH value without a path, they are ignored, as RFC 7644 §3.5.1 says).
var readOnly = []string{"id", "meta", "groups", "schemas"}

// userAttrs are the User attributes a response may carry (for attributes
// and excludedAttributes).
var userAttrs = []string{"id", "externalid", "username", "name", "displayname", "emails", "active", "locale", "preferredlanguage", "groups", "meta", "schemas"}

// groupAttrs are the Group attributes a response may carry.
var groupAttrs = []string{"id", "externalid", "displayname", "members", "meta", "schemas"}

// lookup finds key in m, case-insensitively.
func lookup(m map[string]any, key string) (any, bool) {
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return nil, false
}

// attrName lower-cases a body key or path attribute, dropping the core
// schema's URN prefix; an extension's attributes keep theirs.
func attrName(k string, core string) string {
	l := strings.ToLower(k)
	if p := strings.ToLower(core) + ":"; strings.HasPrefix(l, p) {
		return strings.TrimPrefix(l, p)
	}
	return l
}

func isExtension(name string) bool { return strings.HasPrefix(name, "urn:") }

// parseUser reads a User body (POST, PUT). Unknown attributes are refused.
func parseUser(body map[string]any) (userState, error) {
	st := userState{Active: true}
	for k, v := range body {
		name := attrName(k, schemaUser)
		if err := setUserAttr(&st, name, v); err != nil {
			return st, err
		}
	}
	return st, nil
}

// setUserAttr sets one top-level attribute of st from a JSON value.
func setUserAttr(st *userState, name string, v any) error {
	switch {
	case name == "username":
		s, err := str(name, v)
		if err != nil {
			return err
		}
		st.UserName = derefOr(s)
	case name == "externalid":
		s, err := str(name, v)
		if err != nil {
			return err
		}
		st.ExternalID = blankNil(s)
	case name == "displayname":
		s, err := str(name, v)
		if err != nil {
			return err
		}
		st.DisplayName = blankNil(s)
	case name == "name":
		if v == nil {
			st.GivenName, st.FamilyName = nil, nil
			return nil
		}
		obj, ok := v.(map[string]any)
		if !ok {
			return badRequest("invalidValue", "name must be an object")
		}
		for sk, sv := range obj {
			if err := setUserAttr(st, "name."+strings.ToLower(sk), sv); err != nil {
				return err
			}
		}
	case name == "name.givenname":
		s, err := str(name, v)
		if err != nil {
			return err
		}
		st.GivenName = blankNil(s)
	case name == "name.familyname":
		s, err := str(name, v)
		if err != nil {
			return err
		}
		st.FamilyName = blankNil(s)
	case slices.Contains([]string{"name.formatted", "name.middlename", "name.honorificprefix", "name.honorificsuffix"}, name):
	case name == "emails":
		emails, err := parseEmails(v)
		if err != nil {
			return err
		}
		st.Emails = emails
	case name == "active":
		b, err := boolean(name, v)
		if err != nil {
			return err
		}
		st.Active = b
	case name == "locale" || name == "preferredlanguage":
		s, err := str(name, v)
		if err != nil {
			return err
		}
		st.Locale = blankNil(s)
		if st.Locale != nil {
			l := strings.ReplaceAll(*st.Locale, "_", "-") // Okta's en_US
			st.Locale = &l
		}
	case slices.Contains(userIgnored, name), isExtension(name):
	default:
		return badRequest("invalidValue", "unknown attribute %q of User", name)
	}
	return nil
}

func parseEmails(v any) ([]emailValue, error) {
	if v == nil {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		if obj, isObj := v.(map[string]any); isObj {
			list = []any{obj}
		} else {
			return nil, badRequest("invalidValue", "emails must be a list of objects")
		}
	}
	out := make([]emailValue, 0, len(list))
	for _, item := range list {
		obj, ok := item.(map[string]any)
		if !ok {
			return nil, badRequest("invalidValue", "emails must be a list of objects")
		}
		e, err := parseEmail(obj)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

func parseEmail(obj map[string]any) (emailValue, error) {
	var e emailValue
	for k, v := range obj {
		switch strings.ToLower(k) {
		case "value":
			s, err := str("emails.value", v)
			if err != nil {
				return e, err
			}
			e.Value = strings.TrimSpace(derefOr(s))
		case "type":
			s, err := str("emails.type", v)
			if err != nil {
				return e, err
			}
			e.Type = derefOr(s)
		case "primary":
			b, err := boolean("emails.primary", v)
			if err != nil {
				return e, err
			}
			e.Primary = b
		case "display", "$ref":
		default:
			return e, badRequest("invalidValue", "unknown attribute %q of emails", k)
		}
	}
	return e, nil
}

// str reads a string (or null) attribute.
func str(name string, v any) (*string, error) {
	switch t := v.(type) {
	case nil:
		return nil, nil
	case string:
		if strings.ContainsRune(t, 0) {
			return nil, badRequest("invalidValue", "%s holds a NUL character", name)
		}
		return &t, nil
	}
	return nil, badRequest("invalidValue", "%s must be a string", name)
}

// boolean reads a boolean, also as the strings "True"/"False" Microsoft
// Entra ID sends.
func boolean(name string, v any) (bool, error) {
	switch t := v.(type) {
	case bool:
		return t, nil
	case string:
		switch strings.ToLower(strings.TrimSpace(t)) {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
	}
	return false, badRequest("invalidValue", "%s must be a boolean", name)
}

func derefOr(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func blankNil(s *string) *string {
	if s == nil || strings.TrimSpace(*s) == "" {
		return nil
	}
	t := strings.TrimSpace(*s)
	return &t
}

// patchOp is one PATCH operation (RFC 7644 §3.5.2).
type patchOp struct {
	Op    string // add, replace, remove (lower-cased: Entra sends "Replace")
	Path  *filter.Path
	Raw   string
	Value any
}

// parsePatch reads a PatchOp body.
func parsePatch(body map[string]any) ([]patchOp, error) {
	raw, ok := lookup(body, "Operations")
	if !ok {
		return nil, badRequest("invalidSyntax", "a PATCH body needs Operations")
	}
	list, ok := raw.([]any)
	if !ok || len(list) == 0 {
		return nil, badRequest("invalidSyntax", "Operations must be a non-empty list")
	}
	if len(list) > 1000 {
		return nil, &Error{Status: http.StatusRequestEntityTooLarge, ScimType: "tooMany", Detail: "at most 1000 operations"}
	}
	ops := make([]patchOp, 0, len(list))
	for i, item := range list {
		obj, ok := item.(map[string]any)
		if !ok {
			return nil, badRequest("invalidSyntax", "operation %d is not an object", i+1)
		}
		var op patchOp
		for k, v := range obj {
			switch strings.ToLower(k) {
			case "op":
				s, _ := v.(string)
				op.Op = strings.ToLower(s)
			case "path":
				s, ok := v.(string)
				if !ok {
					return nil, badRequest("invalidPath", "operation %d: path must be a string", i+1)
				}
				if strings.TrimSpace(s) == "" {
					continue
				}
				p, err := filter.ParsePath([]byte(s))
				if err != nil {
					return nil, badRequest("invalidPath", "operation %d: path %q does not parse: %v", i+1, s, err)
				}
				op.Path, op.Raw = &p, s
			case "value":
				op.Value = v
			}
		}
		switch op.Op {
		case "add", "replace":
			if op.Value == nil {
				return nil, badRequest("invalidValue", "operation %d (%s) needs a value", i+1, op.Op)
			}
		case "remove":
			if op.Path == nil {
				return nil, badRequest("noTarget", "operation %d: remove needs a path", i+1)
			}
		default:
			return nil, badRequest("invalidSyntax", "operation %d: op must be add, replace or remove, not %q", i+1, op.Op)
		}
		ops = append(ops, op)
	}
	return ops, nil
}

// pathAttr is a path's attribute, lower-cased, with the sub-attribute
// ("name.givenname") and without the core schema's URN.
func pathAttr(p *filter.Path, core string) (attr, sub string) {
	attr = strings.ToLower(p.AttributePath.AttributeName)
	if uri := p.AttributePath.URI(); uri != "" && !strings.EqualFold(uri, core) {
		attr = strings.ToLower(uri) + ":" + attr
	}
	if s := p.AttributePath.SubAttributeName(); s != "" {
		sub = strings.ToLower(s)
	}
	if s := p.SubAttributeName(); s != "" {
		sub = strings.ToLower(s)
	}
	return attr, sub
}

// patchUser applies one operation to st.
func patchUser(st *userState, op patchOp) error {
	if op.Path == nil {
		obj, ok := op.Value.(map[string]any)
		if !ok {
			return badRequest("invalidValue", "an operation without a path needs an object value")
		}
		for k, v := range obj {
			name := attrName(k, schemaUser)
			if isExtension(name) {
				continue
			}
			if name == "emails" && op.Op == "add" {
				emails, err := parseEmails(v)
				if err != nil {
					return err
				}
				st.Emails = mergeEmails(st.Emails, emails)
				continue
			}
			if err := setUserAttr(st, name, v); err != nil {
				return err
			}
		}
		return nil
	}
	attr, sub := pathAttr(op.Path, schemaUser)
	if isExtension(attr) {
		return nil
	}
	if slices.Contains(readOnly, attr) {
		return badRequest("mutability", "%s is read-only", op.Raw)
	}
	if op.Path.ValueExpression != nil {
		if attr != "emails" {
			if slices.Contains(userIgnored, attr) {
				return nil
			}
			return badRequest("invalidPath", "unknown or unfilterable path %q", op.Raw)
		}
		return patchEmails(st, op, sub)
	}
	full := attr
	if sub != "" {
		full = attr + "." + sub
	}
	switch op.Op {
	case "remove":
		switch full {
		case "username":
			return badRequest("mutability", "userName is required and cannot be removed")
		case "active":
			return badRequest("mutability", "active cannot be removed")
		case "emails", "emails.value":
			st.Emails = nil
			return nil
		}
		if err := setUserAttr(st, full, nil); err != nil {
			return asPathError(err, op.Raw)
		}
		return nil
	case "add":
		if full == "emails" {
			emails, err := parseEmails(op.Value)
			if err != nil {
				return err
			}
			st.Emails = mergeEmails(st.Emails, emails)
			return nil
		}
	}
	if attr == "emails" && sub != "" {
		return patchEmails(st, op, sub)
	}
	if err := setUserAttr(st, full, op.Value); err != nil {
		return asPathError(err, op.Raw)
	}
	return nil
}

// asPathError turns "unknown attribute" into invalidPath for a PATCH path.
func asPathError(err error, raw string) error {
	if e, ok := err.(*Error); ok && strings.HasPrefix(e.Detail, "unknown attribute") {
		return badRequest("invalidPath", "unknown path %q", raw)
	}
	return err
}

// mergeEmails adds emails to list, replacing one of the same value; a new
// primary makes the others secondary.
func mergeEmails(list, add []emailValue) []emailValue {
	out := slices.Clone(list)
	for _, e := range add {
		if e.Primary {
			for i := range out {
				out[i].Primary = false
			}
		}
		i := slices.IndexFunc(out, func(o emailValue) bool { return strings.EqualFold(o.Value, e.Value) })
		if i >= 0 {
			out[i] = e
		} else {
			out = append(out, e)
		}
	}
	return out
}

// patchEmails applies an operation on emails[filter] or emails[filter].sub,
// as Entra sends `emails[type eq "work"].value`. A replace or add that
// matches no email adds one with the filter's type.
func patchEmails(st *userState, op patchOp, sub string) error {
	var matched []int
	for i, e := range st.Emails {
		ok, err := matchEmail(op.Path.ValueExpression, e)
		if err != nil {
			return err
		}
		if ok {
			matched = append(matched, i)
		}
	}
	if op.Op == "remove" {
		if sub == "" || sub == "value" {
			st.Emails = slices.DeleteFunc(st.Emails, func(e emailValue) bool {
				ok, _ := matchEmail(op.Path.ValueExpression, e)
				return ok
			})
		}
		return nil
	}
	if len(matched) == 0 {
		e := emailValue{Type: filterType(op.Path.ValueExpression), Primary: len(st.Emails) == 0}
		st.Emails = append(st.Emails, e)
		matched = []int{len(st.Emails) - 1}
	}
	for _, i := range matched {
		switch sub {
		case "value":
			s, err := str("emails.value", op.Value)
			if err != nil {
				return err
			}
			st.Emails[i].Value = strings.TrimSpace(derefOr(s))
		case "type":
			s, err := str("emails.type", op.Value)
			if err != nil {
				return err
			}
			st.Emails[i].Type = derefOr(s)
		case "primary":
			b, err := boolean("emails.primary", op.Value)
			if err != nil {
				return err
			}
			st.Emails[i].Primary = b
		case "":
			obj, ok := op.Value.(map[string]any)
			if !ok {
				return badRequest("invalidValue", "%s needs an object value", op.Raw)
			}
			e, err := parseEmail(obj)
			if err != nil {
				return err
			}
			st.Emails[i] = e
		default:
			return badRequest("invalidPath", "unknown path %q", op.Raw)
		}
	}
	return nil
}

// matchEmail evaluates a value filter on one email.
func matchEmail(expr filter.Expression, e emailValue) (bool, error) {
	switch x := expr.(type) {
	case *filter.LogicalExpression:
		l, err := matchEmail(x.Left, e)
		if err != nil {
			return false, err
		}
		r, err := matchEmail(x.Right, e)
		if err != nil {
			return false, err
		}
		if x.Operator == filter.AND {
			return l && r, nil
		}
		return l || r, nil
	case *filter.NotExpression:
		ok, err := matchEmail(x.Expression, e)
		return !ok, err
	case *filter.AttributeExpression:
		var got any
		switch strings.ToLower(x.AttributePath.AttributeName) {
		case "type":
			got = e.Type
		case "value":
			got = e.Value
		case "primary":
			got = e.Primary
		default:
			return false, badRequest("invalidFilter", "emails cannot be filtered on %q", x.AttributePath.AttributeName)
		}
		switch strings.ToLower(string(x.Operator)) {
		case "pr":
			s, isStr := got.(string)
			return !isStr || s != "", nil
		case "eq":
			if s, isStr := got.(string); isStr {
				want, _ := x.CompareValue.(string)
				return strings.EqualFold(s, want), nil
			}
			return fmt.Sprint(got) == fmt.Sprint(x.CompareValue), nil
		case "ne":
			s, _ := got.(string)
			want, _ := x.CompareValue.(string)
			return !strings.EqualFold(s, want), nil
		}
		return false, badRequest("invalidFilter", "emails filters take eq, ne or pr, not %s", x.Operator)
	}
	return false, badRequest("invalidFilter", "unsupported filter on emails")
}

// filterType is the type an `emails[type eq "work"]` filter names, or "work".
func filterType(expr filter.Expression) string {
	if x, ok := expr.(*filter.AttributeExpression); ok && strings.EqualFold(x.AttributePath.AttributeName, "type") {
		if s, ok := x.CompareValue.(string); ok {
			return s
		}
	}
	return "work"
}

// project applies the attributes and excludedAttributes parameters
// (RFC 7644 §3.4.2.5) to a resource: id, schemas and meta always stay.
func project(r *http.Request, res map[string]any, known []string) (map[string]any, *Error) {
	attrs, excluded, err := projection(r, known)
	if err != nil {
		return nil, err
	}
	return projectWith(res, attrs, excluded), nil
}

func projection(r *http.Request, known []string) (attrs, excluded []string, e *Error) {
	q := r.URL.Query()
	parse := func(param string) ([]string, *Error) {
		raw := strings.TrimSpace(q.Get(param))
		if raw == "" {
			return nil, nil
		}
		var out []string
		for _, a := range strings.Split(raw, ",") {
			a = strings.ToLower(strings.TrimSpace(a))
			for _, core := range []string{schemaUser, schemaGroup} {
				a = strings.TrimPrefix(a, strings.ToLower(core)+":")
			}
			top, _, _ := strings.Cut(a, ".")
			if !slices.Contains(known, top) && !isExtension(top) {
				return nil, badRequest("invalidValue", "%s: unknown attribute %q", param, a)
			}
			out = append(out, a)
		}
		return out, nil
	}
	if attrs, e = parse("attributes"); e != nil {
		return nil, nil, e
	}
	if excluded, e = parse("excludedAttributes"); e != nil {
		return nil, nil, e
	}
	return attrs, excluded, nil
}

func projectWith(res map[string]any, attrs, excluded []string) map[string]any {
	if len(attrs) == 0 && len(excluded) == 0 {
		return res
	}
	always := []string{"id", "schemas", "meta"}
	out := map[string]any{}
	for k, v := range res {
		l := strings.ToLower(k)
		if slices.Contains(always, l) {
			out[k] = v
			continue
		}
		if len(attrs) > 0 {
			var subs []string
			whole := false
			for _, a := range attrs {
				top, sub, hasSub := strings.Cut(a, ".")
				if top != l {
					continue
				}
				if !hasSub {
					whole = true
				} else {
					subs = append(subs, sub)
				}
			}
			switch {
			case whole:
				out[k] = v
			case len(subs) > 0:
				out[k] = keepSubs(v, subs)
			}
			continue
		}
		if !slices.Contains(excluded, l) {
			out[k] = v
		}
	}
	return out
}

// keepSubs keeps the named sub-attributes of a complex (or multi-valued
// complex) attribute.
func keepSubs(v any, subs []string) any {
	switch t := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, sv := range t {
			if slices.Contains(subs, strings.ToLower(k)) {
				out[k] = sv
			}
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, item := range t {
			out[i] = keepSubs(item, subs)
		}
		return out
	}
	return v
}
