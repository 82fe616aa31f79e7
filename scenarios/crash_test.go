//go:build unix

package scenarios

// Crash safety of the outbox and the relay, on the SQLite store.
//
// TestCrashSafety runs commands and the relay in a child process (the test
// binary itself, re-executed to run only TestCrashChild), kills the child
// with SIGKILL at random moments many times, restarts it, and at the end
// checks the SQLite file and a recording Wix against what the children were
// told had happened.
//
// The parent runs the Wix simulator (adapters/wixsim) behind an HTTP server;
// each child's relay delivers to it through the REST client (adapters/wix),
// as production does. So the record of every request Wix received lives in
// the parent and survives the child's death. Before every child the parent
// may also arm a few simulator faults (5xx, dropped connections, and
// failures after the request took effect), so that retries, and reports
// repeated after Wix already took them, happen without a crash too.
//
// Each child opens the same SQLite file, starts the relay (short lease, so
// that calls a killed child held are claimed again soon), and runs two
// goroutines of random commands on two sites: schedule, reschedule and
// cancel appointments; schedule and cancel classes; enroll and leave. Before
// running a command it appends an intent line to its own log file, and after
// Handle returned nil an ack line with the aggregate's state and version;
// both are fsync'ed, so after the kill the parent knows every aggregate that
// may exist and every command that was acknowledged. The parent kills the
// child at a random moment: mostly while it works, sometimes while it starts
// (opening the file, migrating). After the last kill it clears the faults
// and drains the outbox in-process (still through HTTP) until nothing is
// pending.
//
// Then it checks:
//
//  1. No call lost, no state change without its calls (and no calls without
//     one). Every call in the outbox is delivered: none pending, dead or
//     expired. Every acknowledged command's effect is in the store. For
//     every aggregate in the store, its calls in the outbox are exactly
//     those the policy implies for a history that leads to its state and
//     version (for an appointment the version tells how many reschedules it
//     had; for an enrollment the acknowledged enroll, when there is one,
//     tells whether it was first seated or waitlisted), with the scheduled
//     reports carrying the acknowledged start times. Classes have no calls,
//     and their seat counts match their enrollments.
//  2. None out of order per key. For every ordering key, the items Wix
//     received for it (a report known by its idempotency key, a cancel by
//     its trigger in request order) are the outbox calls in Seq order, each
//     at least once, a call repeated only right after itself (a crash after
//     the request and before its outcome was written, or a retry).
//  3. A report repeated only with its same idempotency key. Every report
//     Wix received carries the ID of an outbox call of its entity and
//     trigger; Wix recorded each such key once, with the call's payload.
//  4. What Wix holds is what the final states call for: a scheduled
//     appointment has its scheduled and starting events live (the latter at
//     its current start), a canceled one only its canceled event, a seated
//     enrollment its enrolled and class starting events, one that left or
//     lost its class after being seated only that event, and a waitlisted
//     one nothing.
//
// LIFECYCLE_CRASH_KILLS sets the number of kills (default 25),
// LIFECYCLE_CRASH_SEED replays a run's choices (the commands each child
// picks, the parent's kill times and faults; where a kill lands in the
// child's work depends on timing, so a replay is close, not identical), and
// LIFECYCLE_CRASH_DIR keeps the run's files (the SQLite file, the command
// logs, each child's output) in a new directory under it.

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/adapters/sqlite"
	"github.com/bookable/lifecycle/adapters/wixsim"
	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/application/relay"
)

// defaultCrashKills is how many times a default run kills a child.
const defaultCrashKills = 25

