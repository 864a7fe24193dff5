// Package stats answers the analyst's questions: how many people per
// status, role, import... (PeopleStats, one GROUP BY under the users
// filters), how many of a send accepted (Accepted) and how fast
// (MedianSecondsToAccept), and the invitation funnel per day or week
// (Funnel). Everything it counts was
// recorded when it happened: the send and delivery that carried each link
// (invitations.bulk_send_id), the time a link was used, the provider's first
// report on a delivery (deliveries.reported_at).
package stats

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/ent/funnelday"
	"github.com/rollcall/rollcall/ent/invitation"
	"github.com/rollcall/rollcall/ent/role"
	"github.com/rollcall/rollcall/ent/schema/enum"
	"github.com/rollcall/rollcall/ent/user"
	"github.com/rollcall/rollcall/ent/userimport"
	"github.com/rollcall/rollcall/internal/apperr"
	"github.com/rollcall/rollcall/internal/auth"
	"github.com/rollcall/rollcall/internal/db"
	"github.com/rollcall/rollcall/internal/people"
	"github.com/rollcall/rollcall/internal/perm"
	"github.com/rollcall/rollcall/internal/viewer"
)

// Dimension is what PeopleStats groups by.
type Dimension string

// The dimensions.
const (
	Status          Dimension = "STATUS"
	Role            Dimension = "ROLE"
	LastEmailStatus Dimension = "LAST_EMAIL_STATUS"
	Import          Dimension = "IMPORT"
	InvitationCount Dimension = "INVITATION_COUNT"
	Locale          Dimension = "LOCALE"
)

// Interval is a funnel bucket's width.
type Interval string

// The intervals.
const (
	Day  Interval = "DAY"
	Week Interval = "WEEK" // from Monday
)

// MaxFunnelYears is the longest funnel, in years.
const MaxFunnelYears = 2

// Service computes statistics within the viewer's organisation.
type Service struct {
	client      *ent.Client
	people      *people.Service
	dialect     sqlDialect
	dialectName string
}

// New returns the statistics service; dialectName is the database's.
func New(client *ent.Client, dialectName string, ppl *people.Service) *Service {
	return &Service{client: client, people: ppl, dialect: dialectFor(dialectName), dialectName: dialectName}
}

// Row is one group of PeopleStats: the values of the dimensions asked for
// (nil: the person has none, or the dimension was not asked) and the count.
type Row struct {
	Status          *user.Status
	Role            *ent.Role
	LastEmailStatus *enum.DeliveryStatus
	Import          *ent.UserImport
	InvitationCount *int
	Locale          *string
	Count           int
}

// group is a row as scanned.
type group struct {
	Status          *string `sql:"status"`
	RoleID          *int    `sql:"role_id"`
	LastEmailStatus *string `sql:"last_email_status"`
	ImportID        *int    `sql:"import_id"`
	InvitationCount *int    `sql:"invitation_count"`
	Locale          *string `sql:"locale"`
	Count           int     `sql:"count"`
}

// PeopleStats counts the people where and search select (as users does),
// grouped by dims, in one query. Needs people.read.
func (s *Service) PeopleStats(ctx context.Context, where *ent.UserWhereInput, search string, dims []Dimension) ([]Row, error) {
	if err := viewer.Require(ctx, perm.PeopleRead); err != nil {
		return nil, err
	}
	dims = slices.Compact(slices.Sorted(slices.Values(dims)))
	for _, d := range dims {
		if !slices.Contains([]Dimension{Status, Role, LastEmailStatus, Import, InvitationCount, Locale}, d) {
			return nil, apperr.Invalid("groupBy", fmt.Sprintf("unknown dimension %q: one of STATUS, ROLE, LAST_EMAIL_STATUS, IMPORT, INVITATION_COUNT, LOCALE", d))
		}
	}
	q, err := s.people.Filtered(where, search)
	if err != nil {
		return nil, err
	}
	var groups []group
	err = q.Modify(func(sel *sql.Selector) {
		var cols, names []string
		add := func(expr, name string) {
			cols = append(cols, sql.As(expr, name))
			names = append(names, expr)
		}
		for _, d := range dims {
			switch d {
			case Status:
				add(sel.C(user.FieldStatus), "status")
			case Role:
				add(sel.C(user.FieldRoleID), "role_id")
			case LastEmailStatus:
				add(sel.C(user.FieldLastEmailStatus), "last_email_status")
			case InvitationCount:
				add(sel.C(user.FieldInvitationCount), "invitation_count")
			case Locale:
				add(sel.C(user.FieldLocale), "locale")
			case Import:
				// A person counts once per import that touched them; the
				// never imported once, with no import.
				t := sql.Table(user.ImportTable).As("ui")
				sel.LeftJoin(t).On(sel.C(user.FieldID), t.C(user.ImportPrimaryKey[0]))
				add(t.C(user.ImportPrimaryKey[1]), "import_id")
			}
		}
		sel.Select(append(cols, sql.As("COUNT(*)", "count"))...)
		if len(names) > 0 {
			sel.GroupBy(names...).OrderBy(names...)
		}
	}).Scan(ctx, &groups)
	if err != nil {
		return nil, fmt.Errorf("people statistics: %w", err)
	}
	return s.rows(ctx, groups)
}

