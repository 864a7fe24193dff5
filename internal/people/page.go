package people

import (
	"context"
	"slices"
	"time"

	"entgo.io/contrib/entgql"
	"entgo.io/ent/dialect/sql"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/ent/user"
	"github.com/rollcall/rollcall/internal/apperr"
)

// Page sizes of the users connection.
const (
	DefaultPageSize = 50
	MaxPageSize     = 500
)

// Page is one page of the users connection. The total is counted only when
// asked for: on a million rows the count costs more than the page itself.
type Page struct {
	Edges    []*ent.UserEdge
	PageInfo ent.PageInfo
	count    func(context.Context) (int, error)
}

// TotalCount counts every person matching the filters, across all pages.
func (p *Page) TotalCount(ctx context.Context) (int, error) { return p.count(ctx) }

// orderKey is a column people can be sorted by. Nullable columns sort their
// NULLs as if greater than every value (last ascending, first descending) on
// both databases, and cursors carry the NULL, so no row is skipped or repeated
// between pages.
type orderKey struct {
	column   string
	nullable bool
	value    func(*ent.User) any // the cursor value; nil for NULL
}

func timeValue(t *time.Time) any {
	if t == nil {
		return nil
	}
	return *t
}

// orderKeys maps the GraphQL order fields to columns. EMAIL sorts by the
// normalised address, which carries the index.
var orderKeys = map[string]orderKey{
	"EMAIL":         {column: user.FieldEmailNormalized, value: func(u *ent.User) any { return u.EmailNormalized }},
	"CREATED_AT":    {column: user.FieldCreatedAt, value: func(u *ent.User) any { return u.CreatedAt }},
	"STATUS":        {column: user.FieldStatus, value: func(u *ent.User) any { return string(u.Status) }},
	"INVITED_AT":    {column: user.FieldInvitedAt, nullable: true, value: func(u *ent.User) any { return timeValue(u.InvitedAt) }},
	"LAST_LOGIN_AT": {column: user.FieldLastLoginAt, nullable: true, value: func(u *ent.User) any { return timeValue(u.LastLoginAt) }},
}

// pager runs keyset pagination over a filtered query.
type pager struct {
	key       *orderKey // nil: by id only
	direction entgql.OrderDirection
}

func newPager(order *ent.UserOrder) (*pager, error) {
	if order == nil || order.Field == nil {
		dir := entgql.OrderDirectionAsc
		if order != nil {
			dir = order.Direction
		}
		return &pager{direction: dir}, dir.Validate()
	}
	key, ok := orderKeys[order.Field.String()]
	if !ok {
		return nil, apperr.Invalid("orderBy", "unknown order field")
	}
	return &pager{key: &key, direction: order.Direction}, order.Direction.Validate()
}

// pageSize validates first and last and returns the size and whether the
// page is read backwards (last/before).
func pageSize(first, last *int) (int, bool, error) {
	switch {
	case first != nil && last != nil:
		return 0, false, apperr.Invalid("first", "pass first or last, not both")
	case first != nil && *first < 0:
		return 0, false, apperr.Invalid("first", "first must not be negative")
	case last != nil && *last < 0:
		return 0, false, apperr.Invalid("last", "last must not be negative")
	case last != nil:
		return min(*last, MaxPageSize), true, nil
	case first != nil:
		return min(*first, MaxPageSize), false, nil
	default:
		return DefaultPageSize, false, nil
	}
}

// checkCursor refuses a cursor made under another ordering.
func (p *pager) checkCursor(c *ent.Cursor, field string) error {
	if c == nil {
		return nil
	}
	ok := true
	switch {
	case p.key == nil:
		ok = c.Value == nil
	case c.Value == nil:
		ok = p.key.nullable
	default:
		switch c.Value.(type) {
		case string:
			ok = p.key.column == user.FieldEmailNormalized || p.key.column == user.FieldStatus
		case time.Time:
			ok = p.key.column == user.FieldCreatedAt || p.key.nullable
		default:
			ok = false
		}
	}
	if !ok {
		return apperr.Invalid(field, "cursor does not belong to this ordering")
	}
	return nil
}