// TestCrashSafety kills a child running commands and the relay many times,
// then checks that no call was lost, reordered, or repeated with another
// idempotency key, and that no state changed without its calls. See the
// comment at the top of this file.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("the crash test re-executes the test binary dozens of times; it does not run with -short")
	}
	seed := crashEnvInt(t, envCrashSeed, time.Now().UnixNano())
	kills := int(crashEnvInt(t, envCrashKills, defaultCrashKills))
	require.Positive(t, kills, envCrashKills)
	t.Logf("seed %d, %d kills", seed, kills)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("replay with %s=%d %s=%d; set %s to keep the database, the command logs and the children's output",
				envCrashSeed, seed, envCrashKills, kills, envCrashDir)
		}
	})
	rng := rand.New(rand.NewPCG(uint64(seed), 0xc4a5))
	dir := crashDir(t)

	sim := wixsim.New(nil, wixsim.WithCredentials(crashAppID, crashAppSecret))
	require.NoError(t, sim.RegisterTriggers(application.DefaultCatalog()))
	srv := sim.NewServer()
	t.Cleanup(srv.Close)

	started := time.Now()
	duringStartup := 0
	var relayed crashMetrics
	for run := range kills {
		crashInjectFaults(sim, rng)
		child := startCrashChild(t, dir, srv.URL, seed, run)
		if rng.IntN(5) == 0 {
			duringStartup++
			time.Sleep(time.Duration(rng.Int64N(int64(300 * time.Millisecond))))
		} else {
			child.waitReady(t)
			time.Sleep(50*time.Millisecond + time.Duration(rng.Int64N(int64(1200*time.Millisecond))))
		}
		child.kill(t)
		relayed = relayed.add(child.lastMetrics())
	}
	killing := time.Since(started)

	sim.ClearFaults()
	ctx := context.Background()
	crashIntegrity(t, ctx, filepath.Join(dir, "lifecycle.db"))
	db, err := sqlite.Open(ctx, filepath.Join(dir, "lifecycle.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	crashDrain(t, ctx, db, srv.URL)

	rep := crashCheck(t, ctx, dir, db, sim)
	t.Logf("%d kills (%d while starting) in %v; commands acknowledged %d %v, refused %d %v, in doubt %d (of which %d creations committed); "+
		"aggregates %d appointments, %d classes, %d enrollments; %d calls checked against %d requests "+
		"(%d reports and %d cancels received again)",
		kills, duringStartup, killing.Round(time.Millisecond), rep.acked, rep.ackedByOp, rep.refused, rep.refusedByOp, rep.inDoubt, rep.inDoubtCommitted,
		rep.appointments, rep.classes, rep.enrollments, rep.calls, rep.requests, rep.repeatedReports, rep.repeatedCancels)
	t.Logf("children's relays (to their last 100ms): %d requests (%d failed), %d calls delivered, %d retried, %d deferred, %d settle errors",
		relayed.Requests, relayed.FailedRequests, relayed.Delivered, relayed.Retried, relayed.Deferred, relayed.SettleErrors)
}

// crashMetrics sums the relay counters of the children.
type crashMetrics struct {
	Delivered, Retried, Deferred, Requests, FailedRequests, SettleErrors uint64
}

func (m crashMetrics) add(o crashMetrics) crashMetrics {
	return crashMetrics{m.Delivered + o.Delivered, m.Retried + o.Retried, m.Deferred + o.Deferred,
		m.Requests + o.Requests, m.FailedRequests + o.FailedRequests, m.SettleErrors + o.SettleErrors}
}

// TestCrashChild is the child half of TestCrashSafety. It does something
// only when that test starts it, with LIFECYCLE_CRASH_CHILD set.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(envCrashChild)
	if dir == "" {
		t.Skip(envCrashChild + " not set: this is the child half of TestCrashSafety, which runs only " +
			"when the parent test starts it as a subprocess")
	}
	env, err := crashChildEnvFrom(dir)
	if err != nil {
		t.Fatalf("crash child environment: %v", err)
	}
	runCrashChild(t, env)
}

// crashDir returns the directory of the run: a temporary one, or a new one
// under LIFECYCLE_CRASH_DIR, kept after the test for a post-mortem.
func crashDir(t *testing.T) string {
	parent := os.Getenv(envCrashDir)
	if parent == "" {
		return t.TempDir()
	}
	dir, err := os.MkdirTemp(parent, "crash-")
	require.NoError(t, err)
	t.Logf("database, command logs and children's output kept in %s", dir)
	return dir
}

func crashEnvInt(t *testing.T, name string, def int64) int64 {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := strconv.ParseInt(s, 10, 64)
	require.NoError(t, err, name)
	return v
}

// crashInjectFaults arms, half of the time, a few simulator faults for the
// next child's requests: each is retryable, so every call still ends
// delivered. A fault after apply makes the relay send a report Wix already
// took again, with its same idempotency key.
func crashInjectFaults(sim *wixsim.Sim, rng *rand.Rand) {
	if rng.IntN(2) == 0 {
		return
	}
	faults := []wixsim.Fault{
		{Status: 503},
		{Status: 500, AfterApply: true},
		{Drop: true},
		{Drop: true, AfterApply: true},
		{Status: 429, RetryAfter: time.Second},
	}
	for range 1 + rng.IntN(3) {
		f := faults[rng.IntN(len(faults))]
		f.Times = 1 + rng.IntN(3)
		sim.Inject(f)
	}
}

