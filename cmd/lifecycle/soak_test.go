package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/adapters/httpapi"
	"github.com/bookable/lifecycle/adapters/wixsim"
	"github.com/bookable/lifecycle/application"
)

// The soak test runs `lifecycle serve` as a process, against the simulator
// over HTTP while it injects failures (5xx, 429 with Retry-After, dropped
// connections, answers lost after the request took effect), and drives it
// with concurrent clients for a while. Then it checks delivery end to end:
// every accepted command's calls were queued and delivered, nothing twice
// at Wix but a retry that met its idempotency key, each entity's calls in
// commit order, and what is live at Wix is what the bookings call for.
//
// Default: soakDefaultDuration. Longer: LIFECYCLE_SOAK_DURATION=5m.

const (
	soakDefaultDuration = 15 * time.Second
	soakClients         = 6
	soakAPIToken        = "soak-api-token"
	soakSettleTimeout   = 4 * time.Minute
)

var soakSites = []string{"50a50000-0000-4000-8000-000000000001", "50a50000-0000-4000-8000-000000000002"}

func TestSoakServeUnderFaults(t *testing.T) {
	duration := soakDefaultDuration
	if v := os.Getenv("LIFECYCLE_SOAK_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		require.NoError(t, err, "LIFECYCLE_SOAK_DURATION")
		duration = d
	}
	sim := wixsim.New(nil)
	require.NoError(t, sim.RegisterTriggers(application.DefaultCatalog()))
	wixSrv := sim.NewServer()
	t.Cleanup(wixSrv.Close)
	base := soakServe(t, wixSrv.URL)

	// Faults, one every 100ms while the clients run.
	stopFaults := injectFaults(sim, 100*time.Millisecond,
		func() { sim.FailNext(1, 503) },
		func() { sim.RateLimitNext(1, time.Second) },
		func() { sim.DropNext(1) },
		func() { sim.Inject(wixsim.Fault{Status: 500, AfterApply: true}) },
		func() { sim.Inject(wixsim.Fault{Drop: true, AfterApply: true}) },
	)

	clients := make([]*soakClient, soakClients)
	var wg sync.WaitGroup
	deadline := time.Now().Add(duration)
	for i := range clients {
		c := newSoakClient(t, base, i)
		clients[i] = c
		wg.Add(1)
		go func() { defer wg.Done(); c.run(deadline) }()
	}
	wg.Wait()
	stopFaults()
	sim.ClearFaults()
	if t.Failed() {
		return
	}

	// Every site's outbox drains: nothing dead, nothing expired.
	for _, site := range soakSites {
		var stats map[string]int
		drained := assert.Eventually(t, func() bool {
			stats = soakGet[httpapi.CallStats](t, base, "/v1/sites/"+site+"/outbox/stats").Calls
			return stats["pending"] == 0
		}, soakSettleTimeout, 250*time.Millisecond, "the outbox of %s drains", site)
		if !drained {
			for _, c := range soakCalls(t, base, site) {
				if c.State == "pending" {
					t.Logf("pending: seq %d %s %s %s attempts %d next %s err %+v", c.Seq, c.ExternalEntityID, c.Kind, c.TriggerKey, c.Attempts, c.NextAttemptAt, c.LastError)
				}
			}
			t.FailNow()
		}
		assert.Zero(t, stats["dead"], "dead letters on %s", site)
		assert.Zero(t, stats["expired"], "expired calls on %s", site)
	}

	accepted, wantCalls, delivered, requests, faulted := 0, map[string]int{}, 0, 0, 0
	for _, c := range clients {
		accepted += c.accepted
		wantCalls[c.site] += c.calls
	}
	for _, site := range soakSites {
		calls := soakCalls(t, base, site)
		assert.Equal(t, wantCalls[site], len(calls), "every accepted command's calls were queued on %s", site)
		for _, c := range calls {
			// A call outdated by a newer one of its pair before it was
			// delivered is superseded: never sent after the newer one.
			if c.State == "superseded" {
				continue
			}
			if assert.Equal(t, "delivered", c.State, "call %s", c.ID) {
				delivered++
			}
		}
		soakCheckOnceAndInOrder(t, sim, site, calls)
		for _, r := range sim.Requests(site) {
			if r.Endpoint == wixsim.EndpointToken {
				continue
			}
			requests++
			if r.Faulted {
				faulted++
			}
		}
	}
	for _, c := range clients {
		c.checkLive(sim)
	}
	t.Logf("soak: %s with %d clients: %d commands accepted, %d calls queued and delivered, %d Wix requests of which %d faulted",
		duration, soakClients, accepted, delivered, requests, faulted)
}

