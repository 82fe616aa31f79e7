package main

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBenchPrintsTheFigures(t *testing.T) {
	code, out, errOut := run(t, nil, "bench", "--duration", "1s", "--concurrency", "4", "--progress", "200ms",
		"--mix", "schedule=50,cancel=20,reschedule=10,enroll=10,leave=10", "--db", filepath.Join(t.TempDir(), "bench.db"))
	require.Equal(t, 0, code, errOut)
	for _, want := range []string{"commands/s", "p50 ", "p99 ", "transactions", "calls delivered", "calls/s to noop",
		"peak Go heap", "MiB"} {
		assert.Contains(t, out, want)
	}
	assert.Contains(t, errOut, "\r", "a live progress line")
	assert.Contains(t, errOut, "commands/s")
}

func TestBenchRejectsABadMix(t *testing.T) {
	for _, mix := range []string{"schedule", "teleport=5", "schedule=-1", "schedule=0", "schedule=1,schedule=2"} {
		code, _, errOut := run(t, nil, "bench", "--mix", mix, "--duration", "1s")
		assert.Equal(t, 2, code, mix)
		assert.Contains(t, errOut, "--mix", mix)
	}
}

func TestLatencyHistogramQuantiles(t *testing.T) {
	var h latencyHistogram
	for i := 1; i <= 1000; i++ {
		h.observe(time.Duration(i) * time.Millisecond)
	}
	// Buckets are about 6% wide: a quantile is within that of the truth.
	assert.InEpsilon(t, float64(500*time.Millisecond), float64(h.quantile(0.50)), 0.07)
	assert.InEpsilon(t, float64(990*time.Millisecond), float64(h.quantile(0.99)), 0.07)
	assert.Equal(t, time.Second, h.max)
	for _, d := range []time.Duration{1, 15, 16, 17, time.Microsecond, 3 * time.Second} {
		assert.GreaterOrEqual(t, bucketTop(bucketOf(d)), d, d)
	}
}