// crashChild is a running child process.
type crashChild struct {
	cmd      *exec.Cmd
	dir, out string
	run      int
	done     chan struct{} // closed when the process has exited
	err      error         // cmd.Wait's, once done
}

func startCrashChild(t *testing.T, dir, url string, seed int64, run int) *crashChild {
	t.Helper()
	out := filepath.Join(dir, fmt.Sprintf("child-%03d.out", run))
	f, err := os.Create(out)
	require.NoError(t, err)
	defer f.Close()
	// -test.timeout ends a child whose parent died without killing it.
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1", "-test.timeout=3m")
	cmd.Env = append(os.Environ(),
		envCrashChild+"="+dir, envCrashURL+"="+url,
		envCrashSeed+"="+strconv.FormatInt(seed, 10), envCrashRun+"="+strconv.Itoa(run))
	cmd.Stdout, cmd.Stderr = f, f
	require.NoError(t, cmd.Start())
	c := &crashChild{cmd: cmd, dir: dir, out: out, run: run, done: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		close(c.done)
	}()
	return c
}

// waitReady waits until the child runs its relay and commands, or fails the
// test with the child's output if it exited or took more than a minute.
func (c *crashChild) waitReady(t *testing.T) {
	t.Helper()
	deadline := time.After(time.Minute)
	for {
		if _, err := os.Stat(crashReadyPath(c.dir, c.run)); err == nil {
			return
		}
		select {
		case <-c.done:
			c.kill(t) // fails the test with the output
			t.Fatalf("child %d exited before it got ready", c.run)
		case <-deadline:
			_ = c.cmd.Process.Kill()
			<-c.done
			t.Fatalf("child %d did not get ready within a minute; output:\n%s", c.run, c.output())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// kill sends SIGKILL and waits for the child. A child that had exited on its
// own failed; so did one whose output reports a data race.
func (c *crashChild) kill(t *testing.T) {
	t.Helper()
	_ = c.cmd.Process.Kill()
	<-c.done
	if c.cmd.ProcessState.ExitCode() != -1 { // -1: ended by a signal
		t.Fatalf("child %d exited on its own (%v) before it was killed; output:\n%s", c.run, c.err, c.output())
	}
	if out := c.output(); strings.Contains(out, "DATA RACE") || strings.Contains(out, "--- FAIL") {
		t.Fatalf("child %d failed before it was killed; output:\n%s", c.run, out)
	}
}

// lastMetrics returns the last relay counters the child printed.
func (c *crashChild) lastMetrics() crashMetrics {
	var m crashMetrics
	for _, line := range strings.Split(c.output(), "\n") {
		if rest, ok := strings.CutPrefix(line, crashMetricsPrefix); ok {
			var next crashMetrics
			if json.Unmarshal([]byte(rest), &next) == nil { // the last line may be torn
				m = next
			}
		}
	}
	return m
}

func (c *crashChild) output() string {
	b, err := os.ReadFile(c.out)
	if err != nil {
		return fmt.Sprintf("(no output: %v)", err)
	}
	return string(b)
}

// crashIntegrity runs SQLite's own check of the file the killed children
// wrote: its b-trees, indexes and constraints are intact.
func crashIntegrity(t *testing.T, ctx context.Context, path string) {
	t.Helper()
	conn, err := sql.Open("sqlite", "file:"+path) // the driver adapters/sqlite registers
	require.NoError(t, err)
	defer conn.Close()
	var result string
	require.NoError(t, conn.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&result))
	require.Equal(t, "ok", result, "integrity of the SQLite file after the kills")
	rows, err := conn.QueryContext(ctx, "PRAGMA foreign_key_check")
	require.NoError(t, err)
	defer rows.Close()
	require.False(t, rows.Next(), "foreign key violations in the SQLite file after the kills")
	require.NoError(t, rows.Err())
}

// crashDrain delivers everything the children left, through HTTP as they
// did, until no call is pending. Calls the last child held come due when
// their lease ends, and retries when their backoff does.
func crashDrain(t *testing.T, ctx context.Context, db *sqlite.DB, url string) {
	t.Helper()
	relay, err := crashRelay(db, url, nil, relay.NoRateLimit, 0)
	require.NoError(t, err)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		require.NoError(t, relay.Drain(ctx))
		stats, err := db.Stats(ctx, "")
		require.NoError(t, err)
		if stats[application.StatePending] == 0 {
			return
		}
		require.False(t, time.Now().After(deadline), "calls still pending after two minutes of draining: %v", stats)
		time.Sleep(100 * time.Millisecond)
	}
}
