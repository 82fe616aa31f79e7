package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/adapters/sqlite"
	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/application/outboxtest"
	"github.com/bookable/lifecycle/application/ratetest"
	"github.com/bookable/lifecycle/application/relay"
	"github.com/bookable/lifecycle/application/storetest"
)

// open opens a fresh database file in a temp dir, closed at the end of t.
func open(t testing.TB, opts ...sqlite.Option) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "lifecycle.db"), opts...)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	return db
}

func TestStoreContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Harness {
		db := open(t)
		return storetest.Harness{Store: db, Outbox: db}
	})
}

// TestStoreContractStaged runs the contract with every Update staged on
// its caller's goroutine (one caller at a time would otherwise run in the
// idle writer).
func TestStoreContractStaged(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Harness {
		db := open(t)
		sqlite.StageAlways(db)
		return storetest.Harness{Store: db, Outbox: db}
	})
}

func TestOutboxContract(t *testing.T) {
	outboxtest.Run(t, outboxtest.Features{SingleRelay: true}, func(t *testing.T) (application.Store, application.Outbox) {
		db := open(t)
		return db, db
	})
}

func TestOutboxContractStaged(t *testing.T) {
	outboxtest.Run(t, outboxtest.Features{SingleRelay: true}, func(t *testing.T) (application.Store, application.Outbox) {
		db := open(t)
		sqlite.StageAlways(db)
		return db, db
	})
}

// TestRateStoreContract runs the suite on two handles of one file, as two
// processes on one database have.
func TestRateStoreContract(t *testing.T) {
	ratetest.Run(t, func(t *testing.T) (relay.RateStore, relay.RateStore) {
		return twoHandles(t)
	})
}