// soakServe builds cmd/lifecycle and starts `lifecycle serve` on a free
// port against wixURL; the process is stopped when the test ends.
func soakServe(t *testing.T, wixURL string) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go toolchain absent; the soak test needs it to build cmd/lifecycle: " + err.Error())
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "lifecycle")
	out, err := exec.Command(goTool, "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)

	cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--db", filepath.Join(dir, "soak.db"),
		"--wix-base-url", wixURL, "--wix-app-id", "wixsim-app", "--wix-requests-per-minute", "6000")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "LIFECYCLE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "LIFECYCLE_WIX_APP_SECRET=wixsim-secret", "LIFECYCLE_API_TOKEN="+soakAPIToken)
	var stderr bytes.Buffer
	var mu sync.Mutex
	cmd.Stderr = writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return stderr.Write(p) })
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	exited := make(chan struct{})
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "lifecycle: listening on http://"); ok {
				addr <- a
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		mu.Lock()
		defer mu.Unlock()
		assert.Zero(t, cmd.ProcessState.ExitCode(), "serve exits 0 when interrupted")
		if t.Failed() {
			t.Logf("lifecycle serve stderr:\n%s", stderr.String())
		}
	})
	select {
	case a := <-addr:
		return a
	case <-exited:
		t.Fatalf("lifecycle serve exited: %s", stderr.String())
	case <-time.After(60 * time.Second):
		t.Fatal("lifecycle serve did not say where it listens within a minute")
	}
	return ""
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// soakClient is one booking product: it books, moves, cancels, enrolls and
// leaves on its site, and remembers what it was told, to tell what Wix
// must hold at the end.
type soakClient struct {
	t        *testing.T
	base     string
	n        int
	site     string
	classID  string
	http     *http.Client
	rnd      *rand.Rand
	accepted int // commands the API accepted
	calls    int // calls those commands queue, by DESIGN.md section 4

	appts  map[string]*soakAppt // by ID
	enrs   map[string]bool      // enrollment ID -> still enrolled
	serial int
}

type soakAppt struct {
	start    time.Time
	canceled bool
}

func newSoakClient(t *testing.T, base string, n int) *soakClient {
	c := &soakClient{
		t: t, base: base, n: n, site: soakSites[n%len(soakSites)],
		classID: fmt.Sprintf("50c1a550-0000-4000-8000-%012d", n),
		http:    &http.Client{Timeout: time.Minute},
		rnd:     rand.New(rand.NewPCG(uint64(n), 7)),
		appts:   map[string]*soakAppt{}, enrs: map[string]bool{},
	}
	start := time.Now().UTC().Add(48 * time.Hour).Truncate(time.Second)
	c.post("/classes", map[string]any{"id": c.classID, "title": "Soak yoga", "startsAt": start.Format(time.RFC3339),
		"endsAt": start.Add(time.Hour).Format(time.RFC3339), "capacity": 10000}, http.StatusCreated, 0)
	return c
}

