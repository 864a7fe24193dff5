// Package replicas holds end-to-end tests of Rollcall running as several
// server processes over one PostgreSQL database: bulk sends shared between
// replicas, a replica killed mid-send whose work another takes over, and a
// lone replica restarted after a crash. It has no code of its own; the tests
// build cmd/rollcall and run it with os/exec. They skip unless
// ROLLCALL_TEST_DATABASE_URL names a PostgreSQL server.
package replicas
