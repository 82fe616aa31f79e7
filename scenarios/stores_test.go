package scenarios

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/adapters/sqlite"
	"github.com/bookable/lifecycle/application"
)

func init() {
	stores = append(stores, storeFactory{"sqlite", func(t *testing.T) (application.Store, application.Outbox) {
		db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "lifecycle.db"))
		require.NoError(t, err)
		t.Cleanup(func() { _ = db.Close() })
		return db, db
	}})
}