func (c *soakClient) run(deadline time.Time) {
	for time.Now().Before(deadline) && !c.t.Failed() {
		live, enrolled := c.liveAppts(), c.enrolled()
		switch op := c.rnd.IntN(10); {
		case op < 3 || len(live) == 0 && op < 6:
			c.serial++
			id := fmt.Sprintf("50a00000-0000-4000-8000-%04d%08d", c.n, c.serial)
			start := c.start()
			if c.post("/appointments", map[string]any{"id": id, "contactId": fmt.Sprintf("50c00000-0000-4000-8000-%012d", c.n),
				"title": "Soak", "startsAt": start.Format(time.RFC3339), "endsAt": start.Add(time.Hour).Format(time.RFC3339)},
				http.StatusCreated, 2) {
				c.appts[id] = &soakAppt{start: start}
			}
		case op < 5 && len(live) > 0:
			id := live[c.rnd.IntN(len(live))]
			start := c.start()
			calls := 2 // cancel the reminder, report it at the new start
			if start.Equal(c.appts[id].start) {
				calls = 0 // a reschedule to the same start changes nothing at Wix
			}
			if c.post("/appointments/"+id+"/reschedule", map[string]any{"startsAt": start.Format(time.RFC3339),
				"endsAt": start.Add(time.Hour).Format(time.RFC3339)}, http.StatusOK, calls) {
				c.appts[id].start = start
			}
		case op < 6 && len(live) > 0:
			id := live[c.rnd.IntN(len(live))]
			if c.post("/appointments/"+id+"/cancel", map[string]any{"reason": "soak"}, http.StatusOK, 3) {
				c.appts[id].canceled = true
			}
		case op < 9 || len(enrolled) == 0:
			c.serial++
			var e httpapi.Enrollment
			if c.postInto("/classes/"+c.classID+"/enrollments",
				map[string]any{"participantId": fmt.Sprintf("50900000-0000-4000-8000-%04d%08d", c.n, c.serial)},
				http.StatusCreated, 2, &e) {
				c.enrs[e.ID] = true
			}
		default:
			id := enrolled[c.rnd.IntN(len(enrolled))]
			if c.post("/enrollments/"+id+"/leave", nil, http.StatusOK, 3) {
				c.enrs[id] = false
			}
		}
	}
}

// start is a whole second one to three days ahead, so no scheduled report
// expires during the soak.
func (c *soakClient) start() time.Time {
	return time.Now().UTC().Add(24*time.Hour + time.Duration(c.rnd.IntN(48*3600))*time.Second).Truncate(time.Second)
}

func (c *soakClient) liveAppts() []string {
	var out []string
	for id, a := range c.appts {
		if !a.canceled {
			out = append(out, id)
		}
	}
	return out
}

func (c *soakClient) enrolled() []string {
	var out []string
	for id, in := range c.enrs {
		if in {
			out = append(out, id)
		}
	}
	return out
}

func (c *soakClient) post(path string, body any, status, calls int) bool {
	return c.postInto(path, body, status, calls, nil)
}

// postInto sends a command; on the expected status it counts the command
// and the calls it queues. Anything else is an error (t.Errorf: this runs
// on the client's goroutine).
func (c *soakClient) postInto(path string, body any, status, calls int, out any) bool {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Errorf("encode: %v", err)
			return false
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, "http://"+c.base+"/v1/sites/"+c.site+path, rd)
	if err != nil {
		c.t.Errorf("request: %v", err)
		return false
	}
	req.Header.Set("Authorization", "Bearer "+soakAPIToken)
	req.Header.Set("Content-Type", "application/json")
	res, err := c.http.Do(req)
	if err != nil {
		c.t.Errorf("POST %s: %v", path, err)
		return false
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != status {
		c.t.Errorf("POST %s: HTTP %d, want %d: %s", path, res.StatusCode, status, b)
		return false
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			c.t.Errorf("POST %s: decode: %v", path, err)
			return false
		}
	}
	c.accepted++
	c.calls += calls
	return true
}

// checkLive: what is live at Wix for this client's bookings is exactly
// what they call for.
func (c *soakClient) checkLive(sim *wixsim.Sim) {
	got := map[string][]time.Time{}
	for _, ev := range sim.LiveEvents(c.site) {
		got[ev.TriggerKey+" "+ev.ExternalEntityID] = append(got[ev.TriggerKey+" "+ev.ExternalEntityID], ev.At)
	}
	for id, a := range c.appts {
		if a.canceled {
			assert.Len(c.t, got["appointment_canceled "+id], 1, id)
			assert.Empty(c.t, got["appointment_scheduled "+id], id)
			assert.Empty(c.t, got["appointment_starting "+id], id)
			continue
		}
		assert.Len(c.t, got["appointment_scheduled "+id], 1, id)
		if assert.Len(c.t, got["appointment_starting "+id], 1, id) {
			assert.True(c.t, got["appointment_starting "+id][0].Equal(a.start), "%s starts %s, Wix holds %s", id, a.start, got["appointment_starting "+id][0])
		}
	}
	for id, in := range c.enrs {
		want := map[bool]int{true: 1, false: 0}[in]
		assert.Len(c.t, got["participant_enrolled_in_class "+id], want, id)
		assert.Len(c.t, got["class_starting "+id], want, id)
		assert.Len(c.t, got["participant_left_class "+id], 1-want, id)
	}
}

