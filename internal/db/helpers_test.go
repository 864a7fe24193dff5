package db

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rollcall/rollcall/ent/privacy"
)

func systemContext(ctx context.Context) context.Context {
	return privacy.DecisionContext(ctx, privacy.Allow)
}

// freshDatabase returns an empty, unmigrated database: a new PostgreSQL
// database when ROLLCALL_TEST_DATABASE_URL names a server, else a SQLite file.
// (testkit cannot be used here: it imports this package.)
func freshDatabase(t *testing.T) string {
	base := os.Getenv("ROLLCALL_TEST_DATABASE_URL")
	if !strings.HasPrefix(base, "postgres") {
		return "sqlite:" + t.TempDir() + "/fresh.db"
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	name := fmt.Sprintf("rollcall_db_test_%d", time.Now().UnixNano())
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		admin, err := sql.Open("pgx", base)
		if err == nil {
			defer admin.Close()
			_, _ = admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}
