//go:build unix

package main

import (
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestServeNoRelay runs the real command with --no-relay: it serves the
// API until SIGTERM (exit 0) and sends nothing to Wix, leaving the calls it
// queued pending for a `lifecycle relay` elsewhere.
func TestServeNoRelay(t *testing.T) {
	wix := newWix(t)
	db := t.TempDir() + "/norelay.db"
	c := startServe(t, wix, db, "--no-relay")
	const site = "5e000000-0000-4000-8000-0000000000a1"
	start := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second)
	r := c.do("POST", "/v1/sites/"+site+"/appointments", map[string]string{
		"contactId": "c0000000-0000-4000-8000-0000000000a1",
		"startsAt":  start.Format(time.RFC3339), "endsAt": start.Add(time.Hour).Format(time.RFC3339),
	})
	require.Equal(t, 201, r.status, "%s", r.body)
	time.Sleep(500 * time.Millisecond)
	assert.Empty(t, wix.sim.Requests(site), "no relay runs in this process")
	stats := c.do("GET", "/v1/sites/"+site+"/outbox/stats", nil)
	require.Equal(t, 200, stats.status)
	assert.Contains(t, string(stats.body), `"pending":2`)
	assert.Equal(t, 0, c.stop(syscall.SIGTERM), "serve --no-relay exits 0 on SIGTERM; stderr:\n%s", c.stderr.String())
	assert.NotContains(t, c.stderr.String(), "relay stopped")
}
