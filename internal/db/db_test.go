package db

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	"github.com/stretchr/testify/require"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/ent/reminderschedule"
	"github.com/rollcall/rollcall/ent/role"
	"github.com/rollcall/rollcall/ent/schema/enum"
	"github.com/rollcall/rollcall/ent/user"
	"github.com/rollcall/rollcall/internal/perm"
)

func TestParse(t *testing.T) {
	cases := []struct {
		url, driver, dialect, dsnHas string
	}{
		{"sqlite:rollcall.db", "sqlite", dialect.SQLite, "file:rollcall.db?"},
		{"sqlite:/var/lib/rc.db", "sqlite", dialect.SQLite, "journal_mode%28WAL%29"},
		{"sqlite::memory:", "sqlite", dialect.SQLite, "file::memory:?"},
		{"sqlite:file:x.db?cache=shared", "sqlite", dialect.SQLite, "&cache=shared"},
		{"postgres://u:p@h/db", "pgx", dialect.Postgres, "postgres://u:p@h/db"},
		{"postgresql://h/db", "pgx", dialect.Postgres, "postgresql://h/db"},
	}
	for _, c := range cases {
		driver, dsn, dia, err := parse(c.url)
		require.NoError(t, err, c.url)
		require.Equal(t, c.driver, driver)
		require.Equal(t, c.dialect, dia)
		require.Contains(t, dsn, c.dsnHas)
		if driver == "sqlite" {
			require.Contains(t, dsn, "foreign_keys%281%29")
			require.Contains(t, dsn, "_txlock=immediate")
		}
	}
	for _, bad := range []string{"", "mysql://x", "sqlite:", "rollcall.db"} {
		_, _, _, err := parse(bad)
		require.Error(t, err, bad)
	}
	_, _, _, err := parse("mysql://root:hunter2@h/db")
	require.NotContains(t, err.Error(), "hunter2", "passwords never appear in errors")
}

func TestRedact(t *testing.T) {
	require.Equal(t, "postgres://u:xxxxx@h/db", Redact("postgres://u:secret@h/db"))
	require.Equal(t, "sqlite:rollcall.db", Redact("sqlite:rollcall.db"))
}

func TestMemoryDatabaseKeepsOneConnection(t *testing.T) {
	ctx := context.Background()
	d, err := Open(ctx, "sqlite::memory:")
	require.NoError(t, err)
	defer d.Close()
	require.NoError(t, d.Migrate(ctx, slog.New(slog.DiscardHandler)))
	n, err := d.Client.Organization.Query().Count(systemContext(ctx))
	require.NoError(t, err, "the migrated tables are visible: one shared connection")
	require.Zero(t, n)
}

func TestSQLiteForeignKeysAreOn(t *testing.T) {
	ctx := context.Background()
	d, err := Open(ctx, "sqlite:"+t.TempDir()+"/fk.db")
	require.NoError(t, err)
	defer d.Close()
	var on int
	require.NoError(t, d.SQL.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&on))
	require.Equal(t, 1, on)
	var mode string
	require.NoError(t, d.SQL.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode))
	require.Equal(t, "wal", strings.ToLower(mode))
}

