package scenarios

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/adapters/memory"
	"github.com/bookable/lifecycle/adapters/postgres/pgtest"
	"github.com/bookable/lifecycle/adapters/sqlite"
	"github.com/bookable/lifecycle/application"
)

// storeFactory opens a fresh, empty store adapter for one scenario.
type storeFactory struct {
	name string
	open func(t *testing.T) (application.Store, application.Outbox)
}

// stores lists every store adapter the scenarios run against, here and
// nowhere else: a new adapter is one more line, not a registration from
// its own file. PostgreSQL is in the list when its test database is set
// (pgtest.EnvDSN; .ci/run sets it).
var stores = append([]storeFactory{
	{"memory", openMemory},
	{"sqlite", openSQLite},
}, postgresWhenSet()...)

func postgresWhenSet() []storeFactory {
	if os.Getenv(pgtest.EnvDSN) == "" {
		return nil
	}
	return []storeFactory{{"postgres", openPostgres}}
}

func openPostgres(t *testing.T) (application.Store, application.Outbox) {
	s := pgtest.Open(t)
	return s, s
}

func openMemory(t *testing.T) (application.Store, application.Outbox) {
	s := memory.New()
	return s, s
}

func openSQLite(t *testing.T) (application.Store, application.Outbox) {
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "lifecycle.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db, db
}
