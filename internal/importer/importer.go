// Package importer brings an organisation's people in from a CSV file and
// takes the roster back out. Importing never emails anyone unless asked to.
package importer

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"entgo.io/ent/dialect"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/ent/role"
	"github.com/rollcall/rollcall/ent/user"
	"github.com/rollcall/rollcall/internal/apperr"
	"github.com/rollcall/rollcall/internal/audit"
	"github.com/rollcall/rollcall/internal/clock"
	"github.com/rollcall/rollcall/internal/db"
	"github.com/rollcall/rollcall/internal/event"
	"github.com/rollcall/rollcall/internal/invite"
	"github.com/rollcall/rollcall/internal/people"
	"github.com/rollcall/rollcall/internal/perm"
	"github.com/rollcall/rollcall/internal/viewer"
)

// MaxReportedErrors bounds the rejected rows an import reports.
const MaxReportedErrors = 10_000

// batch is how many rows go in one statement: well within SQLite's 32,766
// and PostgreSQL's 65,535 bound parameters.
const batch = 1000

// Service imports people.
type Service struct {
	db      *db.DB
	client  *ent.Client
	clock   clock.Clock
	audit   *audit.Log
	invites *invite.Service
	limits  Limits
	events  *event.Log
}

// Option configures a Service.
type Option func(*Service)

// WithEvents records, in each import's transaction, user.created and
// user.updated for every person it creates or changes and import.completed.
// The service needs it.
func WithEvents(log *event.Log) Option { return func(s *Service) { s.events = log } }