// TestConcurrentMigrations starts several replicas migrating one empty
// PostgreSQL database at once; all succeed and the schema is whole. (Replicas
// need PostgreSQL; SQLite is the single-instance embedded default.)
func TestConcurrentMigrations(t *testing.T) {
	url := freshDatabase(t)
	if !strings.HasPrefix(url, "postgres") {
		t.Skip("replicas run on PostgreSQL; set ROLLCALL_TEST_DATABASE_URL")
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			d, err := Open(ctx, url)
			if err != nil {
				errs <- err
				return
			}
			defer d.Close()
			errs <- d.Migrate(ctx, slog.New(slog.DiscardHandler))
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	d, err := Open(ctx, url)
	require.NoError(t, err)
	defer d.Close()
	require.NoError(t, d.Migrate(ctx, slog.New(slog.DiscardHandler)), "migrating again is a no-op")
	_, err = d.Client.User.Query().Count(systemContext(ctx))
	require.NoError(t, err)
}

// TestMigrateUpgradesEarlierSchemas brings back what earlier versions
// created (a retired index; on PostgreSQL also per-column trigram indexes and
// foreign keys the services now keep, a search index over another
// expression) and checks that migrating removes them, leaving one search index.
func TestMigrateUpgradesEarlierSchemas(t *testing.T) {
	ctx := context.Background()
	d, err := Open(ctx, freshDatabase(t))
	require.NoError(t, err)
	defer d.Close()
	log := slog.New(slog.DiscardHandler)
	require.NoError(t, d.Migrate(ctx, log))

	old := []string{`CREATE INDEX user_organization_id_status_invite_expires_at ON users (organization_id, status, invite_expires_at)`,
		`CREATE INDEX delivery_bulk_send_id_status ON deliveries (bulk_send_id, status)`}
	if d.Dialect == dialect.Postgres {
		old = append(old,
			`CREATE INDEX users_first_name_trgm ON users USING gin (first_name gin_trgm_ops)`,
			`CREATE INDEX users_search_trgm ON users USING gin (email_normalized gin_trgm_ops)`, // an earlier expression
			`ALTER TABLE users ADD CONSTRAINT users_organizations_organization FOREIGN KEY (organization_id) REFERENCES organizations(id)`,
			`ALTER TABLE user_import ADD CONSTRAINT user_import_user_id FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE`,
			`ALTER TABLE deliveries ADD CONSTRAINT deliveries_organizations_organization FOREIGN KEY (organization_id) REFERENCES organizations(id)`)
	}
	for _, stmt := range old {
		_, err := d.SQL.ExecContext(ctx, stmt)
		require.NoError(t, err, stmt)
	}
	require.NoError(t, d.Migrate(ctx, log))

	var indexes, keys int
	if d.Dialect == dialect.Postgres {
		require.NoError(t, d.SQL.QueryRowContext(ctx, `SELECT count(*) FROM pg_indexes
			WHERE indexname IN ('user_organization_id_status_invite_expires_at', 'users_first_name_trgm', 'delivery_bulk_send_id_status')`).Scan(&indexes))
		require.NoError(t, d.SQL.QueryRowContext(ctx, `SELECT count(*) FROM pg_constraint WHERE conname = ANY($1)`,
			serviceKeptKeys).Scan(&keys))
		var search []string
		rows, err := d.SQL.QueryContext(ctx, `SELECT indexdef FROM pg_indexes WHERE indexname LIKE 'users\_search\_trgm%'`)
		require.NoError(t, err)
		for rows.Next() {
			var def string
			require.NoError(t, rows.Scan(&def))
			search = append(search, def)
		}
		require.NoError(t, rows.Err())
		require.Len(t, search, 1, "one search index, over the current expression")
		require.Contains(t, search[0], "first_name")
	} else {
		require.NoError(t, d.SQL.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master
			WHERE type = 'index' AND name IN ('user_organization_id_status_invite_expires_at', 'delivery_bulk_send_id_status')`).Scan(&indexes))
	}
	require.Zero(t, indexes, "retired indexes are dropped")
	require.Zero(t, keys, "foreign keys the services keep are dropped")
}

// TestMigrateCountsEarlierReports: a send whose deliveries were reported
// on before the report counters existed gets them counted on migrate; a
// send already counted is left alone.
func TestMigrateCountsEarlierReports(t *testing.T) {
	ctx := context.Background()
	d, err := Open(ctx, freshDatabase(t))
	require.NoError(t, err)
	defer d.Close()
	log := slog.New(slog.DiscardHandler)
	require.NoError(t, d.Migrate(ctx, log))
	sys := systemContext(ctx)
	c := d.Client
	o := c.Organization.Create().SetSlug("o").SetName("o").SaveX(sys)
	r := c.Role.Create().SetOrganizationID(o.ID).SetName("r").SaveX(sys)
	u := c.User.Create().SetOrganizationID(o.ID).SetRoleID(r.ID).SetEmail("a@example.com").SetEmailNormalized("a@example.com").SaveX(sys)
	earlier := c.BulkSend.Create().SetOrganizationID(o.ID).SetCreatedByID(u.ID).SetKind("INVITATION").SetTotal(4).SetSent(4).SaveX(sys)
	counted := c.BulkSend.Create().SetOrganizationID(o.ID).SetCreatedByID(u.ID).SetKind("INVITATION").SetTotal(1).SetSent(1).SetBounced(1).SaveX(sys)
	for _, st := range []enum.DeliveryStatus{enum.DeliveryDelivered, enum.DeliveryBounced, enum.DeliveryBounced, enum.DeliverySent} {
		c.Delivery.Create().SetOrganizationID(o.ID).SetBulkSendID(earlier.ID).SetUserID(u.ID).SetEmail(u.Email).
			SetAction("INVITATION").SetStatus(st).ExecX(sys)
	}
	c.Delivery.Create().SetOrganizationID(o.ID).SetBulkSendID(counted.ID).SetUserID(u.ID).SetEmail(u.Email).
		SetAction("INVITATION").SetStatus(enum.DeliveryBounced).ExecX(sys)
	require.NoError(t, d.Migrate(ctx, log))
	earlier = c.BulkSend.GetX(sys, earlier.ID)
	require.Equal(t, [3]int{1, 2, 0}, [3]int{earlier.Delivered, earlier.Bounced, earlier.Complained})
	counted = c.BulkSend.GetX(sys, counted.ID)
	require.Equal(t, [3]int{0, 1, 0}, [3]int{counted.Delivered, counted.Bounced, counted.Complained})
}

// TestMigrateCompletesOwnerRoles: an Owner role written before a permission
// existed (scim.provision) gets every permission on migrate; other roles,
// built-in or not, keep theirs.
func TestMigrateCompletesOwnerRoles(t *testing.T) {
	ctx := context.Background()
	d, err := Open(ctx, freshDatabase(t))
	require.NoError(t, err)
	defer d.Close()
	log := slog.New(slog.DiscardHandler)
	require.NoError(t, d.Migrate(ctx, log))
	sys := systemContext(ctx)
	c := d.Client
	before := []string{perm.PeopleRead, perm.PeopleInvite, perm.PeopleManage, perm.CredentialsManage, perm.TemplatesManage, perm.OrganizationManage}
	var owners []int
	for _, slug := range []string{"a", "b"} {
		o := c.Organization.Create().SetSlug(slug).SetName(slug).SaveX(sys)
		owners = append(owners, c.Role.Create().SetOrganizationID(o.ID).SetName(perm.Owner).SetBuiltin(true).SetPermissions(before).SaveX(sys).ID)
		c.Role.Create().SetOrganizationID(o.ID).SetName(perm.HR).SetBuiltin(true).SetPermissions([]string{perm.PeopleRead}).ExecX(sys)
	}
	o := c.Organization.Create().SetSlug("c").SetName("c").SaveX(sys)
	custom := c.Role.Create().SetOrganizationID(o.ID).SetName(perm.Owner).SetPermissions(before).SaveX(sys) // not built-in
	require.NoError(t, d.Migrate(ctx, log))
	for _, id := range owners {
		require.ElementsMatch(t, perm.All(), c.Role.GetX(sys, id).Permissions)
		require.Contains(t, c.Role.GetX(sys, id).Permissions, perm.ScimProvision)
	}
	require.Equal(t, before, c.Role.GetX(sys, custom.ID).Permissions)
	hr := c.Role.Query().Where(role.Name(perm.HR)).AllX(sys)
	require.Len(t, hr, 2)
	for _, r := range hr {
		require.Equal(t, []string{perm.PeopleRead}, r.Permissions)
	}
	require.NoError(t, d.Migrate(ctx, log), "migrating again changes nothing")
}

// TestMigrateAddsColumnsToTablesWithRows: a column added by a later
// version to a table that already has rows gets its default in every row.
// (The reminder policy's JSON column once had no default in the DDL, and
// upgrading a database with organisations failed on its NOT NULL.)
func TestMigrateAddsColumnsToTablesWithRows(t *testing.T) {
	ctx := context.Background()
	d, err := Open(ctx, freshDatabase(t))
	require.NoError(t, err)
	defer d.Close()
	log := slog.New(slog.DiscardHandler)
	require.NoError(t, d.Migrate(ctx, log))
	sys := systemContext(ctx)
	o := d.Client.Organization.Create().SetSlug("a").SetName("a").SaveX(sys)
	for _, column := range []string{"reminder_after_hours", "reminders_enabled", "scim_invite_on_provision"} {
		_, err = d.SQL.ExecContext(ctx, `ALTER TABLE organizations DROP COLUMN `+column)
		require.NoError(t, err, column)
	}
	require.NoError(t, d.Migrate(ctx, log))
	got := d.Client.Organization.GetX(sys, o.ID)
	require.Empty(t, got.ReminderAfterHours)
	require.False(t, got.RemindersEnabled)
	require.False(t, got.ScimInviteOnProvision)
}

// TestMigrateKeepsOneTemplatePerKind: before templates had a locale, an
// organisation-wide template (role NULL) could be saved twice past the
// unique index on (organisation, kind, role). Migrating keeps the one saved
// last, retires that index for the partial ones, and from then on a second
// organisation-wide template of a kind is refused.
func TestMigrateKeepsOneTemplatePerKind(t *testing.T) {
	ctx := context.Background()
	d, err := Open(ctx, freshDatabase(t))
	require.NoError(t, err)
	defer d.Close()
	log := slog.New(slog.DiscardHandler)
	require.NoError(t, d.Migrate(ctx, log))

	// Back to the earlier schema: no locale, one unique index.
	for _, stmt := range []string{
		`DROP INDEX email_templates_role_locale`, `DROP INDEX email_templates_role_any_locale`,
		`DROP INDEX email_templates_any_role_locale`, `DROP INDEX email_templates_any_role_any_locale`,
		`ALTER TABLE email_templates DROP COLUMN locale`,
		`CREATE UNIQUE INDEX emailtemplate_organization_id_kind_role_id ON email_templates (organization_id, kind, role_id)`,
	} {
		_, err := d.SQL.ExecContext(ctx, stmt)
		require.NoError(t, err, stmt)
	}
	sys := systemContext(ctx)
	o := d.Client.Organization.Create().SetSlug("o").SetName("o").SaveX(sys)
	r := d.Client.Role.Create().SetOrganizationID(o.ID).SetName("r").SaveX(sys)
	insert := func(role any, subject string, updated time.Time) {
		t.Helper()
		q := `INSERT INTO email_templates (organization_id, kind, role_id, subject, html, text, created_at, updated_at) VALUES (?, ?, ?, ?, 'h', 't', ?, ?)`
		if d.Dialect == dialect.Postgres {
			q = `INSERT INTO email_templates (organization_id, kind, role_id, subject, html, text, created_at, updated_at) VALUES ($1, $2, $3, $4, 'h', 't', $5, $6)`
		}
		_, err := d.SQL.ExecContext(ctx, q, o.ID, "INVITATION", role, subject, updated, updated)
		require.NoError(t, err)
	}
	day := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	insert(nil, "saved last", day.Add(time.Hour))
	insert(nil, "saved first", day)
	insert(nil, "saved first too", day)
	insert(r.ID, "the role's", day)

	require.NoError(t, d.Migrate(ctx, log))
	templates := d.Client.EmailTemplate.Query().AllX(sys)
	var subjects []string
	for _, tpl := range templates {
		subjects = append(subjects, tpl.Subject)
		require.Nil(t, tpl.Locale, "every language, as before")
	}
	require.ElementsMatch(t, []string{"saved last", "the role's"}, subjects)

	var old int
	q := `SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'emailtemplate_organization_id_kind_role_id'`
	if d.Dialect == dialect.Postgres {
		q = `SELECT count(*) FROM pg_indexes WHERE indexname = 'emailtemplate_organization_id_kind_role_id'`
	}
	require.NoError(t, d.SQL.QueryRowContext(ctx, q).Scan(&old))
	require.Zero(t, old, "the old index is retired")

	// The partial indexes hold: a second template for a combination that
	// has one is refused, whether role and locale are set or not.
	de := "de"
	add := func(role *int, loc *string) error {
		return d.Client.EmailTemplate.Create().SetOrganizationID(o.ID).SetKind("INVITATION").SetNillableRoleID(role).
			SetNillableLocale(loc).SetSubject("s").SetHTML("h").SetText("t").Exec(sys)
	}
	require.NoError(t, add(nil, &de))
	require.NoError(t, add(&r.ID, &de))
	for _, c := range []struct {
		role *int
		loc  *string
	}{{nil, nil}, {&r.ID, nil}, {nil, &de}, {&r.ID, &de}} {
		err := add(c.role, c.loc)
		require.Error(t, err)
		require.True(t, ent.IsConstraintError(err), err)
	}
	require.NoError(t, d.Migrate(ctx, log), "migrating again keeps them all")
	require.Equal(t, 4, d.Client.EmailTemplate.Query().CountX(sys))
}

// TestMigrateMovesReminderSchedules: the version before kept each person's
// reminder rounds in users.reminder_round and round_anchor_at. Migrating
// a database of that version gives the people still INVITED a schedule
// that goes on from there (one who never had an anchor counts from the
// invitation), and nobody else one; migrating again changes nothing.
func TestMigrateMovesReminderSchedules(t *testing.T) {
	ctx := context.Background()
	d, err := Open(ctx, freshDatabase(t))
	require.NoError(t, err)
	defer d.Close()
	log := slog.New(slog.DiscardHandler)
	require.NoError(t, d.Migrate(ctx, log))
	sys := systemContext(ctx)
	o := d.Client.Organization.Create().SetSlug("o").SetName("o").SaveX(sys)
	r := d.Client.Role.Create().SetOrganizationID(o.ID).SetName("r").SaveX(sys)
	invited := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	person := func(email string, status user.Status) *ent.User {
		c := d.Client.User.Create().SetOrganizationID(o.ID).SetRoleID(r.ID).SetEmail(email).SetEmailNormalized(email).SetStatus(status)
		if status != user.StatusNotInvited {
			c.SetInvitedAt(invited)
		}
		return c.SaveX(sys)
	}
	second := person("second@example.com", user.StatusInvited)
	unanchored := person("unanchored@example.com", user.StatusInvited)
	active := person("active@example.com", user.StatusActive)
	person("new@example.com", user.StatusNotInvited)

	// Back to that version: the columns, and no schedules.
	rebind := func(q string) string {
		if d.Dialect == dialect.Postgres {
			return q
		}
		return strings.ReplaceAll(q, "$", "?")
	}
	anchored := invited.Add(80 * time.Hour)
	for _, stmt := range []struct {
		q    string
		args []any
	}{
		{`DELETE FROM reminder_schedules`, nil},
		{`ALTER TABLE users ADD COLUMN reminder_round bigint NOT NULL DEFAULT 0`, nil},
		{`ALTER TABLE users ADD COLUMN round_anchor_at timestamp with time zone NULL`, nil},
		{`UPDATE users SET reminder_round = 1, round_anchor_at = $1 WHERE id IN ($2, $3)`, []any{anchored, second.ID, active.ID}},
	} {
		q := stmt.q
		if d.Dialect != dialect.Postgres {
			q = strings.NewReplacer("bigint", "integer", "timestamp with time zone", "datetime").Replace(q)
		}
		_, err := d.SQL.ExecContext(ctx, rebind(q), stmt.args...)
		require.NoError(t, err, q)
	}

	require.NoError(t, d.Migrate(ctx, log))
	schedules := d.Client.ReminderSchedule.Query().Order(ent.Asc(reminderschedule.FieldID)).AllX(sys)
	require.Len(t, schedules, 2, "the INVITED only")
	require.Equal(t, second.ID, schedules[0].ID)
	require.Equal(t, 1, schedules[0].Round)
	require.True(t, anchored.Equal(schedules[0].AnchorAt), schedules[0].AnchorAt)
	require.Equal(t, unanchored.ID, schedules[1].ID)
	require.Equal(t, 0, schedules[1].Round)
	require.True(t, invited.Equal(schedules[1].AnchorAt), schedules[1].AnchorAt)

	d.Client.ReminderSchedule.UpdateOneID(second.ID).SetRound(2).ExecX(sys)
	require.NoError(t, d.Migrate(ctx, log))
	require.Equal(t, 2, d.Client.ReminderSchedule.GetX(sys, second.ID).Round, "migrating again changes nothing")
}
