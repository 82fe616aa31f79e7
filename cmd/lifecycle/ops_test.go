package main

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/adapters/sqlite"
	"github.com/bookable/lifecycle/adapters/wixsim"
	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/domain"
)

func TestOpsCommandsNeedAnExistingDatabase(t *testing.T) {
	dir := t.TempDir()
	typo := filepath.Join(dir, "typo.db")
	for _, args := range [][]string{
		{"outbox", "stats", "--db", typo},
		{"outbox", "list", "--db", typo},
		{"outbox", "prune", "--db", typo, "--older-than", "1h"},
		{"outbox", "retry", "--db", typo, "--site", demoSite.String(), demoSite.String()},
		{"migrate", "--status", "--db", typo},
		{"relay", "--drain", "--db", typo, "--wix-app-id", "a"},
	} {
		code, out, errOut := run(t, map[string]string{"LIFECYCLE_WIX_APP_SECRET": "s"}, args...)
		assert.Equal(t, 1, code, "%v", args)
		assert.Contains(t, errOut, typo, "%v: the error names the file", args)
		assert.Contains(t, errOut, "no such database file", "%v", args)
		assert.Empty(t, out, "%v", args)
		_, err := os.Stat(typo)
		assert.ErrorIs(t, err, os.ErrNotExist, "%v created nothing", args)
	}
}

func TestMigrateCommand(t *testing.T) {
	db := filepath.Join(t.TempDir(), "m.db")
	code, out, errOut := run(t, nil, "migrate", "--db", db)
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "applied 0001_init.sql")

	code, out, errOut = run(t, nil, "migrate", "--db", db)
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "up to date")

	code, out, errOut = run(t, nil, "migrate", "--status", "--db", db)
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "0 migration(s) pending")
	assert.Contains(t, out, "0001_init.sql")

	raw, err := sql.Open("sqlite", db)
	require.NoError(t, err)
	_, err = raw.Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, '9999_future.sql', 0)`)
	require.NoError(t, err)
	require.NoError(t, raw.Close())
	for _, args := range [][]string{{"migrate", "--db", db}, {"migrate", "--status", "--db", db},
		{"outbox", "stats", "--db", db}, {"outbox", "prune", "--db", db, "--older-than", "1h"}} {
		code, _, errOut = run(t, nil, args...)
		assert.Equal(t, 1, code, "%v", args)
		assert.Contains(t, errOut, "newer schema than this binary knows", "%v", args)
		assert.Contains(t, errOut, "9999", "%v", args)
	}
}

// TestReadOnlyCommands runs the reading commands on a file and directory
// without write permission (binding unless the tests run as root).
func TestReadOnlyCommands(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "demo.db")
	code, _, errOut := run(t, nil, "demo", "--db", db)
	require.Equal(t, 0, code, errOut)
	require.NoError(t, os.Chmod(db, 0o400))
	require.NoError(t, os.Chmod(dir, 0o500))
	t.Cleanup(func() { _ = os.Chmod(dir, 0o700); _ = os.Chmod(db, 0o600) })
	for _, args := range [][]string{
		{"outbox", "stats", "--db", db},
		{"outbox", "list", "--db", db, "--site", demoSite.String(), "--limit", "2"},
		{"migrate", "--status", "--db", db},
	} {
		code, out, errOut := run(t, nil, args...)
		assert.Equal(t, 0, code, "%v: %s", args, errOut)
		assert.NotEmpty(t, out, "%v", args)
	}
}

// queueAppointment commits one appointment (two calls) to a new database.
func queueAppointment(t *testing.T, path, site string) {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, path)
	require.NoError(t, err)
	defer db.Close()
	app, err := application.New(application.Config{Store: db})
	require.NoError(t, err)
	start := time.Now().Add(48 * time.Hour)
	_, err = app.ScheduleAppointment.Handle(ctx, application.ScheduleAppointment{SiteID: domain.MustSiteID(site),
		ContactID: domain.MustID("c0000000-0000-4000-8000-0000000000d1"), StartsAt: start, EndsAt: start.Add(time.Hour)})
	require.NoError(t, err)
}

func TestRelayDrainReports(t *testing.T) {
	const appID, secret = "drain-app", "drain-secret"
	site := "5e000000-0000-4000-8000-0000000000d1"
	environ := map[string]string{"LIFECYCLE_WIX_APP_SECRET": secret}

	t.Run("everything delivered: exit 0", func(t *testing.T) {
		sim := wixsim.New(nil, wixsim.WithCredentials(appID, secret))
		require.NoError(t, sim.RegisterTriggers(application.DefaultCatalog()))
		srv := sim.NewServer()
		t.Cleanup(srv.Close)
		db := filepath.Join(t.TempDir(), "ok.db")
		queueAppointment(t, db, site)
		code, out, errOut := run(t, environ, "relay", "--drain", "--db", db, "--wix-base-url", srv.URL, "--wix-app-id", appID)
		require.Equal(t, 0, code, errOut)
		assert.Contains(t, out, "drained: 2 delivered, 0 to retry later, 0 dead, 0 expired")
		assert.Contains(t, out, "left:    0 pending, 0 dead, 0 expired")
	})
	t.Run("calls left: exit 3", func(t *testing.T) {
		sim := wixsim.New(nil, wixsim.WithCredentials(appID, secret)) // no trigger registered: Wix refuses every report
		srv := sim.NewServer()
		t.Cleanup(srv.Close)
		db := filepath.Join(t.TempDir(), "dead.db")
		queueAppointment(t, db, site)
		code, out, errOut := run(t, environ, "relay", "--drain", "--db", db, "--wix-base-url", srv.URL, "--wix-app-id", appID,
			"--log-level", "error")
		assert.Equal(t, 3, code, "stderr: %s", errOut)
		assert.Contains(t, out, "drained: 0 delivered")
		assert.Contains(t, out, "left:    0 pending, 2 dead, 0 expired")
		assert.Contains(t, errOut, "calls remain undelivered: 2")
	})
}
