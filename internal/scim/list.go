package scim

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	entsql "entgo.io/ent/dialect/sql"
	filter "github.com/scim2/filter-parser/v2"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/ent/group"
	"github.com/rollcall/rollcall/ent/predicate"
	"github.com/rollcall/rollcall/ent/user"
)

// maxFilter is the longest filter, in bytes.
const maxFilter = 4096

// paging reads startIndex (1-based, default 1) and count (default and
// maximum MaxCount; 0 asks for totalResults alone).
func (h *Handler) paging(r *http.Request) (start, count int, e *Error) {
	q := r.URL.Query()
	start, count = 1, h.Config.MaxCount
	if s := q.Get("startIndex"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return 0, 0, badRequest("invalidValue", "startIndex must be an integer")
		}
		start = max(n, 1)
	}
	if s := q.Get("count"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return 0, 0, badRequest("invalidValue", "count must be an integer")
		}
		count = min(max(n, 0), h.Config.MaxCount)
	}
	return start, count, nil
}

// parseFilter parses the filter parameter (nil when absent).
func parseFilter(r *http.Request) (filter.Expression, *Error) {
	raw := strings.TrimSpace(r.URL.Query().Get("filter"))
	if raw == "" {
		return nil, nil
	}
	if len(raw) > maxFilter {
		return nil, badRequest("invalidFilter", "the filter has more than %d bytes", maxFilter)
	}
	if strings.ContainsRune(raw, 0) {
		return nil, badRequest("invalidFilter", "the filter holds a NUL character")
	}
	expr, err := filter.ParseFilter([]byte(raw))
	if err != nil {
		return nil, badRequest("invalidFilter", "the filter does not parse: %v", err)
	}
	return expr, nil
}

// stringMatch is a string comparison of a filter on column; fold compares
// case-insensitively (the column then holds lower-cased values, or lower()
// is applied).
type stringColumn struct {
	column string
	lower  bool // the column is stored lower-cased: lower the value
	exact  bool // caseExact attribute
}

func compareString(c stringColumn, op string, v any) (func(*entsql.Selector), *Error) {
	if op == "pr" {
		return func(s *entsql.Selector) {
			s.Where(entsql.And(entsql.NotNull(s.C(c.column)), entsql.NEQ(s.C(c.column), "")))
		}, nil
	}
	val, ok := v.(string)
	if !ok {
		return nil, badRequest("invalidFilter", "compare %s with a string", c.column)
	}
	if c.lower {
		val = strings.ToLower(strings.TrimSpace(val))
	}
	col := func(s *entsql.Selector) string { return s.C(c.column) }
	fold := !c.lower && !c.exact
	switch op {
	case "eq":
		if fold {
			return func(s *entsql.Selector) { s.Where(entsql.EqualFold(col(s), val)) }, nil
		}
		return func(s *entsql.Selector) { s.Where(entsql.EQ(col(s), val)) }, nil
	case "ne":
		if fold {
			return func(s *entsql.Selector) { s.Where(entsql.Not(entsql.EqualFold(col(s), val))) }, nil
		}
		return func(s *entsql.Selector) { s.Where(entsql.Or(entsql.IsNull(col(s)), entsql.NEQ(col(s), val))) }, nil
	case "co":
		if fold {
			return func(s *entsql.Selector) { s.Where(entsql.ContainsFold(col(s), val)) }, nil
		}
		return func(s *entsql.Selector) { s.Where(entsql.Contains(col(s), val)) }, nil
	case "sw":
		if fold {
			return func(s *entsql.Selector) { s.Where(entsql.HasPrefixFold(col(s), val)) }, nil
		}
		return func(s *entsql.Selector) { s.Where(entsql.HasPrefix(col(s), val)) }, nil
	case "ew":
		if fold {
			return func(s *entsql.Selector) { s.Where(entsql.HasSuffixFold(col(s), val)) }, nil
		}
		return func(s *entsql.Selector) { s.Where(entsql.HasSuffix(col(s), val)) }, nil
	}
	return nil, badRequest("invalidFilter", "the operator %s is not supported on strings (eq, ne, co, sw, ew, pr)", op)
}

