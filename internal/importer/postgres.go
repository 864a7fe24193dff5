package importer

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/internal/event"
)

// inConnTx runs fn in a transaction on one reserved PostgreSQL connection,
// with an ent client bound to that transaction, so what fn does through the
// client and a COPY on the connection (copyMerge) commit or roll back together.
func inConnTx(ctx context.Context, pool *sql.DB, fn func(tx *ent.Client, conn *sql.Conn) error) error {
	conn, err := pool.Conn(ctx)
	if err != nil {
		return fmt.Errorf("reserve a connection: %w", err)
	}
	defer conn.Close()
	sqlTx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	client := ent.NewClient(ent.Driver(entsql.NewDriver(dialect.Postgres, entsql.Conn{ExecQuerier: sqlTx})))
	if err := fn(client, conn); err != nil {
		_ = sqlTx.Rollback()
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// copyMerge writes an import on PostgreSQL in set-based statements: the rows
// go into a temporary staging table with COPY, then one INSERT creates the
// new people and one UPDATE changes the others, each linking them to the
// import, and a second COPY writes their events. It must run inside a
// transaction open on conn. Tenancy is explicit here: every statement names
// the organisation.
func (s *Service) copyMerge(ctx context.Context, conn *sql.Conn, orgID, importID int, now time.Time, roleNames map[int]string, creates, updates []change) ([]int, error) {
	var ids []int
	err := conn.Raw(func(driverConn any) error {
		pc, ok := driverConn.(*stdlib.Conn)
		if !ok {
			return errors.New("not a pgx connection")
		}
		c := pc.Conn()
		if _, err := c.Exec(ctx, `CREATE TEMP TABLE rollcall_import (
			existing_id bigint, email text, email_normalized text, first_name text, last_name text,
			username text, username_normalized text, role_id bigint, products jsonb, locale text) ON COMMIT DROP`); err != nil {
			return fmt.Errorf("create staging table: %w", err)
		}
		all := append(append([]change{}, creates...), updates...)
		_, err := c.CopyFrom(ctx, pgx.Identifier{"rollcall_import"},
			[]string{"existing_id", "email", "email_normalized", "first_name", "last_name", "username", "username_normalized", "role_id", "products", "locale"},
			pgx.CopyFromSlice(len(all), func(i int) ([]any, error) { return stagingRow(all[i]) }))
		if err != nil {
			return fmt.Errorf("copy rows: %w", err)
		}
		rows, err := c.Query(ctx, `WITH created AS (
			INSERT INTO users (organization_id, role_id, email, email_normalized, first_name, last_name,
				username, username_normalized, products, locale, status, must_change_password, invitation_count, created_at, updated_at)
			SELECT $1, role_id, email, email_normalized, first_name, last_name,
				username, username_normalized, products, locale, 'NOT_INVITED', false, 0, $2, $2
			FROM rollcall_import WHERE existing_id IS NULL
			RETURNING id, email_normalized),
			linked AS (INSERT INTO user_import (user_id, user_import_id) SELECT id, $3 FROM created)
			SELECT id, email_normalized FROM created`,
			orgID, now, importID)
		if err != nil {
			return fmt.Errorf("create people: %w", err)
		}
		createdIDs := make(map[string]int, len(creates)) // by normalised address
		var id int
		var normalized string
		_, err = pgx.ForEachRow(rows, []any{&id, &normalized}, func() error {
			createdIDs[normalized] = id
			ids = append(ids, id)
			return nil
		})
		if err != nil {
			return fmt.Errorf("create people: %w", err)
		}
		// Links, and ids, only for rows the update found: a person erased
		// meanwhile gets none (links have no foreign key; db.serviceKeptKeys).
		rows, err = c.Query(ctx, `WITH updated AS (
				UPDATE users u SET first_name = r.first_name, last_name = r.last_name,
					username = r.username, username_normalized = r.username_normalized,
					role_id = r.role_id, products = r.products, locale = r.locale, updated_at = $2
				FROM rollcall_import r WHERE r.existing_id = u.id AND u.organization_id = $1
				RETURNING u.id)
			INSERT INTO user_import (user_id, user_import_id) SELECT id, $3 FROM updated RETURNING user_id`, orgID, now, importID)
		if err != nil {
			return fmt.Errorf("update people: %w", err)
		}
		updated, err := pgx.CollectRows(rows, pgx.RowTo[int])
		if err != nil {
			return fmt.Errorf("update people: %w", err)
		}
		ids = append(ids, updated...)
		found := make(map[int]bool, len(updated))
		for _, id := range updated {
			found[id] = true
		}
		// The events, built one at a time as COPY takes them.
		i, j := 0, 0
		_, err = s.events.CopyFrom(ctx, c, func() (event.Event, bool) {
			for ; i < len(creates); i++ {
				if id, ok := createdIDs[creates[i].row.Normalized]; ok {
					i++
					return createdEvent(orgID, importID, id, creates[i-1]), true
				}
			}
			for ; j < len(updates); j++ {
				if found[updates[j].existing.ID] {
					j++
					return updatedEvent(importID, updates[j-1], roleNames), true
				}
			}
			return event.Event{}, false
		})
		return err
	})
	return ids, err
}

// stagingRow is the final state of one person: the row's cells, or the
// stored values where the cells are empty.
func stagingRow(c change) ([]any, error) {
	r := c.row
	var existing any
	email, normalized := r.Email, r.Normalized
	first, last, username, loc := r.FirstName, r.LastName, r.Username, r.Locale
	products := r.Products
	roleID := 0
	if c.role != nil {
		roleID = c.role.ID
	}
	if u := c.existing; u != nil {
		existing = u.ID
		email, normalized = u.Email, u.EmailNormalized
		first, last, username = keep(first, u.FirstName), keep(last, u.LastName), keep(username, u.Username)
		loc = keep(loc, u.Locale)
		if products == nil {
			products = u.Products
		}
		if c.role == nil {
			roleID = u.RoleID
		}
	}
	var usernameNormalized *string
	if username != nil {
		n := strings.ToLower(*username)
		usernameNormalized = &n
	}
	productsJSON, err := json.Marshal(orEmpty(products))
	if err != nil {
		return nil, err
	}
	return []any{existing, email, normalized, first, last, username, usernameNormalized, roleID, json.RawMessage(productsJSON), loc}, nil
}
