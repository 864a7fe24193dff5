package event

import (
	"context"
	"reflect"
	"time"

	"github.com/rollcall/rollcall/ent"
	entevent "github.com/rollcall/rollcall/ent/event"
	"github.com/rollcall/rollcall/ent/predicate"
	"github.com/rollcall/rollcall/internal/apperr"
	"github.com/rollcall/rollcall/internal/perm"
	"github.com/rollcall/rollcall/internal/viewer"
)

// Page sizes of the events log.
const (
	DefaultPageSize = 50
	MaxPageSize     = 500
)

// Page is one page of the events log, oldest first.
type Page struct {
	Edges    []*Edge
	PageInfo ent.PageInfo
}

// Edge is one event of a page and the cursor after it: its position in
// commit order (the event's id, and its transaction's id as the value).
type Edge struct {
	Node   *ent.Event
	Cursor ent.Cursor
}

// List pages through the viewer's organisation's events in commit order,
// oldest first, after the cursor after (from the start without one), of
// types only when given, that occurred at or after since when given. first
// defaults to DefaultPageSize and is capped at MaxPageSize. Only settled
// events are listed (see After), so paging on from a page's end cursor never
// skips one that commits later. Needs organization.manage.
func (l *Log) List(ctx context.Context, first *int, after *ent.Cursor, types []string, since *time.Time) (*Page, error) {
	if err := viewer.Require(ctx, perm.OrganizationManage); err != nil {
		return nil, err
	}
	size := DefaultPageSize
	if first != nil {
		if *first < 0 {
			return nil, apperr.Invalid("first", "first must not be negative")
		}
		size = min(*first, MaxPageSize)
	}
	types, err := CheckTypes("types", types)
	if err != nil {
		return nil, err
	}
	var from Position
	if after != nil {
		if from, err = positionOf(after); err != nil {
			return nil, err
		}
	}
	page := &Page{Edges: []*Edge{}}
	page.PageInfo.HasPreviousPage = after != nil
	if size == 0 {
		return page, nil
	}
	// The privacy rules scope the read to the viewer's organisation too;
	// saying so leads the query along the (organization_id, txid, id) index.
	where := []predicate.Event{entevent.OrganizationID(viewer.FromContext(ctx).OrgID)}
	if len(types) > 0 {
		where = append(where, entevent.TypeIn(types...))
	}
	if since != nil {
		where = append(where, entevent.OccurredAtGTE(*since))
	}
	nodes, err := l.After(ctx, from, size+1, where...)
	if err != nil {
		return nil, err
	}
	if len(nodes) > size {
		nodes, page.PageInfo.HasNextPage = nodes[:size], true
	}
	for _, n := range nodes {
		page.Edges = append(page.Edges, &Edge{Node: n, Cursor: ent.Cursor{ID: n.ID, Value: n.Txid}})
	}
	if n := len(page.Edges); n > 0 {
		page.PageInfo.StartCursor, page.PageInfo.EndCursor = &page.Edges[0].Cursor, &page.Edges[n-1].Cursor
	}
	return page, nil
}

// errForeignCursor is a cursor of another list.
var errForeignCursor = apperr.Invalid("after", "cursor does not belong to this list")

// positionOf reads a cursor List wrote: the event's id and its transaction's
// id (left out when 0).
func positionOf(c *ent.Cursor) (Position, error) {
	p := Position{ID: c.ID}
	if c.Value != nil {
		switch v := reflect.ValueOf(c.Value); v.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			p.Tx = v.Int()
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			if v.Uint() > 1<<62 {
				return Position{}, errForeignCursor
			}
			p.Tx = int64(v.Uint())
		default:
			return Position{}, errForeignCursor
		}
	}
	if p.Tx < 0 || p.ID < 0 {
		return Position{}, errForeignCursor
	}
	return p, nil
}
