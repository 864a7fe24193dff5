package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/schollz/progressbar/v3"
)

// prepareDatabase creates the database of dbURL if it is missing, dropping
// it first when fresh, and returns the server's version. It works through
// the same server's "postgres" (or else "test") database.
func prepareDatabase(ctx context.Context, dbURL string, fresh bool) (version string, err error) {
	name, admin, err := adminConn(ctx, dbURL)
	if err != nil {
		return "", err
	}
	defer admin.Close(context.WithoutCancel(ctx))
	if fresh {
		if !strings.Contains(name, "bench") {
			return "", fmt.Errorf("refusing to drop database %q: --fresh drops only databases whose name contains \"bench\"", name)
		}
		if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			return "", fmt.Errorf("drop database %s: %w", name, err)
		}
	}
	var exists bool
	if err := admin.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return "", fmt.Errorf("look for database %s: %w", name, err)
	}
	if !exists {
		if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
			return "", fmt.Errorf("create database %s: %w", name, err)
		}
	}
	err = admin.QueryRow(ctx, `SHOW server_version`).Scan(&version)
	return version, err
}

// dropDatabase drops the database of dbURL.
func dropDatabase(ctx context.Context, dbURL string) error {
	name, admin, err := adminConn(ctx, dbURL)
	if err != nil {
		return err
	}
	defer admin.Close(ctx)
	_, err = admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	return err
}

// adminConn connects to the server of dbURL through a database other than
// its own, and returns its own database's name.
func adminConn(ctx context.Context, dbURL string) (string, *pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(dbURL)
	if err != nil {
		return "", nil, fmt.Errorf("database URL: %w", err)
	}
	name := cfg.Database
	if name == "" || name == "postgres" || name == "test" {
		return "", nil, fmt.Errorf("database URL names %q: name a database of its own", name)
	}
	var errs []error
	for _, db := range []string{"postgres", "test"} {
		c := cfg.Copy()
		c.Database = db
		conn, err := pgx.ConnectConfig(ctx, c)
		if err == nil {
			return name, conn, nil
		}
		errs = append(errs, err)
	}
	return "", nil, fmt.Errorf("connect to the database server: %w", errors.Join(errs...))
}

// seed makes organisation org have n NOT_INVITED people with the Member
// role, copying in those missing, and returns how many it added. It runs
// after the server has migrated the database and created org.
func seed(ctx context.Context, dbURL, org string, n int) (int, error) {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return 0, fmt.Errorf("seed: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var orgID, roleID, have int
	err = conn.QueryRow(ctx, `SELECT o.id, r.id FROM organizations o
		JOIN roles r ON r.organization_id = o.id AND r.name = 'Member' WHERE o.slug = $1`, org).Scan(&orgID, &roleID)
	if err != nil {
		return 0, fmt.Errorf("seed: find organisation %q and its Member role: %w", org, err)
	}
	err = conn.QueryRow(ctx, `SELECT count(*) FROM users WHERE organization_id = $1 AND status = 'NOT_INVITED'`, orgID).Scan(&have)
	if err != nil {
		return 0, fmt.Errorf("seed: count people: %w", err)
	}
	need := n - have
	if need <= 0 {
		return 0, nil
	}
	bar := progressbar.NewOptions(need, progressbar.OptionSetWriter(os.Stderr), progressbar.OptionSetDescription("seeding"),
		progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString("people"),
		progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish())
	run := strconv.FormatInt(time.Now().Unix(), 36) // addresses unique across runs on a kept database
	now := time.Now().UTC()
	i := 0
	rows := pgx.CopyFromFunc(func() ([]any, error) {
		if i == need {
			return nil, nil
		}
		i++
		_ = bar.Add(1)
		email := fmt.Sprintf("person%07d.%s@bench.test", i, run)
		return []any{orgID, roleID, email, email, "Person", strconv.Itoa(i), "NOT_INVITED", "[]", false, 0, now, now}, nil
	})
	cols := []string{"organization_id", "role_id", "email", "email_normalized", "first_name", "last_name", "status",
		"products", "must_change_password", "invitation_count", "created_at", "updated_at"}
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"users"}, cols, rows); err != nil {
		return 0, fmt.Errorf("seed: copy people: %w", err)
	}
	_ = bar.Finish()
	if _, err := conn.Exec(ctx, `ANALYZE users`); err != nil {
		return 0, fmt.Errorf("seed: analyze: %w", err)
	}
	return need, nil
}