// userPredicate turns a filter into a predicate on people: userName,
// emails(.value), externalId, displayName, name.givenName,
// name.familyName, id and active, with eq, ne, co, sw, ew, pr, and, or, not.
func userPredicate(expr filter.Expression) (predicate.User, *Error) {
	switch x := expr.(type) {
	case *filter.LogicalExpression:
		l, err := userPredicate(x.Left)
		if err != nil {
			return nil, err
		}
		r, err := userPredicate(x.Right)
		if err != nil {
			return nil, err
		}
		if x.Operator == filter.AND {
			return user.And(l, r), nil
		}
		return user.Or(l, r), nil
	case *filter.NotExpression:
		p, err := userPredicate(x.Expression)
		if err != nil {
			return nil, err
		}
		return user.Not(p), nil
	case *filter.ValuePath:
		attr := strings.ToLower(x.AttributePath.AttributeName)
		if attr != "emails" {
			return nil, badRequest("invalidFilter", "%s cannot be filtered with [ ]", attr)
		}
		return userPredicate(prefixed(x.ValueFilter, "emails"))
	case *filter.AttributeExpression:
		attr := strings.ToLower(x.AttributePath.AttributeName)
		if uri := x.AttributePath.URI(); uri != "" && !strings.EqualFold(uri, schemaUser) {
			return nil, badRequest("invalidFilter", "cannot filter on %s", x.AttributePath)
		}
		if sub := x.AttributePath.SubAttributeName(); sub != "" {
			attr += "." + strings.ToLower(sub)
		}
		op := strings.ToLower(string(x.Operator))
		var col stringColumn
		switch attr {
		case "username":
			col = stringColumn{column: user.FieldScimUserNameNormalized, lower: true}
		case "emails", "emails.value":
			col = stringColumn{column: user.FieldEmailNormalized, lower: true}
		case "emails.type":
			return user.ScimLinked(true), nil // every address is the work address
		case "externalid":
			col = stringColumn{column: user.FieldScimExternalID, exact: true}
		case "name.givenname":
			col = stringColumn{column: user.FieldFirstName}
		case "name.familyname":
			col = stringColumn{column: user.FieldLastName}
		case "id":
			s, _ := x.CompareValue.(string)
			id, err := strconv.Atoi(s)
			if op != "eq" || err != nil {
				return nil, badRequest("invalidFilter", "id takes eq with a resource id")
			}
			return user.ID(id), nil
		case "active":
			b, err := boolean("active", x.CompareValue)
			if op != "eq" || err != nil {
				return nil, badRequest("invalidFilter", "active takes eq true or eq false")
			}
			if b {
				return user.StatusNEQ(user.StatusDeactivated), nil
			}
			return user.StatusEQ(user.StatusDeactivated), nil
		case "displayname":
			return displayNamePredicate(op, x.CompareValue)
		default:
			return nil, badRequest("invalidFilter", "cannot filter Users on %q (userName, emails.value, externalId, displayName, name.givenName, name.familyName, id, active)", x.AttributePath)
		}
		f, err := compareString(col, op, x.CompareValue)
		if err != nil {
			return nil, err
		}
		return predicate.User(f), nil
	}
	return nil, badRequest("invalidFilter", "unsupported filter")
}

// prefixed rewrites a value filter's attributes as sub-attributes of attr
// (emails[value eq "x"] as emails.value eq "x").
func prefixed(expr filter.Expression, attr string) filter.Expression {
	switch x := expr.(type) {
	case *filter.LogicalExpression:
		return &filter.LogicalExpression{Left: prefixed(x.Left, attr), Right: prefixed(x.Right, attr), Operator: x.Operator}
	case *filter.NotExpression:
		return &filter.NotExpression{Expression: prefixed(x.Expression, attr)}
	case *filter.AttributeExpression:
		name := x.AttributePath.AttributeName
		return &filter.AttributeExpression{Operator: x.Operator, CompareValue: x.CompareValue,
			AttributePath: filter.AttributePath{AttributeName: attr, SubAttribute: &name}}
	}
	return expr
}

