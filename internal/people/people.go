// Package people lists and filters an organisation's people and roles.
package people

import (
	"context"
	"fmt"
	"strings"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/ent/predicate"
	"github.com/rollcall/rollcall/ent/role"
	"github.com/rollcall/rollcall/ent/user"
	"github.com/rollcall/rollcall/internal/apperr"
	"github.com/rollcall/rollcall/internal/db"
	"github.com/rollcall/rollcall/internal/perm"
	"github.com/rollcall/rollcall/internal/viewer"
)

// Service reads people within the viewer's organisation.
type Service struct {
	client *ent.Client
}

// New returns the people service.
func New(client *ent.Client) *Service { return &Service{client: client} }

// ListParams are the arguments of the users connection.
type ListParams struct {
	First, Last   *int
	After, Before *ent.Cursor
	OrderBy       *ent.UserOrder
	Where         *ent.UserWhereInput
	Search        string
	// Eager, when set, configures which edges the page loads along with
	// the people (one query per edge for the whole page); it may narrow
	// the columns, the page still reads every column. Without it the page
	// loads each person's role.
	Eager func(*ent.UserQuery) (*ent.UserQuery, error)
}

// MaxSearchLength bounds the search string.
const MaxSearchLength = 200

// List returns one page of people matching the filters. It needs people.read.
func (s *Service) List(ctx context.Context, p ListParams) (*Page, error) {
	if err := viewer.Require(ctx, perm.PeopleRead); err != nil {
		return nil, err
	}
	pg, err := newPager(p.OrderBy)
	if err != nil {
		return nil, err
	}
	q, err := s.Filtered(p.Where, p.Search)
	if err != nil {
		return nil, err
	}
	page, err := pg.paginate(ctx, q, p.First, p.Last, p.After, p.Before, p.Eager)
	if err != nil {
		return nil, fmt.Errorf("list people: %w", err)
	}
	return page, nil
}

// Filtered is the query of the people where and search select, as the
// users connection selects them (statistics count under the same filters).
// The caller checks the viewer's permission.
func (s *Service) Filtered(where *ent.UserWhereInput, search string) (*ent.UserQuery, error) {
	q := s.client.User.Query()
	if where != nil {
		var err error
		if q, err = where.Filter(q); err != nil {
			return nil, apperr.Invalid("where", err.Error())
		}
	}
	if search := strings.TrimSpace(search); search != "" {
		if len(search) > MaxSearchLength {
			return nil, apperr.Invalid("search", fmt.Sprintf("search is longer than %d characters", MaxSearchLength))
		}
		q = q.Where(Matching(search))
	}
	return q, nil
}

// Matching selects people whose email, names or username contain s,
// ignoring case. It matches db.UserSearchText, which PostgreSQL indexes with
// trigrams, so a search spanning a first and last name ("ann smith") matches
// too.
func Matching(s string) predicate.User {
	// Lower-cased here too: SQLite's LIKE folds ASCII only, and emails and
	// usernames are stored lower-cased.
	pattern := "%" + likeEscaper.Replace(strings.ToLower(s)) + "%"
	return func(sel *entsql.Selector) {
		text := db.UserSearchText(sel.C)
		sel.Where(entsql.P(func(b *entsql.Builder) {
			if b.Dialect() == dialect.Postgres {
				b.WriteString(text).WriteString(" ILIKE ").Arg(pattern)
				return
			}
			b.WriteString(text).WriteString(" LIKE ").Arg(pattern).WriteString(` ESCAPE '\'`)
		}))
	}
}

// likeEscaper makes a search string match literally within LIKE.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// InviteExpired selects people whose invitation is past its expiry at now
// (expired true), or everyone else (expired false).
func InviteExpired(now time.Time, expired bool) predicate.User {
	// The status is written out, not a parameter, so PostgreSQL can use the
	// partial index on expiry (WHERE status = 'INVITED') in any plan.
	invited := predicate.User(func(sel *entsql.Selector) {
		sel.Where(entsql.ExprP(sel.C(user.FieldStatus) + " = 'INVITED'"))
	})
	p := user.And(invited, user.InviteExpiresAtLTE(now))
	if expired {
		return p
	}
	return user.Not(p)
}

// Viewer returns the signed-in person, or nil when nobody is signed in or
// an API key acts (it is nobody).
func (s *Service) Viewer(ctx context.Context) (*ent.User, error) {
	v := viewer.FromContext(ctx)
	if v == nil || v.IsKey() {
		return nil, nil
	}
	u, err := s.client.User.Get(ctx, v.UserID)
	if err != nil {
		return nil, fmt.Errorf("read viewer: %w", err)
	}
	return u, nil
}

// Roles lists the organisation's roles by name. It needs people.read.
func (s *Service) Roles(ctx context.Context) ([]*ent.Role, error) {
	if err := viewer.Require(ctx, perm.PeopleRead); err != nil {
		return nil, err
	}
	roles, err := s.client.Role.Query().Order(role.ByName()).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("list roles: %w", err)
	}
	return roles, nil
}
