package main

import (
	"bytes"
	"context"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/domain"
	"github.com/bookable/lifecycle/domain/courseenrollment"
)

// run runs the command line with an environment of its own.
func run(t *testing.T, environ map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = Main(context.Background(), args, &out, &errOut, func(k string) string { return environ[k] })
	return code, out.String(), errOut.String()
}

func TestDemo(t *testing.T) {
	code, out, errOut := run(t, nil, "demo", "--db", filepath.Join(t.TempDir(), "demo.db"))
	require.Equal(t, 0, code, errOut)
	for _, want := range []string{
		"report appointment_scheduled",
		"cancel appointment_starting           externalEntityId a0000000-0000-4000-8000-000000000001 (haircut)",
		"canceled  email: reminder 1 day before               for haircut",
		"ran       email: reminder 1 day before               for colouring",
		"canceled  sms: class starts in 1 hour                for Bob's yoga enrollment",
		"ran       sms: class starts in 1 hour                for Cem's yoga enrollment",
		"refused: cancel appointment",
		"0 pending, 0 dead, 0 expired",
		"cancel course_session_starting        externalEntityId " + courseenrollment.SessionEntityID(domain.MustID("ce000000-0000-4000-8000-000000000001"), 2).String() + " (Ann's seat in pottery session 2)",
		"canceled  sms: session starts in 2 hours             for Bob's seat in pottery session 3",
		"ran       sms: session starts in 2 hours             for Cem's seat in pottery session 3",
		`, 09:00", timeZone Europe/Berlin`, // the series' first occurrence, at 9:00 Berlin time
		"ran       email: reminder 1 day before               for physio #1",
		"canceled  email: reminder 1 day before               for physio #2",
	} {
		assert.Contains(t, out, want)
	}
	assert.NotContains(t, out, "ran       email: reminder 1 day before               for haircut")
	assert.NotContains(t, out, "ran       sms: class starts in 1 hour                for Bob's yoga")
	assert.NotContains(t, out, "ran       sms: session starts in 2 hours             for Ann's seat in pottery session 2")
	assert.NotContains(t, out, "ran       email: reminder 1 day before               for physio #3")
}

func TestUsageAndExitCodes(t *testing.T) {
	code, out, errOut := run(t, nil, "nonsense")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "unknown command")
	assert.Empty(t, out, "usage on an error goes to stderr")

	code, out, errOut = run(t, nil)
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "Usage: lifecycle <command>")
	assert.Empty(t, out, "usage on an error goes to stderr")

	code, out, _ = run(t, nil, "--help")
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "demo")

	for _, sub := range []string{"demo", "serve", "relay", "triggers", "wixsim", "version", "migrate", "bench"} {
		code, out, errOut := run(t, nil, sub, "--help")
		assert.Equal(t, 0, code, sub)
		assert.Contains(t, out, "Usage: lifecycle "+sub, sub)
		assert.Empty(t, errOut, sub)
	}
	code, out, errOut = run(t, nil, "triggers", "--bogus")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "bogus")
	assert.Contains(t, errOut, "Run 'lifecycle triggers --help'")
	assert.Empty(t, out, "a usage error prints nothing on stdout")

	code, out, errOut = run(t, nil, "serve", "--log-format", "xml", "--db", filepath.Join(t.TempDir(), "x.db"))
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "--log-format")
	assert.Empty(t, out)
}

func TestHelpNamesEnvironmentVariables(t *testing.T) {
	_, out, _ := run(t, nil, "serve", "--help")
	for _, want := range []string{"env LIFECYCLE_SERVE_ADDR", "env LIFECYCLE_DB", "env LIFECYCLE_WIX_BASE_URL",
		"env LIFECYCLE_LOG_LEVEL", "env LIFECYCLE_SERVE_NO_RELAY"} {
		assert.Contains(t, out, want)
	}
	_, out, _ = run(t, nil, "wixsim", "--help")
	assert.Contains(t, out, "env LIFECYCLE_WIXSIM_ADDR")
	assert.Contains(t, out, "env LIFECYCLE_WIXSIM_APP_SECRET")
	assert.NotContains(t, out, "LIFECYCLE_SERVE_")
}

func TestVersion(t *testing.T) {
	code, out, errOut := run(t, nil, "version")
	require.Equal(t, 0, code, errOut)
	assert.Regexp(t, `^lifecycle \S+\nrevision  \S+`, out)
	assert.Contains(t, out, runtime.Version())

	info := &debug.BuildInfo{GoVersion: "go1.99", Main: debug.Module{Path: "github.com/bookable/lifecycle", Version: "v1.2.3"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc123"}, {Key: "vcs.time", Value: "2026-01-02T03:04:05Z"},
			{Key: "vcs.modified", Value: "true"}}}
	assert.Equal(t, "lifecycle v1.2.3\nrevision  abc123 (2026-01-02T03:04:05Z), modified\ngo        go1.99\n", versionText(info))
	assert.Equal(t, "v1.2.3", moduleVersion(info))
	assert.Equal(t, "dev", moduleVersion(nil))
}