// displayNamePredicate filters on the display name SCIM shows: the one the
// provider gave, else first and last name joined by a space, else the
// address.
func displayNamePredicate(op string, v any) (predicate.User, *Error) {
	val, ok := v.(string)
	if !ok && op != "pr" {
		return nil, badRequest("invalidFilter", "compare displayName with a string")
	}
	val = strings.ToLower(val)
	expr := fmt.Sprintf("LOWER(CASE WHEN %[4]s IS NOT NULL THEN %[4]s WHEN %[1]s IS NULL AND %[2]s IS NULL THEN %[3]s WHEN %[2]s IS NULL THEN %[1]s WHEN %[1]s IS NULL THEN %[2]s ELSE %[1]s || ' ' || %[2]s END)",
		user.FieldFirstName, user.FieldLastName, user.FieldEmail, user.FieldScimDisplayName)
	like := func(pattern string) predicate.User {
		return func(s *entsql.Selector) {
			s.Where(entsql.P(func(b *entsql.Builder) { b.WriteString(expr).WriteString(" LIKE ").Arg(pattern) }))
		}
	}
	esc := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(val)
	switch op {
	case "pr":
		return user.ScimLinked(true), nil
	case "eq":
		return func(s *entsql.Selector) {
			s.Where(entsql.P(func(b *entsql.Builder) { b.WriteString(expr).WriteString(" = ").Arg(val) }))
		}, nil
	case "co":
		return like("%" + esc + "%"), nil
	case "sw":
		return like(esc + "%"), nil
	case "ew":
		return like("%" + esc), nil
	}
	return nil, badRequest("invalidFilter", "displayName takes eq, co, sw, ew or pr")
}

// listResponse writes a ListResponse.
func listResponse(w http.ResponseWriter, total, start int, resources []any) {
	writeJSON(w, http.StatusOK, map[string]any{
		"schemas": []any{schemaList}, "totalResults": total, "startIndex": start,
		"itemsPerPage": len(resources), "Resources": resources,
	})
}

func (h *Handler) listUsers(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	start, count, e := h.paging(r)
	if e != nil {
		writeError(w, e)
		return
	}
	attrs, excluded, e := projection(r, userAttrs)
	if e != nil {
		writeError(w, e)
		return
	}
	expr, e := parseFilter(r)
	if e != nil {
		writeError(w, e)
		return
	}
	q := h.Client.User.Query().Where(user.ScimLinked(true))
	if expr != nil {
		p, e := userPredicate(expr)
		if e != nil {
			writeError(w, e)
			return
		}
		q = q.Where(p)
	}
	// The page first: a first page that is not full holds every match, so
	// it is counted without a COUNT (a userName lookup costs one query).
	resources := []any{}
	total := -1
	if count > 0 {
		page := q.Clone().Order(ent.Asc(user.FieldID)).Offset(start - 1).Limit(count)
		if wants(attrs, excluded, "groups") {
			page = page.WithGroups(func(q *ent.GroupQuery) { q.Order(ent.Asc(group.FieldID)) })
		}
		us, err := page.All(ctx)
		if err != nil {
			h.fail(w, r, fmt.Errorf("list SCIM users: %w", err))
			return
		}
		for _, u := range us {
			resources = append(resources, projectWith(h.userResource(u), attrs, excluded))
		}
		if start == 1 && len(us) < count {
			total = len(us)
		}
	}
	if total < 0 {
		n, err := q.Count(ctx)
		if err != nil {
			h.fail(w, r, fmt.Errorf("count SCIM users: %w", err))
			return
		}
		total = n
	}
	listResponse(w, total, start, resources)
}

// wants reports whether a response shows attribute attr.
func wants(attrs, excluded []string, attr string) bool {
	if len(attrs) > 0 {
		for _, a := range attrs {
			if top, _, _ := strings.Cut(a, "."); top == attr {
				return true
			}
		}
		return false
	}
	for _, a := range excluded {
		if a == attr {
			return false
		}
	}
	return true
}