// rows resolves groups' roles and imports.
func (s *Service) rows(ctx context.Context, groups []group) ([]Row, error) {
	var roleIDs, importIDs []int
	for _, g := range groups {
		if g.RoleID != nil {
			roleIDs = append(roleIDs, *g.RoleID)
		}
		if g.ImportID != nil {
			importIDs = append(importIDs, *g.ImportID)
		}
	}
	roles := map[int]*ent.Role{}
	if len(roleIDs) > 0 {
		rs, err := s.client.Role.Query().Where(role.IDIn(slices.Compact(slices.Sorted(slices.Values(roleIDs)))...)).All(ctx)
		if err != nil {
			return nil, fmt.Errorf("read roles: %w", err)
		}
		for _, r := range rs {
			roles[r.ID] = r
		}
	}
	imports := map[int]*ent.UserImport{}
	for start := 0; start < len(importIDs); start += 10_000 {
		ids := slices.Compact(slices.Sorted(slices.Values(importIDs[start:min(start+10_000, len(importIDs))])))
		is, err := s.client.UserImport.Query().Where(userimport.IDIn(ids...)).All(ctx)
		if err != nil {
			return nil, fmt.Errorf("read imports: %w", err)
		}
		for _, i := range is {
			imports[i.ID] = i
		}
	}
	out := make([]Row, len(groups))
	for i, g := range groups {
		r := Row{InvitationCount: g.InvitationCount, Locale: g.Locale, Count: g.Count}
		if g.Status != nil {
			st := user.Status(*g.Status)
			r.Status = &st
		}
		if g.LastEmailStatus != nil {
			st := enum.DeliveryStatus(*g.LastEmailStatus)
			r.LastEmailStatus = &st
		}
		if g.RoleID != nil {
			r.Role = roles[*g.RoleID]
		}
		if g.ImportID != nil {
			r.Import = imports[*g.ImportID]
		}
		out[i] = r
	}
	return out, nil
}

// Accepted counts the people who accepted the link send b carried. The
// caller has read b (its privacy rule applies).
func (s *Service) Accepted(ctx context.Context, b *ent.BulkSend) (int, error) {
	n, err := s.client.Invitation.Query().
		Where(invitation.BulkSendID(b.ID), invitation.UsedAtNotNil()).Count(auth.AsSystem(ctx))
	if err != nil {
		return 0, fmt.Errorf("count acceptances of bulk send %d: %w", b.ID, err)
	}
	return n, nil
}

// MedianSecondsToAccept is the median seconds from the link send b carried
// leaving to its use (nil when nobody accepted). The caller has read b
// (its privacy rule applies).
func (s *Service) MedianSecondsToAccept(ctx context.Context, b *ent.BulkSend) (*int, error) {
	var used []struct {
		CreatedAt time.Time `sql:"created_at"`
		UsedAt    time.Time `sql:"used_at"`
	}
	err := s.client.Invitation.Query().
		Where(invitation.BulkSendID(b.ID), invitation.UsedAtNotNil()).
		Select(invitation.FieldCreatedAt, invitation.FieldUsedAt).Scan(auth.AsSystem(ctx), &used)
	if err != nil {
		return nil, fmt.Errorf("read acceptances of bulk send %d: %w", b.ID, err)
	}
	if len(used) == 0 {
		return nil, nil
	}
	secs := make([]float64, len(used))
	for i, u := range used {
		secs[i] = u.UsedAt.Sub(u.CreatedAt).Seconds()
	}
	slices.Sort(secs)
	n := len(secs)
	m := secs[n/2]
	if n%2 == 0 {
		m = (secs[n/2-1] + secs[n/2]) / 2
	}
	median := int(m + 0.5)
	return &median, nil
}