// after narrows the query to rows strictly after cursor c when walking in
// direction dir.
func (p *pager) after(c *ent.Cursor, dir entgql.OrderDirection) func(*sql.Selector) {
	idCmp := sql.GT
	if dir == entgql.OrderDirectionDesc {
		idCmp = sql.LT
	}
	return func(s *sql.Selector) {
		id := s.C(user.FieldID)
		if p.key == nil {
			s.Where(idCmp(id, c.ID))
			return
		}
		col := s.C(p.key.column)
		valCmp := sql.GT
		if dir == entgql.OrderDirectionDesc {
			valCmp = sql.LT
		}
		switch {
		case c.Value == nil && dir == entgql.OrderDirectionAsc:
			// NULLs come last: only later NULLs remain.
			s.Where(sql.And(sql.IsNull(col), idCmp(id, c.ID)))
		case c.Value == nil:
			// NULLs come first: later NULLs, then every value.
			s.Where(sql.Or(sql.And(sql.IsNull(col), idCmp(id, c.ID)), sql.NotNull(col)))
		default:
			ps := []*sql.Predicate{valCmp(col, c.Value), sql.And(sql.EQ(col, c.Value), idCmp(id, c.ID))}
			if p.key.nullable && dir == entgql.OrderDirectionAsc {
				ps = append(ps, sql.IsNull(col))
			}
			s.Where(sql.Or(ps...))
		}
	}
}

// order sorts the query walking in direction dir.
func (p *pager) order(q *ent.UserQuery, dir entgql.OrderDirection) *ent.UserQuery {
	opts := []sql.OrderTermOption{dir.OrderTermOption()}
	if p.key != nil {
		keyOpts := opts
		if p.key.nullable && dir == entgql.OrderDirectionAsc {
			keyOpts = append(slices.Clone(opts), sql.OrderNullsLast())
		} else if p.key.nullable {
			keyOpts = append(slices.Clone(opts), sql.OrderNullsFirst())
		}
		q = q.Order(sql.OrderByField(p.key.column, keyOpts...).ToFunc())
	}
	return q.Order(sql.OrderByField(user.FieldID, opts...).ToFunc())
}

func (p *pager) cursor(u *ent.User) ent.Cursor {
	c := ent.Cursor{ID: u.ID}
	if p.key != nil {
		c.Value = p.key.value(u)
	}
	return c
}

// paginate reads one page of q, which holds only the filters, with the
// edges eager configures (nil: the role).
func (p *pager) paginate(ctx context.Context, q *ent.UserQuery, first, last *int, after, before *ent.Cursor, eager func(*ent.UserQuery) (*ent.UserQuery, error)) (*Page, error) {
	size, backwards, err := pageSize(first, last)
	if err != nil {
		return nil, err
	}
	if err := p.checkCursor(after, "after"); err != nil {
		return nil, err
	}
	if err := p.checkCursor(before, "before"); err != nil {
		return nil, err
	}
	counted := q.Clone()
	page := &Page{Edges: []*ent.UserEdge{}, count: func(ctx context.Context) (int, error) { return counted.Count(ctx) }}

	walk := p.direction
	if backwards {
		walk = walk.Reverse()
	}
	if after != nil {
		q = q.Where(p.after(after, p.direction))
	}
	if before != nil {
		q = q.Where(p.after(before, p.direction.Reverse()))
	}
	if size == 0 {
		return page, nil
	}
	if eager == nil {
		q = q.WithRole()
	} else if q, err = eager(q); err != nil {
		return nil, err
	} else {
		// Cursors and ordering read more than the page may have selected;
		// a column selected twice is harmless.
		q.Select(user.Columns...)
	}
	nodes, err := p.order(q, walk).Limit(size + 1).All(ctx)
	if err != nil {
		return nil, err
	}
	more := len(nodes) > size
	if more {
		nodes = nodes[:size]
	}
	if backwards {
		slices.Reverse(nodes)
		page.PageInfo.HasPreviousPage, page.PageInfo.HasNextPage = more, before != nil
	} else {
		page.PageInfo.HasNextPage, page.PageInfo.HasPreviousPage = more, after != nil
	}
	for _, n := range nodes {
		page.Edges = append(page.Edges, &ent.UserEdge{Node: n, Cursor: p.cursor(n)})
	}
	if n := len(page.Edges); n > 0 {
		page.PageInfo.StartCursor = &page.Edges[0].Cursor
		page.PageInfo.EndCursor = &page.Edges[n-1].Cursor
	}
	return page, nil
}
