package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/adapters/httpapi"
	"github.com/bookable/lifecycle/adapters/postgres/pgtest"
	"github.com/bookable/lifecycle/adapters/wixsim"
	"github.com/bookable/lifecycle/application"
)

// The multi-process harness: real processes of the command on one SQLite
// file (two `lifecycle serve` and one `lifecycle relay`), a Wix stand-in
// with slow and failing answers, and the active relay paused (SIGSTOP) past
// its lease while it holds calls, then resumed (SIGCONT). It checks at the
// stand-in what the promise needs across processes:
//
//   - no two requests naming one entity are in flight at once;
//   - each entity's delivered calls reached Wix in commit order;
//   - after the last mass reschedule every appointment's reminder is live
//     at its final start, and only there;
//   - a report is one event at Wix, whoever sent it;
//   - no 60-second window holds more requests of a site than the limit, for
//     all the processes together.
//
// The short version runs in CI; LIFECYCLE_LONG_HARNESS=1 runs the long one
// that docs/reliability.md records.

// harnessConfig sizes one run.
type harnessConfig struct {
	sites, appointments, rounds, pauses int
	perMinute                           int
	// spacing is the wait between two reschedules: calls then come one by
	// one, as a relay left alone would send each in its own request, so
	// that the rate limit binds.
	spacing time.Duration
}

func harnessSize() harnessConfig {
	if os.Getenv("LIFECYCLE_LONG_HARNESS") == "1" {
		return harnessConfig{sites: 3, appointments: 200, rounds: 6, pauses: 3, perMinute: 60, spacing: 10 * time.Millisecond}
	}
	return harnessConfig{sites: 2, appointments: 30, rounds: 2, pauses: 1, perMinute: 20, spacing: 40 * time.Millisecond}
}

// TestHarness runs the processes on one SQLite file: one relay is active,
// the others stand by and take over when its lease runs out.
func TestHarness(t *testing.T) {
	runHarness(t, harnessSize(), filepath.Join(t.TempDir(), "lifecycle.db"))
}

// TestHarnessPostgres runs them on one PostgreSQL schema: every relay is
// active and they share the work, each key held by one at a time.
func TestHarnessPostgres(t *testing.T) {
	runHarness(t, harnessSize(), pgtest.SchemaDSN(t))
}

// standIn is the Wix simulator behind a handler that watches what is in
// flight per entity.
type standIn struct {
	sim *wixsim.Sim
	url string

	mu        sync.Mutex
	inFlight  map[string]int // externalEntityId -> requests being answered
	overlaps  []string
	maxFlight int // the most requests in flight at once, across entities
	flight    int
}

func newStandIn(t *testing.T) *standIn {
	t.Helper()
	sim := wixsim.New(nil, wixsim.WithCredentials(e2eAppID, e2eAppSecret))
	require.NoError(t, sim.RegisterTriggers(application.DefaultCatalog()))
	s := &standIn{sim: sim, inFlight: map[string]int{}}
	inner := sim.Handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		entities := entityIDs(body)
		s.enter(r.URL.Path, entities)
		defer s.leave(entities)
		inner.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	s.url = srv.URL
	return s
}

func (s *standIn) enter(path string, entities []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range entities {
		if s.inFlight[e] > 0 {
			s.overlaps = append(s.overlaps, fmt.Sprintf("%s %s while another request naming it was in flight", path, e))
		}
		s.inFlight[e]++
	}
	s.flight++
	s.maxFlight = max(s.maxFlight, s.flight)
}

func (s *standIn) leave(entities []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range entities {
		s.inFlight[e]--
	}
	s.flight--
}

// entityIDs finds every externalEntityId a request body names, whatever
// the endpoint's shape.
func entityIDs(body []byte) []string {
	var v any
	if json.Unmarshal(body, &v) != nil {
		return nil
	}
	var out []string
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, val := range x {
				switch k {
				case "externalEntityId":
					if s, ok := val.(string); ok {
						out = append(out, s)
					}
				case "externalEntityIds":
					if a, ok := val.([]any); ok {
						for _, e := range a {
							if s, ok := e.(string); ok {
								out = append(out, s)
							}
						}
					}
				default:
					walk(val)
				}
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	slices.Sort(out)
	return slices.Compact(out)
}

// proc is a `lifecycle relay` process (serve processes are children).
type proc struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
	done   chan struct{}
}