// sqlDialect is what differs between the databases in the statistics' SQL.
type sqlDialect interface {
	// bucket is the SQL of the 0-based bucket index of time column col,
	// for buckets of width seconds from origin (col is at or after it).
	bucket(col string, origin time.Time, width int64) string
}

func dialectFor(name string) sqlDialect {
	if name == dialect.Postgres {
		return postgresDialect{}
	}
	return sqliteDialect{}
}

type postgresDialect struct{}

func (postgresDialect) bucket(col string, origin time.Time, width int64) string {
	// Integer arithmetic (numeric is several times slower over a million
	// rows): the epoch less half a second, rounded, is its floor; the
	// values are at or after origin, so the division is a floor too.
	return fmt.Sprintf("(((EXTRACT(EPOCH FROM %s) - 0.5)::bigint - %d) / %d)", col, origin.Unix(), width)
}

type sqliteDialect struct{}

// The SQLite driver stores times as Go writes them ("2026-03-02
// 09:00:00.5 +0000 UTC", always UTC here); julianday reads the part before
// the offset and counts days (fractional). Values are at or after origin,
// so the truncating cast is a floor.
func (sqliteDialect) bucket(col string, origin time.Time, width int64) string {
	return fmt.Sprintf("CAST(((julianday(substr(%[1]s, 1, instr(%[1]s, ' +') - 1)) - 2440587.5) * 86400.0 - %[2]d) / %[3]d AS INTEGER)",
		col, origin.Unix(), width)
}

// Bucket is one day or week of the funnel.
type Bucket struct {
	Start                                          time.Time
	Invited, Delivered, Bounced, Accepted, Expired int
}

// FunnelParams are the funnel's arguments.
type FunnelParams struct {
	From, To time.Time
	Interval Interval
	Where    *ent.UserWhereInput
	Now      time.Time // expiries after now have not happened
}

// metric is one count of the funnel: rows of table (aliased t) whose time
// column falls in the bucket, under cond (%[1]s is the alias).
type metric struct {
	table, column, cond string
	// add counts n rows in a bucket; status is the row's status, read
	// only for a metric that splits by it (one scan for two measures).
	add   func(b *Bucket, status string, n int)
	split bool
}

// links are the deliveries that carried an invitation link.
const links = `%[1]s.action IN ('INVITATION', 'REMINDER')`

var metrics = []metric{
	{table: "deliveries", column: "sent_at", cond: `%[1]s.sent_at IS NOT NULL AND ` + links,
		add: func(b *Bucket, _ string, n int) { b.Invited += n }},
	// A complaint comes after delivery: it was delivered.
	{table: "deliveries", column: "reported_at", cond: `%[1]s.reported_at IS NOT NULL AND ` + links, split: true,
		add: func(b *Bucket, status string, n int) {
			switch status {
			case "DELIVERED", "COMPLAINED":
				b.Delivered += n
			case "BOUNCED":
				b.Bounced += n
			}
		}},
	{table: "invitations", column: "used_at", cond: `%[1]s.used_at IS NOT NULL AND %[1]s.kind = 'INVITATION'`,
		add: func(b *Bucket, _ string, n int) { b.Accepted += n }},
	// A link expired if it reached its end unused and not revoked before:
	// a resend after the end does not undo an expiry that happened.
	{table: "invitations", column: "expires_at", cond: `%[1]s.used_at IS NULL AND (%[1]s.revoked_at IS NULL OR %[1]s.revoked_at >= %[1]s.expires_at) AND %[1]s.kind = 'INVITATION'`,
		add: func(b *Bucket, _ string, n int) { b.Expired += n }},
}