// New returns the import service over d.
func New(d *db.DB, clk clock.Clock, log *audit.Log, invites *invite.Service, limits Limits, opts ...Option) *Service {
	s := &Service{db: d, client: d.Client, clock: clk, audit: log, invites: invites, limits: limits}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Input is one import.
type Input struct {
	File            io.Reader
	Filename        string
	DefaultRoleID   *int     // rows without a role take it; default Member
	SendInvitations bool     // invite the new and still NOT_INVITED people afterwards
	DryRun          bool     // validate only
	Encoding        string   // the file's encoding; "" detects UTF-8, Windows-1252 and ISO-8859-1 (LookupEncoding)
	Columns         []Column // which column holds which field, overriding detection for the fields named
	Progress        func(rowsRead int)
}

// Result says what an import did (or, on a dry run, would do).
type Result struct {
	Created, Updated, Unchanged int
	Errors                      []RowError
	Rejected                    int // all rejected rows; Errors holds the first MaxReportedErrors
	Import                      *ent.UserImport
	Invited                     int           // people the bulk send invites
	BulkSend                    *ent.BulkSend // the invitations, with SendInvitations
	Encoding                    string        // what the file was read as
	IgnoredColumns              []string      // columns no field reads, by header name
}

// change is a valid row matched against the stored person, if any.
type change struct {
	row      Row
	existing *ent.User
	role     *ent.Role // nil: keep the stored role
}

// Import reads a CSV of people and creates or updates them in one
// transaction, linking each to the Import record. Bad rows are reported, good
// rows are imported; a file refused as a whole changes nothing. Existing
// people keep their status (ACTIVE people are never downgraded), and
// DEACTIVATED people are reported, not changed. Needs people.manage (and
// people.invite to send invitations) and every permission of each role given.
func (s *Service) Import(ctx context.Context, in Input) (*Result, error) {
	if err := viewer.Require(ctx, perm.PeopleManage); err != nil {
		return nil, err
	}
	if in.SendInvitations {
		if err := viewer.Require(ctx, perm.PeopleInvite); err != nil {
			return nil, err
		}
	}
	if _, _, err := LookupEncoding(in.Encoding); err != nil {
		return nil, invalid(err)
	}
	if err := CheckColumns(in.Columns); err != nil {
		return nil, invalid(err)
	}
	v := viewer.FromContext(ctx)
	org, err := s.client.Organization.Get(ctx, v.OrgID)
	if err != nil {
		return nil, fmt.Errorf("read organisation: %w", err)
	}
	roles, defaultRole, err := s.roles(ctx, in.DefaultRoleID)
	if err != nil {
		return nil, err
	}
	res := &Result{}
	reject := func(e RowError) error {
		res.Rejected++
		if len(res.Errors) < MaxReportedErrors {
			res.Errors = append(res.Errors, e)
		}
		return nil
	}
	var rows []Row
	// Products are checked in match: a person may keep one the organisation
	// has since turned off.
	opts := Options{Limits: s.limits, Encoding: in.Encoding, Columns: in.Columns, Checks: Checks{
		Role: func(name string) bool { return roles[strings.ToLower(name)] != nil },
	}}
	stats, err := ParseWith(in.File, opts, func(r Row) error {
		rows = append(rows, r)
		if in.Progress != nil {
			in.Progress(len(rows) + res.Rejected)
		}
		return nil
	}, reject)
	var fileErr *FileError
	var inputErr *InputError
	if errors.As(err, &fileErr) {
		return nil, apperr.Invalid("file", fileErr.Error())
	} else if errors.As(err, &inputErr) {
		return nil, invalid(err)
	} else if err != nil {
		return nil, fmt.Errorf("read file: %w", err)
	}
	res.Encoding, res.IgnoredColumns = stats.Encoding, stats.IgnoredColumns
	changes, err := s.match(ctx, v, rows, roles, defaultRole, org.Products, reject)
	if err != nil {
		return nil, err
	}
	var creates, updates []change
	for _, c := range changes {
		switch {
		case c.existing == nil:
			creates = append(creates, c)
		case differs(c):
			updates = append(updates, c)
		default:
			res.Unchanged++
		}
	}
	res.Created, res.Updated = len(creates), len(updates)
	slices.SortFunc(res.Errors, func(a, b RowError) int { return a.Line - b.Line })
	if in.DryRun {
		return res, nil
	}
	roleNames := make(map[int]string, len(roles))
	for _, r := range roles {
		roleNames[r.ID] = r.Name
	}
	written, err := s.persist(ctx, v.OrgID, v.Person(), in.Filename, res, roleNames, creates, updates)
	if err != nil {
		return nil, err
	}
	// Read back outside the transaction, so its edges can be loaded later.
	if res.Import, err = s.client.UserImport.Get(ctx, res.Import.ID); err != nil {
		return nil, fmt.Errorf("read import: %w", err)
	}
	if in.SendInvitations {
		all := slices.Clone(written)
		for _, c := range changes {
			if c.existing != nil && !slices.Contains(written, c.existing.ID) {
				all = append(all, c.existing.ID)
			}
		}
		if res.BulkSend, res.Invited, err = s.invites.InviteNotInvited(ctx, all); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// invalid turns an *InputError into BAD_USER_INPUT naming its argument.
func invalid(err error) error {
	var e *InputError
	if errors.As(err, &e) {
		return apperr.Invalid(e.Field, e.Message)
	}
	return err
}

// persist records the import and writes the people, and their events, in one transaction,
// returning the ids written; actorID is the importing person (nil for an
// API key, which the audit log names). PostgreSQL takes the rows with COPY and merges
// them in set-based statements; SQLite, a single writer, takes batches.
func (s *Service) persist(ctx context.Context, orgID int, actorID *int, filename string, res *Result, roleNames map[int]string, creates, updates []change) ([]int, error) {
	var written []int
	record := func(tx *ent.Client, write func(importID int, now time.Time) ([]int, error)) error {
		var ownerKept func() error
		if givesRoles(updates) {
			// The last-Owner rule, held from before the writes to the commit.
			var err error
			if ownerKept, err = people.KeepAnOwner(ctx, tx, orgID); err != nil {
				return err
			}
		}
		now := s.clock.Now()
		imp, err := tx.UserImport.Create().SetOrganizationID(orgID).SetFilename(clip(filename, 500)).
			SetNillableCreatedByID(actorID).SetCreated(res.Created).SetUpdated(res.Updated).SetUnchanged(res.Unchanged).
			SetRejected(res.Rejected).SetFinishedAt(now).SetCreatedAt(now).SetUpdatedAt(now).Save(ctx)
		if err != nil {
			return fmt.Errorf("record import: %w", err)
		}
		if written, err = write(imp.ID, now); err != nil {
			return err
		}
		if ownerKept != nil {
			if err := ownerKept(); err != nil {
				return err
			}
		}
		if n := len(written) - res.Created; n != res.Updated { // people erased while it ran
			res.Updated = n
			if imp, err = imp.Update().SetUpdated(n).Save(ctx); err != nil {
				return fmt.Errorf("record import: %w", err)
			}
		}
		res.Import = imp
		if err := s.events.Record(ctx, tx, orgID, event.Imported(imp)); err != nil {
			return err
		}
		return s.audit.Record(ctx, tx, orgID, audit.Event{Action: "users.imported", TargetType: "Import",
			TargetID: imp.ID, TargetLabel: imp.Filename, Details: map[string]any{
				"created": res.Created, "updated": res.Updated, "unchanged": res.Unchanged, "rejected": res.Rejected,
			}})
	}
	if s.db.Dialect != dialect.Postgres {
		err := db.InTx(ctx, s.client, func(tx *ent.Client) error {
			return record(tx, func(importID int, now time.Time) ([]int, error) {
				return s.write(ctx, tx, orgID, importID, now, roleNames, creates, updates)
			})
		})
		return written, err
	}
	err := inConnTx(ctx, s.db.SQL, func(tx *ent.Client, conn *sql.Conn) error {
		return record(tx, func(importID int, now time.Time) ([]int, error) {
			return s.copyMerge(ctx, conn, orgID, importID, now, roleNames, creates, updates)
		})
	})
	if err == nil {
		// A transaction on a reserved connection: ent cannot announce it.
		s.events.Committed(ctx, orgID)
	}
	return written, err
}

// givesRoles reports whether any of updates gives its person another role.
func givesRoles(updates []change) bool {
	return slices.ContainsFunc(updates, func(c change) bool { return c.role != nil && c.role.ID != c.existing.RoleID })
}

// createdEvent is user.created for the person change c created as id.
func createdEvent(orgID, importID, id int, c change) event.Event {
	r := c.row
	u := &ent.User{ID: id, OrganizationID: orgID, Email: r.Email, Username: r.Username, FirstName: r.FirstName,
		LastName: r.LastName, Locale: r.Locale, Status: user.StatusNotInvited, RoleID: c.role.ID, Products: orEmpty(r.Products)}
	return event.UserEvent(event.UserCreated, u, c.role.Name).With("importId", event.ID(importID))
}

// updatedEvent is user.updated for the person change c changed, naming the
// fields it changed (differs says whether any did).
func updatedEvent(importID int, c change, roleNames map[int]string) event.Event {
	u, r := *c.existing, c.row
	var fields []string
	cell := func(name string, v *string, stored **string) {
		if v != nil && (*stored == nil || **stored != *v) {
			fields = append(fields, name)
			*stored = v
		}
	}
	cell("username", r.Username, &u.Username)
	cell("firstName", r.FirstName, &u.FirstName)
	cell("lastName", r.LastName, &u.LastName)
	cell("locale", r.Locale, &u.Locale)
	if c.role != nil && c.role.ID != u.RoleID {
		fields = append(fields, "role")
		u.RoleID = c.role.ID
	}
	if r.Products != nil && !slices.Equal(r.Products, u.Products) {
		fields = append(fields, "products")
		u.Products = r.Products
	}
	return event.UserEvent(event.UserUpdated, &u, roleNames[u.RoleID]).
		With("fields", fields).With("importId", event.ID(importID))
}

// roles loads the organisation's roles by lower-cased name and the role of
// rows without one.
func (s *Service) roles(ctx context.Context, defaultID *int) (map[string]*ent.Role, *ent.Role, error) {
	all, err := s.client.Role.Query().All(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("read roles: %w", err)
	}
	byName := map[string]*ent.Role{}
	for _, r := range all {
		byName[strings.ToLower(r.Name)] = r
	}
	def := byName[strings.ToLower(perm.Member)]
	if defaultID != nil {
		def, err = s.client.Role.Query().Where(role.ID(*defaultID)).Only(ctx)
		if ent.IsNotFound(err) {
			return nil, nil, &apperr.Error{Code: apperr.NotFound, Message: "role not found", Field: "defaultRoleId"}
		} else if err != nil {
			return nil, nil, err
		}
	}
	if def == nil {
		return nil, nil, apperr.Invalid("defaultRoleId", "choose a default role")
	}
	return byName, def, nil
}

// match pairs rows with stored people and applies the checks that need the
// database: roles the viewer may give, deactivated people, usernames taken,
// products (enabled in the organisation, or already the person's). A row
// that changes nothing passes whatever it holds: a deactivated person, a
// role the viewer could not give but the person has, so that an exported
// file imports back unchanged.
func (s *Service) match(ctx context.Context, v *viewer.Viewer, rows []Row, roles map[string]*ent.Role, def *ent.Role, products []string, reject func(RowError) error) ([]change, error) {
	existing := map[string]*ent.User{}
	usernames := map[string]int{} // taken username -> holder's id
	for start := 0; start < len(rows); start += batch {
		part := rows[start:min(start+batch, len(rows))]
		emails, names := make([]string, 0, len(part)), []string{}
		for _, r := range part {
			emails = append(emails, r.Normalized)
			if r.Username != nil {
				names = append(names, strings.ToLower(*r.Username))
			}
		}
		found, err := s.client.User.Query().Where(user.EmailNormalizedIn(emails...)).All(ctx)
		if err != nil {
			return nil, fmt.Errorf("find people: %w", err)
		}
		for _, u := range found {
			existing[u.EmailNormalized] = u
		}
		if len(names) > 0 {
			holders, err := s.client.User.Query().Where(user.UsernameNormalizedIn(names...)).All(ctx)
			if err != nil {
				return nil, fmt.Errorf("find usernames: %w", err)
			}
			for _, u := range holders {
				usernames[*u.UsernameNormalized] = u.ID
			}
		}
	}
	byID := map[int]*ent.Role{}
	for _, r := range roles {
		byID[r.ID] = r
	}
	inFile := map[string]int{} // username -> line where the file first gives it
	changes := make([]change, 0, len(rows))
	for _, r := range rows {
		c := change{row: r, existing: existing[r.Normalized], role: def}
		if r.Role != nil {
			c.role = roles[strings.ToLower(*r.Role)]
		} else if c.existing != nil {
			c.role = nil
		}
		fail := func(msg string) { _ = reject(RowError{Line: r.Line, Email: r.Email, Message: msg}) }
		if p, ok := unknownProduct(r.Products, products, c.existing); ok {
			fail(fmt.Sprintf("unknown product %q", p))
			continue
		}
		changesRole := c.role != nil && (c.existing == nil || c.role.ID != c.existing.RoleID)
		switch {
		case c.existing != nil && c.existing.Status == user.StatusDeactivated && differs(c):
			fail("this person is deactivated: reactivate them before importing changes")
			continue
		case changesRole && !grantable(v, c.role):
			fail(fmt.Sprintf("you cannot give the role %s: it grants permissions you do not hold", c.role.Name))
			continue
		case c.existing != nil && changesRole && !grantable(v, byID[c.existing.RoleID]):
			fail("you cannot change this person's role: theirs grants permissions you do not hold")
			continue
		}
		if r.Username != nil {
			name := strings.ToLower(*r.Username)
			if holder, ok := usernames[name]; ok && (c.existing == nil || holder != c.existing.ID) {
				fail(fmt.Sprintf("username %s is taken", *r.Username))
				continue
			}
			if line, ok := inFile[name]; ok {
				fail(fmt.Sprintf("username %s is also on line %d", *r.Username, line))
				continue
			}
			inFile[name] = r.Line
		}
		changes = append(changes, c)
	}
	return changes, nil
}

// unknownProduct returns the first of a row's products that is neither
// enabled in the organisation nor already the existing person's.
func unknownProduct(row, enabled []string, existing *ent.User) (string, bool) {
	for _, p := range row {
		if !slices.Contains(enabled, p) && (existing == nil || !slices.Contains(existing.Products, p)) {
			return p, true
		}
	}
	return "", false
}

func grantable(v *viewer.Viewer, r *ent.Role) bool {
	return r != nil && v.CanGrant(r.Permissions)
}

// differs reports whether importing c changes the stored person. Empty
// cells keep the stored value.
func differs(c change) bool {
	u, r := c.existing, c.row
	same := func(cell, stored *string) bool { return cell == nil || (stored != nil && *cell == *stored) }
	return !same(r.FirstName, u.FirstName) || !same(r.LastName, u.LastName) || !same(r.Username, u.Username) ||
		!same(r.Locale, u.Locale) ||
		(c.role != nil && c.role.ID != u.RoleID) || (r.Products != nil && !slices.Equal(r.Products, u.Products))
}

// write creates and updates people in batches, linking them to the import
// and recording their events, and returns their ids.
func (s *Service) write(ctx context.Context, tx *ent.Client, orgID, importID int, now time.Time, roleNames map[int]string, creates, updates []change) ([]int, error) {
	var ids []int
	for start := 0; start < len(creates); start += batch {
		part := creates[start:min(start+batch, len(creates))]
		builders := make([]*ent.UserCreate, len(part))
		for i, c := range part {
			r := c.row
			b := tx.User.Create().SetOrganizationID(orgID).SetRoleID(c.role.ID).
				SetEmail(r.Email).SetEmailNormalized(r.Normalized).
				SetNillableFirstName(r.FirstName).SetNillableLastName(r.LastName).SetNillableLocale(r.Locale).
				SetProducts(orEmpty(r.Products)).AddImportIDs(importID).
				SetCreatedAt(now).SetUpdatedAt(now)
			if r.Username != nil {
				b.SetUsername(*r.Username).SetUsernameNormalized(strings.ToLower(*r.Username))
			}
			builders[i] = b
		}
		created, err := tx.User.CreateBulk(builders...).Save(ctx)
		if err != nil {
			return nil, fmt.Errorf("create people: %w", err)
		}
		events := make([]event.Event, len(created))
		for i, u := range created {
			ids = append(ids, u.ID)
			events[i] = createdEvent(orgID, importID, u.ID, part[i])
		}
		if err := s.events.Record(ctx, tx, orgID, events...); err != nil {
			return nil, err
		}
	}
	for start := 0; start < len(updates); start += batch {
		part := updates[start:min(start+batch, len(updates))]
		builders := make([]*ent.UserCreate, len(part))
		partIDs := make([]int, len(part))
		for i, c := range part {
			u, r := c.existing, c.row
			roleID := u.RoleID
			if c.role != nil {
				roleID = c.role.ID
			}
			products := u.Products
			if r.Products != nil {
				products = r.Products
			}
			b := tx.User.Create().SetOrganizationID(orgID).SetRoleID(roleID).
				SetEmail(u.Email).SetEmailNormalized(u.EmailNormalized).
				SetNillableFirstName(keep(r.FirstName, u.FirstName)).SetNillableLastName(keep(r.LastName, u.LastName)).
				SetNillableLocale(keep(r.Locale, u.Locale)).SetProducts(products).SetCreatedAt(u.CreatedAt).SetUpdatedAt(now)
			if name := keep(r.Username, u.Username); name != nil {
				b.SetUsername(*name).SetUsernameNormalized(strings.ToLower(*name))
			}
			builders[i], partIDs[i] = b, u.ID
		}
		// One statement per batch: the rows exist, so each insert becomes an
		// update of the changeable columns; status and credentials stay.
		err := tx.User.CreateBulk(builders...).
			OnConflictColumns(user.FieldOrganizationID, user.FieldEmailNormalized).
			Update(func(u *ent.UserUpsert) {
				u.UpdateFirstName().UpdateLastName().UpdateUsername().UpdateUsernameNormalized().
					UpdateLocale().UpdateRoleID().UpdateProducts().UpdateUpdatedAt()
			}).Exec(ctx)
		if err != nil {
			return nil, fmt.Errorf("update people: %w", err)
		}
		if err := tx.UserImport.UpdateOneID(importID).AddUserIDs(partIDs...).Exec(ctx); err != nil {
			return nil, fmt.Errorf("link people to the import: %w", err)
		}
		events := make([]event.Event, len(part))
		for i, c := range part {
			events[i] = updatedEvent(importID, c, roleNames)
		}
		if err := s.events.Record(ctx, tx, orgID, events...); err != nil {
			return nil, err
		}
		ids = append(ids, partIDs...)
	}
	return ids, nil
}

// keep returns the cell when given, else the stored value.
func keep(cell, stored *string) *string {
	if cell != nil {
		return cell
	}
	return stored
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}