func TestServeRefusesPublicAddressWithoutToken(t *testing.T) {
	code, _, errOut := run(t, map[string]string{"LIFECYCLE_WIX_ACCESS_TOKEN": "t"}, "serve", "--addr", "0.0.0.0:0", "--db", filepath.Join(t.TempDir(), "x.db"))
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "LIFECYCLE_API_TOKEN")
}

func TestFlagsFromEnvironment(t *testing.T) {
	code, _, errOut := run(t, map[string]string{"LIFECYCLE_SERVE_ADDR": "0.0.0.0:0", "LIFECYCLE_DB": filepath.Join(t.TempDir(), "x.db")}, "serve")
	assert.Equal(t, 2, code, "LIFECYCLE_SERVE_ADDR is read like serve --addr")
	assert.Contains(t, errOut, "0.0.0.0:0")

	code, _, errOut = run(t, map[string]string{"LIFECYCLE_WIXSIM_ADDR": "127.0.0.1:wixsim", "LIFECYCLE_SERVE_ADDR": "127.0.0.1:serve",
		"LIFECYCLE_DB": filepath.Join(t.TempDir(), "y.db")}, "serve", "--no-relay")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "tcp/serve", "serve reads its own address")

	code, _, errOut = run(t, map[string]string{"LIFECYCLE_WIXSIM_ADDR": "127.0.0.1:wixsim", "LIFECYCLE_SERVE_ADDR": "127.0.0.1:serve"}, "wixsim")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "tcp/wixsim", "wixsim reads its own address")
}

func TestTriggers(t *testing.T) {
	code, out, errOut := run(t, nil, "triggers", "--schema")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "appointment_starting")
	assert.Contains(t, out, `"futureDate": true`)
	assert.Contains(t, out, `"identityType": "contact"`)

	code, out, _ = run(t, nil, "triggers", "--json", "--all")
	require.Equal(t, 0, code)
	assert.Equal(t, 20, strings.Count(out, `"role"`))
}

func TestOutboxOperations(t *testing.T) {
	db := filepath.Join(t.TempDir(), "demo.db")
	code, _, errOut := run(t, nil, "demo", "--db", db)
	require.Equal(t, 0, code, errOut)

	code, out, errOut := run(t, nil, "outbox", "stats", "--db", db)
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "delivered 63")

	code, out, _ = run(t, nil, "outbox", "list", "--db", db, "--site", demoSite.String(), "--limit", "3", "--json")
	require.Equal(t, 0, code)
	assert.Equal(t, 3, strings.Count(out, `"triggerKey"`))

	code, _, errOut = run(t, nil, "outbox", "show", "--db", db, "00000000-0000-4000-8000-000000000000")
	assert.Equal(t, 2, code, "show needs --site")
	assert.Contains(t, errOut, "--site")

	code, _, errOut = run(t, nil, "outbox", "show", "--db", db, "--site", demoSite.String(), "01a21df1-0000-7000-8000-000000000000")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "not found")

	for _, op := range []string{"show", "discard"} {
		code, _, errOut = run(t, nil, "outbox", op, "--db", db, "--site", demoSite.String(), "not-a-call-id")
		assert.Equal(t, 2, code, "%s: a malformed call ID is a usage error, refused before the store is asked", op)
		assert.Contains(t, errOut, "callId", op)
	}

	code, out, _ = run(t, nil, "outbox", "prune", "--db", db, "--older-than", "1h")
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "pruned 0 calls", "the demo settled its calls on its own clock, which runs ahead of the wall clock")
}

// TestSiteFlagIsParsedWhenSet: --site (and its environment variable) is
// parsed as the flag is set, so a bad site is a usage error before any
// store opens, and the command passes a domain.SiteID on.
func TestSiteFlagIsParsedWhenSet(t *testing.T) {
	db := filepath.Join(t.TempDir(), "x.db")
	for _, args := range [][]string{
		{"reconcile", "--db", db, "--site", "my-site"},
		{"outbox", "list", "--db", db, "--site", "00000000-0000-0000-0000-000000000000"},
	} {
		code, out, errOut := run(t, nil, args...)
		assert.Equal(t, 2, code, args)
		assert.Contains(t, errOut, "site", args)
		assert.Contains(t, errOut, "must", args, "the parse error says what a site must be")
		assert.Empty(t, out, args)
	}
	code, _, errOut := run(t, map[string]string{"LIFECYCLE_RECONCILE_SITE": "nope"}, "reconcile", "--db", db)
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "LIFECYCLE_RECONCILE_SITE")
}