// Funnel counts, per day or week (UTC; weeks from Monday) from p.From to
// p.To, the invitation links that left, were delivered, bounced, were
// accepted and expired, of the people p.Where selects. Needs people.read.
func (s *Service) Funnel(ctx context.Context, p FunnelParams) ([]Bucket, error) {
	if err := viewer.Require(ctx, perm.PeopleRead); err != nil {
		return nil, err
	}
	v := viewer.FromContext(ctx)
	from, to := p.From.UTC(), p.To.UTC()
	if !to.After(from) {
		return nil, apperr.Invalid("to", "to must be after from")
	}
	if to.After(from.AddDate(MaxFunnelYears, 0, 0)) {
		return nil, apperr.Invalid("to", fmt.Sprintf("the funnel covers at most %d years: from and to are further apart", MaxFunnelYears))
	}
	var width int64
	start := time.Date(from.Year(), from.Month(), from.Day(), 0, 0, 0, 0, time.UTC)
	switch p.Interval {
	case Day:
		width = 86400
	case Week:
		width = 7 * 86400
		start = start.AddDate(0, 0, -((int(start.Weekday()) + 6) % 7)) // back to Monday
	default:
		return nil, apperr.Invalid("interval", "DAY or WEEK")
	}
	var buckets []Bucket
	for t := start; t.Before(to); t = t.Add(time.Duration(width) * time.Second) {
		buckets = append(buckets, Bucket{Start: t})
	}
	var filtered *ent.UserQuery
	if p.Where != nil {
		q, err := s.people.Filtered(p.Where, "")
		if err != nil {
			return nil, err
		}
		filtered = q
	}
	scan := func(from, to time.Time) error {
		return s.tally(ctx, v.OrgID, buckets, start, width, from, to, p.Now, filtered)
	}
	lo, hi := closedDays(from, to, p.Now)
	if filtered != nil || !lo.Before(hi) {
		// Everything is counted from the emails and links themselves.
		if err := scan(from, to); err != nil {
			return nil, err
		}
		return buckets, nil
	}
	// The whole days that ended are counted once and kept; the rest,
	// at either end, is counted now.
	days, err := s.days(ctx, v.OrgID, lo, hi, p.Now)
	if err != nil {
		return nil, err
	}
	for _, d := range days {
		b := &buckets[int64(d.Start.Sub(start).Seconds())/width]
		b.Invited += d.Invited
		b.Delivered += d.Delivered
		b.Bounced += d.Bounced
		b.Accepted += d.Accepted
		b.Expired += d.Expired
	}
	if err := errors.Join(scan(from, lo), scan(hi, to)); err != nil {
		return nil, err
	}
	return buckets, nil
}

// settleAfter is how long after a day ends its funnel is settled: the
// times counted are written when things happen, and a transaction that
// stamped one commits well within it.
const settleAfter = time.Hour

// closedDays returns the whole UTC days [lo, hi) within [from, to) that
// were settled by now (lo >= hi: none).
func closedDays(from, to, now time.Time) (lo, hi time.Time) {
	lo = from.Truncate(24 * time.Hour)
	if lo.Before(from) {
		lo = lo.Add(24 * time.Hour)
	}
	hi = to.Truncate(24 * time.Hour)
	if settled := now.Add(-settleAfter).Truncate(24 * time.Hour); settled.Before(hi) {
		hi = settled
	}
	return lo, hi
}

// days returns the funnel of everyone of orgID on each day in [lo, hi),
// days settled by now: those counted before are read, the others counted
// and kept. Two funnels counting the same day at once keep one count, the
// same.
func (s *Service) days(ctx context.Context, orgID int, lo, hi, now time.Time) ([]Bucket, error) {
	sys := auth.AsSystem(ctx)
	const day = 24 * time.Hour
	kept, err := s.client.FunnelDay.Query().
		Where(funnelday.OrganizationID(orgID), funnelday.DayGTE(lo), funnelday.DayLT(hi)).All(sys)
	if err != nil {
		return nil, fmt.Errorf("read funnel days: %w", err)
	}
	out := make([]Bucket, int(hi.Sub(lo)/day))
	have := make([]bool, len(out))
	for _, d := range kept {
		i := int(d.Day.Sub(lo) / day)
		out[i] = Bucket{Start: d.Day, Invited: d.Invited, Delivered: d.Delivered, Bounced: d.Bounced, Accepted: d.Accepted, Expired: d.Expired}
		have[i] = true
	}
	first := slices.Index(have, false)
	if first < 0 {
		return out, nil
	}
	last := len(have) - 1
	for have[last] {
		last--
	}
	// One count from the first missing day to the last.
	origin := lo.Add(time.Duration(first) * day)
	counted := make([]Bucket, last-first+1)
	for i := range counted {
		counted[i].Start = origin.Add(time.Duration(i) * day)
	}
	if err := s.tally(ctx, orgID, counted, origin, 86400, origin, origin.Add(time.Duration(len(counted))*day), now, nil); err != nil {
		return nil, err
	}
	var creates []*ent.FunnelDayCreate
	for i, b := range counted {
		if have[first+i] {
			continue
		}
		out[first+i] = b
		creates = append(creates, s.client.FunnelDay.Create().SetOrganizationID(orgID).SetDay(b.Start).
			SetInvited(b.Invited).SetDelivered(b.Delivered).SetBounced(b.Bounced).SetAccepted(b.Accepted).SetExpired(b.Expired))
	}
	for start := 0; start < len(creates); start += 500 {
		err := s.client.FunnelDay.CreateBulk(creates[start:min(start+500, len(creates))]...).
			OnConflictColumns(funnelday.FieldOrganizationID, funnelday.FieldDay).DoNothing().Exec(sys)
		if err != nil {
			return nil, fmt.Errorf("keep funnel days: %w", err)
		}
	}
	return out, nil
}

