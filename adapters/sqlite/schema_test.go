package sqlite_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/adapters/sqlite"
	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/application/outbox"
	"github.com/bookable/lifecycle/application/storetest"
)

func TestNewFilesAreOwnerOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new.db")
	db, err := sqlite.Open(context.Background(), path)
	require.NoError(t, err)
	a := storetest.NewAppointment(t, storetest.SiteA, 1)
	require.NoError(t, db.Update(context.Background(), func(ctx context.Context, tx application.Tx) error {
		return tx.SaveAppointment(ctx, a)
	}))
	for _, name := range []string{path, path + "-wal", path + "-shm"} {
		info, err := os.Stat(name)
		require.NoError(t, err, name)
		assert.Equal(t, os.FileMode(0o600), info.Mode().Perm(), name)
	}
	require.NoError(t, db.Close())
}

func TestWithExistingRefusesMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "typo.db")
	for _, opt := range []sqlite.Option{sqlite.WithExisting(), sqlite.WithReadOnly()} {
		_, err := sqlite.Open(context.Background(), path, opt)
		require.ErrorIs(t, err, fs.ErrNotExist)
		assert.Contains(t, err.Error(), path)
		_, statErr := os.Stat(path)
		assert.ErrorIs(t, statErr, fs.ErrNotExist, "nothing was created")
	}
}

func TestMigrationsReported(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "m.db")
	db, err := sqlite.Open(ctx, path)
	require.NoError(t, err)
	first := db.Migrated()
	require.NotEmpty(t, first)
	assert.Equal(t, 1, first[0].Version)
	st, err := db.Schema(ctx)
	require.NoError(t, err)
	assert.Empty(t, st.Pending)
	assert.Equal(t, first[len(first)-1].Version, st.Version())
	assert.Len(t, st.Applied, len(first))
	require.NoError(t, db.Ping(ctx))
	require.NoError(t, db.Close())
	assert.ErrorIs(t, db.Ping(ctx), sqlite.ErrClosed)

	db, err = sqlite.Open(ctx, path)
	require.NoError(t, err)
	assert.Empty(t, db.Migrated(), "an up-to-date file needs nothing")
	require.NoError(t, db.Close())
}

// rawExec runs SQL on the file behind lifecycle's back.
func rawExec(t *testing.T, path, query string) {
	t.Helper()
	raw, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	_, err = raw.Exec(query)
	require.NoError(t, err)
	require.NoError(t, raw.Close())
}

func TestNewerSchemaIsRefused(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "future.db")
	db, err := sqlite.Open(ctx, path)
	require.NoError(t, err)
	require.NoError(t, db.Close())
	rawExec(t, path, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, '9999_future.sql', 0)`)

	for _, opts := range [][]sqlite.Option{nil, {sqlite.WithReadOnly()}} {
		_, err := sqlite.Open(ctx, path, opts...)
		require.ErrorIs(t, err, sqlite.ErrSchemaTooNew)
		assert.Contains(t, err.Error(), "9999")
		assert.Contains(t, err.Error(), path)
	}
}

func TestReadOnlyRefusesOutdatedSchema(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := sqlite.Open(ctx, path)
	require.NoError(t, err)
	last := db.Migrated()[len(db.Migrated())-1]
	require.NoError(t, db.Close())
	rawExec(t, path, fmt.Sprintf("DELETE FROM schema_migrations WHERE version = %d", last.Version))

	_, err = sqlite.Open(ctx, path, sqlite.WithReadOnly())
	require.ErrorIs(t, err, sqlite.ErrSchemaOutdated)
	assert.Contains(t, err.Error(), "lifecycle migrate")
}

// TestReadOnly opens a database whose file and directory the process may
// not write: reads work, every write is ErrReadOnly, and the file is not
// changed. (Run as root, the permissions do not bind, and the test checks
// the rest.)
func TestReadOnly(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "ro.db")
	db, err := sqlite.Open(ctx, path)
	require.NoError(t, err)
	a := storetest.NewAppointment(t, storetest.SiteA, 1)
	require.NoError(t, db.Update(ctx, func(ctx context.Context, tx application.Tx) error {
		if err := tx.SaveAppointment(ctx, a); err != nil {
			return err
		}
		return tx.Enqueue(ctx, []application.Call{{ID: storetest.ID("ca000000", 1).String(), SiteID: storetest.SiteA.String(),
			OrderingKey: application.OrderingKey(storetest.SiteA.String(), a.ID().String()), Kind: application.KindReport, TriggerKey: "t",
			ExternalEntityID: a.ID().String(), CreatedAt: storetest.T0}})
	}))
	require.NoError(t, db.Close())
	before := fileSum(t, path)
	require.NoError(t, os.Chmod(path, 0o400))
	require.NoError(t, os.Chmod(dir, 0o500))
	t.Cleanup(func() { _ = os.Chmod(dir, 0o700); _ = os.Chmod(path, 0o600) })

	ro, err := sqlite.Open(ctx, path, sqlite.WithReadOnly())
	require.NoError(t, err)
	require.NoError(t, ro.View(ctx, func(ctx context.Context, tx application.ReadTx) error {
		got, err := tx.Appointment(ctx, storetest.SiteA, a.ID())
		require.NoError(t, err)
		assert.Equal(t, a.ID(), got.ID())
		return nil
	}))
	stats, err := ro.Stats(ctx, "")
	require.NoError(t, err)
	assert.Equal(t, 1, stats[application.StatePending])
	calls, err := ro.List(ctx, application.Filter{})
	require.NoError(t, err)
	assert.Len(t, calls, 1)
	require.NoError(t, ro.Ping(ctx))

	err = ro.Update(ctx, func(ctx context.Context, tx application.Tx) error { return tx.SaveAppointment(ctx, a) })
	assert.ErrorIs(t, err, sqlite.ErrReadOnly)
	assert.ErrorIs(t, ro.Retry(ctx, storetest.SiteA.String(), storetest.ID("ca000000", 1).String(), time.Now()), sqlite.ErrReadOnly)
	_, err = ro.Prune(ctx, time.Now())
	assert.ErrorIs(t, err, sqlite.ErrReadOnly)
	_, err = ro.Claim(ctx, outbox.ClaimRequest{Relay: "r", Now: time.Now(), Limit: 10, Lease: time.Minute})
	assert.ErrorIs(t, err, sqlite.ErrReadOnly)
	require.NoError(t, ro.Close())
	assert.ErrorIs(t, ro.View(ctx, func(context.Context, application.ReadTx) error { return nil }), sqlite.ErrClosed)
	assert.Equal(t, before, fileSum(t, path), "a read-only open leaves the file as it was")
}

func fileSum(t *testing.T, path string) [sha256.Size]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return sha256.Sum256(b)
}