func startRelayProcess(t *testing.T, wixURL, db string, extra ...string) *proc {
	t.Helper()
	args := append([]string{"relay", "--db", db, "--wix-base-url", wixURL, "--wix-app-id", e2eAppID}, extra...)
	cmd := exec.Command(lifecycleBinary(t), args...)
	cmd.SysProcAttr = childAttr()
	cmd.Env = append(environWithoutLifecycle(), "LIFECYCLE_WIX_APP_SECRET="+e2eAppSecret)
	p := &proc{cmd: cmd, stderr: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = io.Discard, p.stderr
	require.NoError(t, cmd.Start())
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(e2eStopTimeout):
			_ = cmd.Process.Kill()
			<-p.done
		}
		assert.NotContains(t, p.stderr.String(), "level=ERROR", "lifecycle relay logged no error")
		if t.Failed() {
			t.Logf("lifecycle relay stderr:\n%s", p.stderr.String())
		}
	})
	return p
}

// harnessAppointment is an appointment of the run and its latest start.
type harnessAppointment struct {
	site, id string
	start    time.Time
}

func runHarness(t *testing.T, cfg harnessConfig, db string) {
	began := time.Now()
	wix := newStandIn(t)
	// A lease a request fits in twice over (2 x (500ms + 250ms) <= 2s), so
	// that a pause of 4s outlives it twice; the pause stays below SQLite's
	// 5s busy timeout, so that a process stopped in the middle of a write
	// holds up the others without failing them. A request limit per site
	// low enough that the run presses on it.
	flags := []string{"--relay-lease", "2s", "--wix-timeout", "500ms",
		"--wix-requests-per-minute", fmt.Sprint(cfg.perMinute)}
	env := &wixEnv{sim: wix.sim, url: wix.url}
	sites := make([]string, cfg.sites)
	for i := range sites {
		sites[i] = uuid.NewString()
	}

	// Serve A starts alone and takes the first calls: on SQLite it holds the
	// database's relay lease, so it is the active relay the pauses stop; on
	// PostgreSQL it holds the keys it claimed.
	a := startServe(t, env, db, flags...)
	var appts []*harnessAppointment
	create := func(srv *child, site string) {
		start := at(time.Duration(48+len(appts)) * time.Hour)
		got := okJSON[httpapi.Appointment](t, srv.do("POST", "/v1/sites/"+site+"/appointments",
			appointmentBody("", uuid.NewString(), start, "harness")), 201)
		appts = append(appts, &harnessAppointment{site: site, id: got.ID, start: start})
	}
	create(a, sites[0])
	require.Eventually(t, func() bool { return len(accepted(wix.sim, sites[0])) > 0 }, e2eDeliveryTimeout, e2ePoll,
		"serve A delivers its first calls")
	b := startServe(t, env, db, flags...)
	startRelayProcess(t, wix.url, db, flags...)

	// Slow and failing answers while the load runs: slow within the
	// request timeout, 503s, dropped connections, answers lost after Wix
	// applied the request.
	stopFaults := injectFaults(wix.sim, 150*time.Millisecond,
		func() { wix.sim.Inject(wixsim.Fault{Latency: 300 * time.Millisecond}) },
		func() { wix.sim.FailNext(1, 503) },
		func() { wix.sim.DropNext(1) },
		func() { wix.sim.Inject(wixsim.Fault{Status: 500, AfterApply: true}) },
	)

	for len(appts) < cfg.sites*cfg.appointments {
		srv := a
		if len(appts)%2 == 1 {
			srv = b
		}
		create(srv, sites[len(appts)%cfg.sites])
	}

	// Mass reschedules through B, the active relay paused in some of them
	// while it holds calls.
	paused := 0
	for round := range cfg.rounds {
		var wg sync.WaitGroup
		pause := paused < cfg.pauses && round%2 == 0
		for i, ap := range appts {
			if pause && i == len(appts)/4 {
				require.NoError(t, a.cmd.Process.Signal(syscall.SIGSTOP))
				paused++
				wg.Go(func() {
					time.Sleep(4 * time.Second) // past the 2s lease
					assert.NoError(t, a.cmd.Process.Signal(syscall.SIGCONT))
				})
			}
			ap.start = ap.start.Add(24 * time.Hour)
			okJSON[httpapi.Appointment](t, b.do("POST", "/v1/sites/"+ap.site+"/appointments/"+ap.id+"/reschedule",
				map[string]string{"startsAt": rfc(ap.start), "endsAt": rfc(ap.start.Add(time.Hour))}), 200)
			time.Sleep(cfg.spacing)
		}
		wg.Wait()
	}
	stopFaults()
	wix.sim.ClearFaults()

	// Every site drains; then the checks at the stand-in.
	var calls, delivered, superseded, busiest int
	for _, site := range sites {
		require.Eventually(t, func() bool { return b.stats(site)["pending"] == 0 }, 3*time.Minute, e2ePoll,
			"the outbox of %s drains", site)
		st := b.stats(site)
		assert.Zero(t, st["dead"], "dead calls of %s: %v", site, st)
		assert.Zero(t, st["expired"], "expired calls of %s: %v", site, st)
		list := b.calls(site)
		calls += len(list)
		delivered += st["delivered"]
		superseded += st["superseded"]
		soakCheckOnceAndInOrder(t, wix.sim, site, list)
		busiest = max(busiest, harnessCheckRate(t, wix.sim, site, cfg.perMinute))
	}
	wix.mu.Lock()
	assert.Empty(t, wix.overlaps, "requests naming one entity in flight at once")
	maxFlight := wix.maxFlight
	wix.mu.Unlock()

	live := map[string][]time.Time{}
	for _, site := range sites {
		for _, e := range wix.sim.LiveEvents(site) {
			if e.TriggerKey == "appointment_starting" {
				live[e.ExternalEntityID] = append(live[e.ExternalEntityID], e.At)
			}
		}
	}
	wrong := 0
	for _, ap := range appts {
		if got := live[ap.id]; len(got) != 1 || !got[0].Equal(ap.start) {
			wrong++
			t.Errorf("appointment %s starts at %s: the live reminders at Wix are at %v", ap.id, rfc(ap.start), got)
		}
	}
	requests := 0
	for _, r := range wix.sim.Requests("") {
		if r.Endpoint != wixsim.EndpointToken {
			requests++
		}
	}
	t.Logf("harness: %d sites x %d appointments, %d mass reschedules, %d pauses of the active relay past its lease; "+
		"%d calls (%d delivered, %d superseded), %d Wix requests (at most %d in flight, at most %d of a site in a 60-second window, limit %d), "+
		"%d reminders wrong; %v",
		cfg.sites, cfg.appointments, cfg.rounds, paused, calls, delivered, superseded, requests, maxFlight, busiest, cfg.perMinute, wrong,
		time.Since(began).Round(time.Second))
}

// harnessCheckRate: no 60-second window holds more of a site's requests
// than the limit, whichever process sent them. It returns the most a
// window held.
func harnessCheckRate(t *testing.T, sim *wixsim.Sim, site string, perMinute int) int {
	t.Helper()
	var ats []time.Time
	for _, r := range sim.Requests(site) {
		if r.Endpoint != wixsim.EndpointToken {
			ats = append(ats, r.At)
		}
	}
	most := 0
	for i := range ats {
		j := i
		for j < len(ats) && ats[j].Sub(ats[i]) < time.Minute {
			j++
		}
		most = max(most, j-i)
	}
	assert.LessOrEqual(t, most, perMinute, "site %s: %d requests in one 60-second window", site, most)
	return most
}