// tally adds the funnel's metrics in [from, to) (expiries up to now) of
// the people selected (nil: everyone) into buckets of width seconds from
// origin. The metrics read different tables and indexes: they run at
// once, each on its own connection.
func (s *Service) tally(ctx context.Context, orgID int, buckets []Bucket, origin time.Time, width int64, from, to, now time.Time, people *ent.UserQuery) error {
	counts := make([]map[cell]int, len(metrics))
	errs := make([]error, len(metrics))
	var wg sync.WaitGroup
	for i, m := range metrics {
		upper := to
		if m.column == "expires_at" && now.Before(upper) {
			upper = now // an expiry still ahead has not happened
		}
		if !upper.After(from) {
			continue
		}
		wg.Go(func() { counts[i], errs[i] = s.count(ctx, orgID, m, origin, width, from, upper, people) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for i, m := range metrics {
		for k, n := range counts[i] {
			if k.b >= 0 && int(k.b) < len(buckets) {
				m.add(&buckets[k.b], k.status, n)
			}
		}
	}
	return nil
}

// cell is a bucket index and, for a split metric, a status.
type cell struct {
	b      int64
	status string
}

// count runs one metric: counts by bucket index (and status).
func (s *Service) count(ctx context.Context, orgID int, m metric, origin time.Time, width int64, from, to time.Time, people *ent.UserQuery) (map[cell]int, error) {
	var got []struct {
		B      int64  `sql:"b"`
		Status string `sql:"status"`
		N      int    `sql:"n"`
	}
	status := "''"
	if m.split {
		status = "t.status"
	}
	if people == nil {
		// Everyone: the metric's own table and index, no join.
		col := "t." + m.column
		q := fmt.Sprintf(`SELECT %s AS b, %s AS status, COUNT(*) AS n FROM %s t WHERE t.organization_id = $1 AND %s >= $2 AND %s < $3 AND %s GROUP BY 1, 2`,
			s.dialect.bucket(col, origin, width), status, m.table, col, col, fmt.Sprintf(m.cond, "t"))
		rows, err := s.client.QueryContext(ctx, db.Rebind(s.dialectName, q), orgID, from, to)
		if err != nil {
			return nil, fmt.Errorf("funnel %s: %w", m.column, err)
		}
		defer rows.Close()
		out := map[cell]int{}
		for rows.Next() {
			var c cell
			var n int
			if err := rows.Scan(&c.b, &c.status, &n); err != nil {
				return nil, fmt.Errorf("funnel %s: %w", m.column, err)
			}
			out[c] += n
		}
		return out, rows.Err()
	}
	err := people.Clone().Modify(func(sel *sql.Selector) {
		t := sql.Table(m.table).As("t")
		sel.Join(t).On(sel.C(user.FieldID), t.C("user_id"))
		col := t.C(m.column)
		sel.Where(sql.And(sql.GTE(col, from), sql.LT(col, to), sql.ExprP(fmt.Sprintf(m.cond, "t"))))
		b := s.dialect.bucket(col, origin, width)
		cols, group := []string{sql.As(b, "b")}, []string{b}
		if m.split {
			cols, group = append(cols, sql.As(t.C("status"), "status")), append(group, t.C("status"))
		}
		sel.Select(append(cols, sql.As("COUNT(*)", "n"))...).GroupBy(group...)
	}).Scan(ctx, &got)
	if err != nil {
		return nil, fmt.Errorf("funnel %s: %w", m.column, err)
	}
	out := map[cell]int{}
	for _, g := range got {
		out[cell{g.B, g.Status}] += g.N
	}
	return out, nil
}
