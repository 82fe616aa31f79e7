package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
	} {
		assert.Contains(t, out, want)
	}
	assert.NotContains(t, out, "ran       email: reminder 1 day before               for haircut")
	assert.NotContains(t, out, "ran       sms: class starts in 1 hour                for Bob's yoga")
}

func TestUsageAndExitCodes(t *testing.T) {
	code, _, errOut := run(t, nil, "nonsense")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "unknown command")

	code, out, _ := run(t, nil, "--help")
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "demo")

	for _, sub := range []string{"demo", "serve", "relay", "triggers", "wixsim"} {
		code, out, _ := run(t, nil, sub, "--help")
		assert.Equal(t, 0, code, sub)
		assert.Contains(t, out, "Usage: lifecycle "+sub, sub)
	}
	code, _, errOut = run(t, nil, "triggers", "--bogus")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "bogus")
}

func TestServeRefusesPublicAddressWithoutToken(t *testing.T) {
	code, _, errOut := run(t, map[string]string{"LIFECYCLE_WIX_ACCESS_TOKEN": "t"}, "serve", "--addr", "0.0.0.0:0", "--db", filepath.Join(t.TempDir(), "x.db"))
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "LIFECYCLE_API_TOKEN")
}

func TestFlagsFromEnvironment(t *testing.T) {
	code, _, errOut := run(t, map[string]string{"LIFECYCLE_ADDR": "0.0.0.0:0", "LIFECYCLE_DB": filepath.Join(t.TempDir(), "x.db")}, "serve")
	assert.Equal(t, 2, code, "LIFECYCLE_ADDR is read like --addr")
	assert.Contains(t, errOut, "0.0.0.0:0")
}

func TestTriggers(t *testing.T) {
	code, out, errOut := run(t, nil, "triggers", "--schema")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "appointment_starting")
	assert.Contains(t, out, `"futureDate": true`)
	assert.Contains(t, out, `"identityType": "contact"`)

	code, out, _ = run(t, nil, "triggers", "--json", "--all")
	require.Equal(t, 0, code)
	assert.Equal(t, 13, strings.Count(out, `"role"`))
}

func TestOutboxOperations(t *testing.T) {
	db := filepath.Join(t.TempDir(), "demo.db")
	code, _, errOut := run(t, nil, "demo", "--db", db)
	require.Equal(t, 0, code, errOut)

	code, out, errOut := run(t, nil, "outbox", "stats", "--db", db)
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "delivered 28")

	code, out, _ = run(t, nil, "outbox", "list", "--db", db, "--site", demoSite, "--limit", "3", "--json")
	require.Equal(t, 0, code)
	assert.Equal(t, 3, strings.Count(out, `"triggerKey"`))

	code, _, errOut = run(t, nil, "outbox", "show", "--db", db, "00000000-0000-4000-8000-000000000000")
	assert.Equal(t, 2, code, "show needs --site")
	assert.Contains(t, errOut, "--site")

	code, _, errOut = run(t, nil, "outbox", "show", "--db", db, "--site", demoSite, "01a21df1-0000-7000-8000-000000000000")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "not found")

	code, out, _ = run(t, nil, "outbox", "prune", "--db", db, "--older-than", "1h")
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "pruned 0 calls", "the demo settled its calls on its own clock, which runs ahead of the wall clock")
}