func soakGet[T any](t *testing.T, base, path string) T {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+base+path, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+soakAPIToken)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode, path)
	var out T
	require.NoError(t, json.NewDecoder(res.Body).Decode(&out))
	return out
}

// soakCalls lists a site's outbox, every page, by Seq.
func soakCalls(t *testing.T, base, site string) []httpapi.Call {
	var out []httpapi.Call
	path := "/v1/sites/" + site + "/outbox?limit=" + fmt.Sprint(httpapi.MaxListLimit)
	for {
		page := soakGet[httpapi.CallList](t, base, path)
		out = append(out, page.Calls...)
		if page.NextAfter == nil {
			return out
		}
		path = fmt.Sprintf("/v1/sites/%s/outbox?limit=%d&after=%d", site, httpapi.MaxListLimit, *page.NextAfter)
	}
}

// soakCheckOnceAndInOrder: every report call is one event at Wix (a
// retried report met its idempotency key), no event comes from elsewhere,
// and the requests Wix accepted for each entity follow its calls' commit
// order (a retry repeats the call it retries, and nothing else).
func soakCheckOnceAndInOrder(t *testing.T, sim *wixsim.Sim, site string, calls []httpapi.Call) {
	reports := map[string]bool{}  // report call ID -> delivered (else superseded)
	want := map[string][]string{} // entity -> its delivered calls' kind and trigger, by Seq
	for _, c := range calls {
		if c.Kind == "report" {
			reports[c.ID] = c.State != "superseded"
		}
		if c.State == "superseded" {
			continue
		}
		if s, op := want[c.ExternalEntityID], c.Kind+" "+c.TriggerKey; len(s) == 0 || s[len(s)-1] != op {
			want[c.ExternalEntityID] = append(s, op) // compared as got is: repeats collapsed
		}
	}
	events := map[string]int{}
	for _, ev := range sim.Events(site) {
		events[ev.IdempotencyKey]++
	}
	for key, n := range events {
		_, known := reports[key]
		assert.True(t, known, "event with idempotency key %s comes from no report call", key)
		assert.Equal(t, 1, n, "report %s is one event at Wix", key)
	}
	for id, delivered := range reports {
		if delivered {
			assert.Equal(t, 1, events[id], "report %s reached Wix", id)
		}
	}
	got := map[string][]string{}
	for _, r := range sim.Requests(site) {
		if r.Status != http.StatusOK || r.Endpoint == wixsim.EndpointToken {
			continue
		}
		kind := "report"
		if r.Endpoint == wixsim.EndpointCancel || r.Endpoint == wixsim.EndpointBulkCancel {
			kind = "cancel"
		}
		for _, e := range r.ExternalEntityIDs {
			op := kind + " " + r.TriggerKey
			if s := got[e]; len(s) == 0 || s[len(s)-1] != op {
				got[e] = append(got[e], op)
			}
		}
	}
	// A superseded call may have reached Wix before it was outdated; the
	// delivered calls reached it in commit order among what Wix accepted.
	for entity, ops := range want {
		assert.True(t, subsequence(ops, got[entity]), "the calls of %s reached Wix in commit order: want %v within %v", entity, ops, got[entity])
	}
}

// subsequence: every element of want appears in got, in order.
func subsequence(want, got []string) bool {
	i := 0
	for _, g := range got {
		if i < len(want) && want[i] == g {
			i++
		}
	}
	return i == len(want)
}

// injectFaults injects the faults in turn, one every interval, until the
// returned function is called; that function returns once injection
// stopped.
func injectFaults(sim *wixsim.Sim, interval time.Duration, faults ...func()) (stop func()) {
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-quit:
				return
			case <-tick.C:
			}
			faults[i%len(faults)]()
		}
	}()
	return func() { close(quit); <-done }
}
