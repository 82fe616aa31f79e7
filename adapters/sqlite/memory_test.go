package sqlite_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bookable/lifecycle/adapters/sqlite"
	"github.com/bookable/lifecycle/application/relay"
)

const (
	// envBigTests enables the tests that take minutes.
	envBigTests = "LIFECYCLE_BIG_TESTS"
	// envDrainChild names the database a child process of
	// TestRelayDrainMillionPeakMemory drains.
	envDrainChild = "LIFECYCLE_TEST_DRAIN_CHILD_DB"
	millionCalls  = 1_000_000
	// childReport starts the lines a drain child writes for its parent.
	childReport = "drain child: "
)

// TestRelayDrainMillionPeakMemory drains 1,000,000 pending calls from a
// SQLite outbox to a no-op gateway and checks that the peak memory of the
// process that drains them stays under 100 MiB: the relay streams the
// backlog in claims of ClaimLimit calls. This process writes the backlog;
// a child process of the test binary drains it, as a relay started on a
// backlog that other processes queued would, so that the figure is the
// draining process's own from exec to exit (the kernel's VmHWM, which the
// child reads once it has closed the database) and holds none of the
// memory the Go runtime kept from writing a million calls. (The rusage of
// the child is no use here: Linux counts in its maxrss the parent's memory
// image that the child shared until exec.) It takes minutes, so it runs
// only with LIFECYCLE_BIG_TESTS=1; the figures go to the test log (-v).
func TestRelayDrainMillionPeakMemory(t *testing.T) {
	if path := os.Getenv(envDrainChild); path != "" {
		drainChild(t, path)
		return
	}
	if os.Getenv(envBigTests) != "1" {
		t.Skip(envBigTests + " not set: this minutes-long test drains a million calls; set it to 1 to run it")
	}
	path := filepath.Join(t.TempDir(), "lifecycle.db")
	db, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	enqueueReports(t, db, millionCalls)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(os.Args[0], "-test.run", "^TestRelayDrainMillionPeakMemory$", "-test.v")
	cmd.Env = append(os.Environ(), envDrainChild+"="+path)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("drain child: %v\n%s", err, out)
	}
	var report string
	var peak uint64
	for _, line := range strings.Split(string(out), "\n") {
		_, rest, ok := strings.Cut(line, childReport)
		if !ok {
			continue
		}
		if v, ok := strings.CutPrefix(rest, "peak "); ok {
			if peak, err = strconv.ParseUint(v, 10, 64); err != nil {
				t.Fatalf("drain child: peak %q: %v", v, err)
			}
			continue
		}
		report = rest
	}
	if report == "" || peak == 0 {
		t.Fatalf("drain child reported no figures:\n%s", out)
	}
	t.Logf("%s; peak RSS of the draining process %.1f MiB", report, mib(peak))
	if peak >= 100<<20 {
		t.Errorf("peak RSS %.1f MiB, want under 100 MiB", mib(peak))
	}
}

// drainChild drains the database at path and writes what it measured for
// the parent, on lines starting with childReport: the figures, then the
// process's peak resident set in bytes once the database is closed.
func drainChild(t *testing.T, path string) {
	db, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	var peakHeap atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var ms runtime.MemStats
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > peakHeap.Load() {
				peakHeap.Store(ms.HeapAlloc)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	r, err := relay.New(relay.Config{Outbox: db, Gateway: noopGateway{},
		RequestsPerMinute: relay.NoRateLimit})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := r.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	close(stop)
	<-sampled
	if got := r.Metrics().Delivered; got != millionCalls {
		t.Fatalf("delivered %d of %d", got, millionCalls)
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	resident := residentParts(t)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("%sdrained %d calls in %s (%.0f calls/s); peak Go heap %.1f MiB, Go runtime total (Sys) %.1f MiB; resident once drained: %s\n",
		childReport, millionCalls, elapsed.Round(time.Millisecond), float64(millionCalls)/elapsed.Seconds(),
		mib(peakHeap.Load()), mib(ms.Sys), resident)
	fmt.Printf("%speak %d\n", childReport, statusKB(t, "VmHWM")<<10)
}

// residentParts describes the parts of the process's resident set:
// anonymous memory (the Go runtime's and SQLite's allocations), file pages
// (the binary) and shared memory (a WAL index SQLite maps).
func residentParts(t *testing.T) string {
	var parts []string
	for _, field := range []string{"RssAnon", "RssFile", "RssShmem"} {
		parts = append(parts, fmt.Sprintf("%s %.1f MiB", field, mib(statusKB(t, field)<<10)))
	}
	return strings.Join(parts, ", ")
}

// statusKB reads a field in kB of /proc/self/status (Linux).
func statusKB(t *testing.T, field string) uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatalf("measuring memory needs Linux /proc/self/status: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("%s in /proc/self/status: %v", field, err)
			}
			return kb
		}
	}
	t.Fatalf("no %s in /proc/self/status", field)
	return 0
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }
