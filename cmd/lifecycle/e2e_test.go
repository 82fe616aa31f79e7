//go:build unix

package main

// End-to-end tests of `lifecycle serve`: the test binary builds the command
// once, runs it as a child process against the Wix simulator's HTTP server
// (in this process), drives it over real HTTP with the API token, and
// asserts what reaches the simulator. They are the "Done when" of issue 5:
// the source document's scenarios, a reschedule, a 300-participant class
// cancel, every error code, a restart after SIGKILL with calls pending, and
// the health and metrics routes.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/adapters/httpapi"
	"github.com/bookable/lifecycle/adapters/wixsim"
	"github.com/bookable/lifecycle/application"
)

// Credentials the simulator accepts and the child is given.
const (
	e2eAppID     = "a99e2e00-0000-4000-8000-000000000001"
	e2eAppSecret = "e2e-app-secret"
	e2eAPIToken  = "e2e-api-token"
)

// Generous waits: the machine may be loaded and the child built with -race.
const (
	e2eStartTimeout    = 60 * time.Second
	e2eDeliveryTimeout = 45 * time.Second
	e2eStopTimeout     = 30 * time.Second
	e2ePoll            = 25 * time.Millisecond
)

// built is the lifecycle binary, built once per test binary.
var built struct {
	once sync.Once
	dir  string
	bin  string
	noGo error // the go toolchain is absent: the tests skip
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		_ = os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// lifecycleBinary builds cmd/lifecycle on first use and returns its path.
// It skips the test when the go toolchain is not installed.
func lifecycleBinary(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		goTool, err := exec.LookPath("go")
		if err != nil {
			built.noGo = err
			return
		}
		if built.dir, built.err = os.MkdirTemp("", "lifecycle-e2e-"); built.err != nil {
			return
		}
		built.bin = filepath.Join(built.dir, "lifecycle")
		args := []string{"build"}
		if raceBuild {
			args = append(args, "-race")
		}
		args = append(args, "-o", built.bin, ".")
		out, err := exec.Command(goTool, args...).CombinedOutput()
		if err != nil {
			built.err = fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out)
		}
	})
	if built.noGo != nil {
		t.Skipf("go toolchain absent (`go` is not in PATH); end-to-end tests need it to build cmd/lifecycle: %v", built.noGo)
	}
	require.NoError(t, built.err)
	return built.bin
}

// wixEnv is the simulator and its HTTP server.
type wixEnv struct {
	sim *wixsim.Sim
	url string
}

// newWix starts the simulator on the wall clock, with the default
// catalog's triggers, serving HTTP until the test ends.
func newWix(t *testing.T) *wixEnv {
	t.Helper()
	sim := wixsim.New(nil, wixsim.WithCredentials(e2eAppID, e2eAppSecret))
	require.NoError(t, sim.RegisterTriggers(application.DefaultCatalog()))
	srv := sim.NewServer()
	t.Cleanup(srv.Close)
	return &wixEnv{sim: sim, url: srv.URL}
}

// automate installs automations on a site, failing the test on error.
func (w *wixEnv) automate(t *testing.T, site string, as ...wixsim.Automation) {
	t.Helper()
	for _, a := range as {
		require.NoError(t, w.sim.AddAutomation(site, a))
	}
}

// child is one `lifecycle serve` process.
type child struct {
	t      *testing.T
	cmd    *exec.Cmd
	base   string // http://127.0.0.1:PORT
	stderr *syncBuffer
	done   chan struct{} // closed when the process has exited
	state  *os.ProcessState
}

// startServe runs `lifecycle serve` on 127.0.0.1:0 with db, against wix,
// and waits until it says where it listens. Unless the test stopped it,
// it is sent SIGTERM when the test ends and must exit 0.
func startServe(t *testing.T, wix *wixEnv, db string, extra ...string) *child {
	t.Helper()
	bin := lifecycleBinary(t)
	args := append([]string{"serve", "--addr", "127.0.0.1:0", "--db", db,
		"--wix-base-url", wix.url, "--wix-app-id", e2eAppID}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = childAttr()
	cmd.Env = append(environWithoutLifecycle(),
		"LIFECYCLE_WIX_APP_SECRET="+e2eAppSecret,
		"LIFECYCLE_API_TOKEN="+e2eAPIToken,
	)
	stdout := newListenWatcher()
	c := &child{t: t, cmd: cmd, stderr: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = stdout, c.stderr
	require.NoError(t, cmd.Start())
	go func() {
		_ = cmd.Wait()
		c.state = cmd.ProcessState
		close(c.done)
	}()
	t.Cleanup(func() {
		select {
		case <-c.done:
		default:
			code := c.stop(syscall.SIGTERM)
			assert.Equal(t, 0, code, "lifecycle serve exits 0 on SIGTERM (graceful shutdown)")
			logs := c.stderr.String()
			assert.NotContains(t, logs, "DATA RACE")
			assert.NotContains(t, logs, "level=ERROR", "lifecycle serve logged no error")
		}
		if t.Failed() {
			t.Logf("lifecycle serve stderr:\n%s", c.stderr.String())
		}
	})
	select {
	case addr := <-stdout.addr:
		c.base = "http://" + addr
	case <-c.done:
		t.Fatalf("lifecycle serve exited before listening (%v); stderr:\n%s", c.state, c.stderr.String())
	case <-time.After(e2eStartTimeout):
		t.Fatalf("lifecycle serve did not print its address within %v; stderr:\n%s", e2eStartTimeout, c.stderr.String())
	}
	return c
}

// stop sends sig and waits for the process to exit (SIGKILL after
// e2eStopTimeout). It returns the exit code, -1 when a signal ended it.
func (c *child) stop(sig syscall.Signal) int {
	c.t.Helper()
	_ = c.cmd.Process.Signal(sig)
	select {
	case <-c.done:
	case <-time.After(e2eStopTimeout):
		c.t.Errorf("lifecycle serve still running %v after %v; killing it", e2eStopTimeout, sig)
		_ = c.cmd.Process.Kill()
		<-c.done
	}
	return c.state.ExitCode()
}

// kill ends the process with SIGKILL, as a crash would.
func (c *child) kill() {
	c.t.Helper()
	c.stop(syscall.SIGKILL)
	ws, ok := c.state.Sys().(syscall.WaitStatus)
	require.True(c.t, ok)
	require.True(c.t, ws.Signaled() && ws.Signal() == syscall.SIGKILL, "killed by SIGKILL: %v", c.state)
}

// environWithoutLifecycle is this process's environment without LIFECYCLE_*
// variables, which the command would read as flags and secrets.
func environWithoutLifecycle() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "LIFECYCLE_") {
			env = append(env, kv)
		}
	}
	return env
}

// listenWatcher is the child's stdout: it sends the address of the
// "listening on" line once.
type listenWatcher struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	sent bool
	addr chan string
}

var listeningLine = regexp.MustCompile(`lifecycle: listening on http://(\S+)\n`)

func newListenWatcher() *listenWatcher { return &listenWatcher{addr: make(chan string, 1)} }

func (w *listenWatcher) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if !w.sent {
		if m := listeningLine.FindSubmatch(w.buf.Bytes()); m != nil {
			w.sent = true
			w.addr <- string(m[1])
		}
	}
	return len(p), nil
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// reply is an HTTP answer.
type reply struct {
	status int
	header http.Header
	body   []byte
}

// do sends one request to the child with the API token. body is nil (no
// body), a string (sent as is) or a value sent as JSON.
func (c *child) do(method, path string, body any) reply {
	return c.doAuth(method, path, body, "Bearer "+e2eAPIToken)
}

// doAuth is do with the given Authorization header ("" for none).
func (c *child) doAuth(method, path string, body any, authorization string) reply {
	c.t.Helper()
	r, err := c.send(method, path, body, authorization)
	require.NoError(c.t, err)
	return r
}

// send is doAuth returning its error, for goroutines other than the test's.
func (c *child) send(method, path string, body any, authorization string) (reply, error) {
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			return reply{}, err
		}
		r = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, c.base+path, r)
	if err != nil {
		return reply{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return reply{}, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, fmt.Errorf("%s %s: read body: %w", method, path, err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: data}, nil
}

// httpClient talks to the children; its timeout only stops a hung test.
var httpClient = &http.Client{Timeout: 60 * time.Second}

// okJSON requires status and decodes the body as T.
func okJSON[T any](t *testing.T, r reply, status int) T {
	t.Helper()
	require.Equal(t, status, r.status, "body: %s", r.body)
	var v T
	require.NoError(t, json.Unmarshal(r.body, &v), "body: %s", r.body)
	return v
}

// stats returns the site's calls by state.
func (c *child) stats(site string) map[string]int {
	c.t.Helper()
	return okJSON[httpapi.CallStats](c.t, c.do("GET", "/v1/sites/"+site+"/outbox/stats", nil), 200).Calls
}

// waitSettled waits until the site has no pending call, then requires that
// none is dead or expired, and returns the stats.
func (c *child) waitSettled(site string) map[string]int {
	c.t.Helper()
	var last map[string]int
	ok := assert.Eventually(c.t, func() bool {
		last = c.stats(site)
		return last["pending"] == 0
	}, e2eDeliveryTimeout, e2ePoll)
	if !ok {
		for _, call := range c.calls(site) {
			c.t.Logf("call %d %s %s %s %s attempts=%d next=%s err=%+v", call.Seq, call.ExternalEntityID, call.Kind, call.TriggerKey, call.State, call.Attempts, call.NextAttemptAt, call.LastError)
		}
	}
	require.True(c.t, ok, "site %s still has pending calls: %v", site, last)
	require.Zero(c.t, last["dead"], "dead calls: %v", last)
	require.Zero(c.t, last["expired"], "expired calls: %v", last)
	return last
}

// calls lists all the site's calls in commit order, a page at a time.
func (c *child) calls(site string) []httpapi.Call {
	c.t.Helper()
	var out []httpapi.Call
	path := "/v1/sites/" + site + "/outbox?limit=1000"
	for {
		page := okJSON[httpapi.CallList](c.t, c.do("GET", path, nil), 200)
		out = append(out, page.Calls...)
		if page.NextAfter == nil {
			return out
		}
		path = fmt.Sprintf("/v1/sites/%s/outbox?limit=1000&after=%d", site, *page.NextAfter)
	}
}

// kindOf maps a simulator endpoint to the call kind it carries.
func kindOf(e wixsim.Endpoint) string {
	switch e {
	case wixsim.EndpointReport, wixsim.EndpointBulkReport:
		return "report"
	case wixsim.EndpointCancel, wixsim.EndpointBulkCancel:
		return "cancel"
	}
	return string(e)
}

// accepted returns the site's event requests the simulator answered 200,
// in arrival order.
func accepted(sim *wixsim.Sim, site string) []wixsim.Request {
	var out []wixsim.Request
	for _, r := range sim.Requests(site) {
		if r.Endpoint != wixsim.EndpointToken && r.Status == http.StatusOK {
			out = append(out, r)
		}
	}
	return out
}

// stepsByEntity returns, per externalEntityId, the "kind triggerKey" of
// every accepted request naming it, in arrival order.
func stepsByEntity(sim *wixsim.Sim, site string) map[string][]string {
	out := map[string][]string{}
	for _, r := range accepted(sim, site) {
		for _, e := range r.ExternalEntityIDs {
			out[e] = append(out[e], kindOf(r.Endpoint)+" "+r.TriggerKey)
		}
	}
	return out
}

// requireAllAccepted requires that every event request of the site was
// answered 200 (no fault was injected).
func requireAllAccepted(t *testing.T, sim *wixsim.Sim, site string) {
	t.Helper()
	for _, r := range sim.Requests(site) {
		require.Equal(t, http.StatusOK, r.Status, "request %d %s %s", r.Seq, r.Endpoint, r.TriggerKey)
	}
}

// liveSet returns the site's live events as "triggerKey entity".
func liveSet(sim *wixsim.Sim, site string) []string {
	var out []string
	for _, e := range sim.LiveEvents(site) {
		out = append(out, e.TriggerKey+" "+e.ExternalEntityID)
	}
	slices.Sort(out)
	return out
}

// at is a time d from now, whole seconds, as the API takes it.
func at(d time.Duration) time.Time { return time.Now().UTC().Truncate(time.Second).Add(d) }

func rfc(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func appointmentBody(id, contact string, start time.Time, title string) map[string]any {
	b := map[string]any{"contactId": contact, "startsAt": rfc(start), "endsAt": rfc(start.Add(time.Hour)), "title": title}
	if id != "" {
		b["id"] = id
	}
	return b
}

func classBody(title string, start time.Time, capacity int) map[string]any {
	return map[string]any{"title": title, "startsAt": rfc(start), "endsAt": rfc(start.Add(time.Hour)), "capacity": capacity}
}

// newChild starts a fresh simulator and child on a new database.
func newChild(t *testing.T, extra ...string) (*wixEnv, *child) {
	t.Helper()
	wix := newWix(t)
	return wix, startServe(t, wix, filepath.Join(t.TempDir(), "lifecycle.db"), extra...)
}

// Source scenario 1: an appointment is scheduled, then canceled. Wix gets
// the two reports, the cancellation report and the two cancels, in commit
// order, all by the appointment ID; the reminder never runs.
func TestE2EAppointmentScheduledThenCanceled(t *testing.T) {
	wix, srv := newChild(t)
	site := uuid.NewString()
	wix.automate(t, site,
		wixsim.Automation{Name: "confirmation", TriggerKey: "appointment_scheduled"},
		wixsim.Automation{Name: "reminder 1 day before", TriggerKey: "appointment_starting", Offset: -24 * time.Hour},
		wixsim.Automation{Name: "sorry to see you go", TriggerKey: "appointment_canceled"},
	)

	a := okJSON[httpapi.Appointment](t, srv.do("POST", "/v1/sites/"+site+"/appointments",
		appointmentBody("", uuid.NewString(), at(72*time.Hour), "haircut")), 201)
	assert.Equal(t, "scheduled", a.State)
	// The reports reach Wix before the cancel commits: a cancel committed
	// first would supersede them, and they would never be sent.
	srv.waitSettled(site)
	canceled := okJSON[httpapi.Appointment](t, srv.do("POST", "/v1/sites/"+site+"/appointments/"+a.ID+"/cancel",
		map[string]string{"reason": "client called"}), 200)
	assert.Equal(t, "canceled", canceled.State)

	st := srv.waitSettled(site)
	assert.Equal(t, 5, st["delivered"])
	requireAllAccepted(t, wix.sim, site)
	var got []string
	for _, r := range accepted(wix.sim, site) {
		assert.Equal(t, []string{a.ID}, r.ExternalEntityIDs, "every call is by the appointment ID")
		got = append(got, kindOf(r.Endpoint)+" "+r.TriggerKey)
	}
	assert.Equal(t, []string{
		"report appointment_scheduled",
		"report appointment_starting",
		"report appointment_canceled",
		"cancel appointment_scheduled",
		"cancel appointment_starting",
	}, got)

	assert.Equal(t, []string{"appointment_canceled " + a.ID}, liveSet(wix.sim, site),
		"no scheduled or starting event of the appointment is live; only the cancellation notice")
	assert.Empty(t, wix.sim.Activations(site, wixsim.ActivationPending), "nothing left to run")
	canceledActs := wix.sim.Activations(site, wixsim.ActivationCanceled)
	require.Len(t, canceledActs, 1)
	assert.Equal(t, "reminder 1 day before", canceledActs[0].Automation)
}

// Source scenario 2: a class, three participants enroll, one leaves, the
// class is canceled. Each enrollment's calls go by its enrollment ID, in
// order; afterwards only the leave and cancellation notices are live, and
// no class reminder is pending.
func TestE2EClassEnrollLeaveCancel(t *testing.T) {
	wix, srv := newChild(t)
	site := uuid.NewString()
	wix.automate(t, site,
		wixsim.Automation{Name: "welcome", TriggerKey: "participant_enrolled_in_class"},
		wixsim.Automation{Name: "class starts in 1 hour", TriggerKey: "class_starting", Offset: -time.Hour},
	)
	c := okJSON[httpapi.Class](t, srv.do("POST", "/v1/sites/"+site+"/classes", classBody("yoga", at(72*time.Hour), 10)), 201)

	enroll := func() httpapi.Enrollment {
		return okJSON[httpapi.Enrollment](t, srv.do("POST", "/v1/sites/"+site+"/classes/"+c.ID+"/enrollments",
			map[string]string{"participantId": uuid.NewString()}), 201)
	}
	ann, bob, cem := enroll(), enroll(), enroll()
	srv.waitSettled(site) // the reports reach Wix before anything supersedes them
	left := okJSON[httpapi.Enrollment](t, srv.do("POST", "/v1/sites/"+site+"/enrollments/"+bob.ID+"/leave", nil), 200)
	assert.Equal(t, "left", left.State)
	srv.waitSettled(site)
	cl := okJSON[httpapi.Class](t, srv.do("POST", "/v1/sites/"+site+"/classes/"+c.ID+"/cancel", map[string]string{"reason": "teacher ill"}), 200)
	assert.Equal(t, "canceled", cl.State)

	st := srv.waitSettled(site)
	assert.Equal(t, 15, st["delivered"])
	requireAllAccepted(t, wix.sim, site)
	stayed := []string{
		"report participant_enrolled_in_class",
		"report class_starting",
		"report class_canceled",
		"cancel participant_enrolled_in_class",
		"cancel class_starting",
	}
	assert.Equal(t, map[string][]string{
		ann.ID: stayed,
		cem.ID: stayed,
		bob.ID: {
			"report participant_enrolled_in_class",
			"report class_starting",
			"report participant_left_class",
			"cancel participant_enrolled_in_class",
			"cancel class_starting",
		},
	}, stepsByEntity(wix.sim, site))

	want := []string{"class_canceled " + ann.ID, "class_canceled " + cem.ID, "participant_left_class " + bob.ID}
	slices.Sort(want)
	assert.Equal(t, want, liveSet(wix.sim, site))
	for _, e := range wix.sim.LiveEvents(site) {
		if e.ExternalEntityID == ann.ID {
			var p map[string]any
			require.NoError(t, json.Unmarshal(e.Payload, &p))
			assert.Equal(t, ann.ParticipantID, p["participantId"])
			assert.Equal(t, "teacher ill", p["reason"])
		}
	}
	assert.Empty(t, wix.sim.Activations(site, wixsim.ActivationPending), "no class reminder left")
	assert.Len(t, wix.sim.Activations(site, wixsim.ActivationCanceled), 3, "each enrollment's reminder was canceled")

	for id, state := range map[string]string{ann.ID: "class_canceled", bob.ID: "left", cem.ID: "class_canceled"} {
		e := okJSON[httpapi.Enrollment](t, srv.do("GET", "/v1/sites/"+site+"/enrollments/"+id, nil), 200)
		assert.Equal(t, state, e.State, id)
	}
}

// A reschedule cancels the appointment_starting event and reports it again
// with the new date-time, so the reminder moves with the appointment.
func TestE2EReschedule(t *testing.T) {
	wix, srv := newChild(t)
	site := uuid.NewString()
	wix.automate(t, site, wixsim.Automation{Name: "reminder 1 day before", TriggerKey: "appointment_starting", Offset: -24 * time.Hour})
	first, moved := at(72*time.Hour), at(96*time.Hour)

	a := okJSON[httpapi.Appointment](t, srv.do("POST", "/v1/sites/"+site+"/appointments",
		appointmentBody("", uuid.NewString(), first, "colouring")), 201)
	srv.waitSettled(site) // the first reminder is live at Wix before the move
	r := okJSON[httpapi.Appointment](t, srv.do("POST", "/v1/sites/"+site+"/appointments/"+a.ID+"/reschedule",
		map[string]string{"startsAt": rfc(moved), "endsAt": rfc(moved.Add(time.Hour))}), 200)
	assert.Equal(t, rfc(moved), r.StartsAt)

	srv.waitSettled(site)
	requireAllAccepted(t, wix.sim, site)
	assert.Equal(t, map[string][]string{a.ID: {
		"report appointment_scheduled",
		"report appointment_starting",
		"cancel appointment_starting",
		"report appointment_starting",
	}}, stepsByEntity(wix.sim, site))

	var starting []wixsim.Event
	for _, e := range wix.sim.Events(site) {
		if e.TriggerKey == "appointment_starting" {
			starting = append(starting, e)
		}
	}
	require.Len(t, starting, 2)
	assert.True(t, starting[0].Canceled)
	assert.True(t, starting[0].At.Equal(first), "first report at %v", starting[0].At)
	assert.False(t, starting[1].Canceled)
	assert.True(t, starting[1].At.Equal(moved), "second report at %v", starting[1].At)
	var p map[string]any
	require.NoError(t, json.Unmarshal(starting[1].Payload, &p))
	assert.Equal(t, rfc(moved), p["startsAt"], "the new date-time is in the payload")

	canceled := wix.sim.Activations(site, wixsim.ActivationCanceled)
	pending := wix.sim.Activations(site, wixsim.ActivationPending)
	require.Len(t, canceled, 1)
	require.Len(t, pending, 1)
	assert.True(t, canceled[0].DueAt.Equal(first.Add(-24*time.Hour)))
	assert.True(t, pending[0].DueAt.Equal(moved.Add(-24*time.Hour)), "the reminder moved to a day before the new time")
}

// Canceling a class of 300 participants reaches Wix in 9 bulk requests (a
// report and two cancels per enrollment, 100 items a request), and
// afterwards no class_starting event is live.
func TestE2ELargeClassCancelIsBulk(t *testing.T) {
	// A limit high enough that the enrollments are not throttled: the test
	// is about batching, not the rate limit.
	wix, srv := newChild(t, "--wix-requests-per-minute", "1000000")
	site := uuid.NewString()
	wix.automate(t, site, wixsim.Automation{Name: "class starts in 1 hour", TriggerKey: "class_starting", Offset: -time.Hour})
	const n = 300
	c := okJSON[httpapi.Class](t, srv.do("POST", "/v1/sites/"+site+"/classes", classBody("spinning", at(72*time.Hour), n)), 201)

	// Four clients enroll at once, as several front ends would.
	var wg sync.WaitGroup
	errs := make(chan error, n)
	next := make(chan int, n)
	for i := range n {
		next <- i
	}
	close(next)
	for range 4 {
		wg.Go(func() {
			for range next {
				r, err := srv.send("POST", "/v1/sites/"+site+"/classes/"+c.ID+"/enrollments",
					map[string]string{"participantId": uuid.NewString()}, "Bearer "+e2eAPIToken)
				if err != nil {
					errs <- err
				} else if r.status != 201 {
					errs <- fmt.Errorf("enroll: %d %s", r.status, r.body)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	st := srv.waitSettled(site)
	require.Equal(t, 2*n, st["delivered"])
	before := wix.sim.RequestCount(site)
	full := okJSON[httpapi.Class](t, srv.do("GET", "/v1/sites/"+site+"/classes/"+c.ID, nil), 200)
	require.Equal(t, n, full.Enrolled, "every seat is taken")

	okJSON[httpapi.Class](t, srv.do("POST", "/v1/sites/"+site+"/classes/"+c.ID+"/cancel", nil), 200)
	st = srv.waitSettled(site)
	assert.Equal(t, 5*n, st["delivered"])
	requireAllAccepted(t, wix.sim, site)

	var events []wixsim.Request
	for _, r := range wix.sim.Requests(site) {
		if r.Endpoint != wixsim.EndpointToken {
			events = append(events, r)
		}
	}
	require.Len(t, events, before+9, "the cancel of %d enrollments takes 9 requests", n)
	items := map[string]int{}
	for _, r := range events[before:] {
		assert.Contains(t, []wixsim.Endpoint{wixsim.EndpointBulkReport, wixsim.EndpointBulkCancel}, r.Endpoint)
		assert.Len(t, r.ExternalEntityIDs, application.MaxBatch, "%s %s", r.Endpoint, r.TriggerKey)
		items[kindOf(r.Endpoint)+" "+r.TriggerKey] += len(r.ExternalEntityIDs)
	}
	assert.Equal(t, map[string]int{
		"report class_canceled":                n,
		"cancel participant_enrolled_in_class": n,
		"cancel class_starting":                n,
	}, items)

	for _, e := range wix.sim.LiveEvents(site) {
		assert.NotEqual(t, "class_starting", e.TriggerKey, "class_starting for %s is still live", e.ExternalEntityID)
	}
	assert.Empty(t, wix.sim.Activations(site, wixsim.ActivationPending), "no class reminder left")
	assert.Len(t, wix.sim.Activations(site, wixsim.ActivationCanceled), n)
}

// Every error code over HTTP, and that no refused request queued a call.
func TestE2EErrorCodes(t *testing.T) {
	wix, srv := newChild(t)
	site, other := uuid.NewString(), uuid.NewString()
	base := "/v1/sites/" + site

	// What the refusals refer to.
	contact := uuid.NewString()
	a := okJSON[httpapi.Appointment](t, srv.do("POST", base+"/appointments", appointmentBody("", contact, at(72*time.Hour), "cut")), 201)
	gone := okJSON[httpapi.Appointment](t, srv.do("POST", base+"/appointments", appointmentBody("", contact, at(73*time.Hour), "dye")), 201)
	okJSON[httpapi.Appointment](t, srv.do("POST", base+"/appointments/"+gone.ID+"/cancel", nil), 200)
	idem := appointmentBody(uuid.NewString(), contact, at(74*time.Hour), "trim")
	first := okJSON[httpapi.Appointment](t, srv.do("POST", base+"/appointments", idem), 201)
	again := okJSON[httpapi.Appointment](t, srv.do("POST", base+"/appointments", idem), 201)
	assert.Equal(t, first, again, "the same create again is the same result")
	full := okJSON[httpapi.Class](t, srv.do("POST", base+"/classes", classBody("private", at(72*time.Hour), 1)), 201)
	seated := uuid.NewString()
	okJSON[httpapi.Enrollment](t, srv.do("POST", base+"/classes/"+full.ID+"/enrollments", map[string]string{"participantId": seated}), 201)

	baseline := srv.waitSettled(site)
	otherBaseline := srv.stats(other)
	requests := wix.sim.RequestCount(site)

	conflicting := appointmentBody(idem["id"].(string), contact, at(75*time.Hour), "trim")
	bearer := "Bearer " + e2eAPIToken
	tests := []struct {
		name, method, path string
		body               any
		auth               string
		status             int
		code               string
	}{
		{"malformed JSON", "POST", base + "/appointments", `{"contactId": `, bearer, 400, httpapi.CodeInvalidArgument},
		{"unknown field", "POST", base + "/appointments",
			map[string]any{"contactId": contact, "startsAt": rfc(at(48 * time.Hour)), "endsAt": rfc(at(49 * time.Hour)), "colour": "red"},
			bearer, 400, httpapi.CodeInvalidArgument},
		{"site not a UUID", "POST", "/v1/sites/not-a-site/appointments", appointmentBody("", contact, at(48*time.Hour), "x"), bearer, 400, httpapi.CodeInvalidArgument},
		{"missing field", "POST", base + "/appointments",
			map[string]any{"startsAt": rfc(at(48 * time.Hour)), "endsAt": rfc(at(49 * time.Hour))}, bearer, 400, httpapi.CodeInvalidArgument},
		{"participant not a UUID", "POST", base + "/classes/" + full.ID + "/enrollments",
			map[string]string{"participantId": "bob"}, bearer, 400, httpapi.CodeInvalidArgument},
		{"id not a UUID", "GET", base + "/appointments/42", nil, bearer, 400, httpapi.CodeInvalidArgument},
		{"start in the past", "POST", base + "/appointments", appointmentBody("", contact, at(-2*time.Hour), "x"), bearer, 400, httpapi.CodeInvalidArgument},
		{"end before start", "POST", base + "/appointments",
			map[string]any{"contactId": contact, "startsAt": rfc(at(49 * time.Hour)), "endsAt": rfc(at(48 * time.Hour))},
			bearer, 400, httpapi.CodeInvalidArgument},
		{"reschedule end before start", "POST", base + "/appointments/" + a.ID + "/reschedule",
			map[string]any{"startsAt": rfc(at(49 * time.Hour)), "endsAt": rfc(at(48 * time.Hour))}, bearer, 400, httpapi.CodeInvalidArgument},
		{"no token", "POST", base + "/appointments/" + a.ID + "/cancel", nil, "", 401, httpapi.CodeUnauthenticated},
		{"wrong token", "POST", base + "/appointments/" + a.ID + "/cancel", nil, "Bearer not-the-token", 401, httpapi.CodeUnauthenticated},
		{"unknown appointment", "POST", base + "/appointments/" + uuid.NewString() + "/cancel", nil, bearer, 404, httpapi.CodeNotFound},
		{"another site's appointment", "GET", "/v1/sites/" + other + "/appointments/" + a.ID, nil, bearer, 404, httpapi.CodeNotFound},
		{"cancel another site's appointment", "POST", "/v1/sites/" + other + "/appointments/" + a.ID + "/cancel", nil, bearer, 404, httpapi.CodeNotFound},
		{"enroll in another site's class", "POST", "/v1/sites/" + other + "/classes/" + full.ID + "/enrollments",
			map[string]string{"participantId": uuid.NewString()}, bearer, 404, httpapi.CodeNotFound},
		{"cancel a canceled appointment", "POST", base + "/appointments/" + gone.ID + "/cancel", nil, bearer, 409, httpapi.CodeTransitionNotAllowed},
		{"class full", "POST", base + "/classes/" + full.ID + "/enrollments", map[string]string{"participantId": uuid.NewString()}, bearer, 409, httpapi.CodeClassFull},
		{"already enrolled", "POST", base + "/classes/" + full.ID + "/enrollments", map[string]string{"participantId": seated}, bearer, 409, httpapi.CodeAlreadyEnrolled},
		{"same id, other details", "POST", base + "/appointments", conflicting, bearer, 409, httpapi.CodeConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := srv.doAuth(tt.method, tt.path, tt.body, tt.auth)
			p := okJSON[httpapi.Problem](t, r, tt.status)
			assert.Equal(t, tt.code, p.Code)
			assert.Equal(t, tt.status, p.Status)
			assert.Equal(t, "application/problem+json", r.header.Get("Content-Type"))
			assert.Equal(t, baseline, srv.stats(site), "a refused request queues no call")
			assert.Equal(t, otherBaseline, srv.stats(other), "nor on the other site")
		})
	}
	assert.Equal(t, requests, wix.sim.RequestCount(site), "nothing more reached Wix")
	got := okJSON[httpapi.Appointment](t, srv.do("GET", base+"/appointments/"+a.ID, nil), 200)
	assert.Equal(t, "scheduled", got.State, "the refused cancels changed nothing")
	assert.Equal(t, a.Version, got.Version)
}

// A crash with calls pending loses nothing: Wix fails every request (the
// first two after applying them), the process is killed with SIGKILL, and
// a new process on the same database delivers every call, once per
// idempotency key and in order per entity.
func TestE2ERestartAfterSIGKILLDeliversPendingCalls(t *testing.T) {
	wix := newWix(t)
	db := filepath.Join(t.TempDir(), "lifecycle.db")
	site := uuid.NewString()
	base := "/v1/sites/" + site
	// A long Retry-After keeps the failed calls waiting, so no request is
	// in flight (and no call leased) when the process dies.
	const wait = 5 * time.Second
	wix.sim.Inject(wixsim.Fault{Site: site, Times: 2, Status: 503, RetryAfter: wait, AfterApply: true})
	wix.sim.Inject(wixsim.Fault{Site: site, Times: 1000, Status: 503, RetryAfter: wait})

	// The dead process's relay lease holds the database until it runs out;
	// a short one lets the second process take over within the test.
	lease := []string{"--relay-lease", "10s", "--wix-timeout", "3s"}
	first := startServe(t, wix, db, lease...)
	contact := uuid.NewString()
	schedule := func(title string, d time.Duration) httpapi.Appointment {
		return okJSON[httpapi.Appointment](t, first.do("POST", base+"/appointments", appointmentBody("", contact, at(d), title)), 201)
	}
	kept, canceled, moved := schedule("kept", 72*time.Hour), schedule("canceled", 73*time.Hour), schedule("moved", 74*time.Hour)
	okJSON[httpapi.Appointment](t, first.do("POST", base+"/appointments/"+canceled.ID+"/cancel", nil), 200)
	newStart := at(98 * time.Hour)
	okJSON[httpapi.Appointment](t, first.do("POST", base+"/appointments/"+moved.ID+"/reschedule",
		map[string]string{"startsAt": rfc(newStart), "endsAt": rfc(newStart.Add(time.Hour))}), 200)
	const total = 2 + 5 + 4

	// Wait until each appointment's first call has failed and its failure
	// is written (attempts 1, due again in 5s), then crash. A call whose
	// request is answered but not yet settled would stay leased for the
	// relay's 2-minute lease after the crash; that path is not tested here.
	entities := []string{kept.ID, canceled.ID, moved.ID}
	require.Eventually(t, func() bool {
		head := map[string]bool{}
		for _, c := range first.calls(site) {
			if c.State == "superseded" {
				continue // outdated by a later call of its pair: never sent
			}
			if _, seen := head[c.ExternalEntityID]; !seen {
				head[c.ExternalEntityID] = c.State == "pending" && c.Attempts >= 1
			}
		}
		for _, e := range entities {
			if !head[e] {
				return false
			}
		}
		return true
	}, e2eDeliveryTimeout, e2ePoll)
	st := first.stats(site)
	require.Equal(t, total, st["pending"]+st["superseded"], "every call is pending or superseded: %v", st)
	require.Empty(t, accepted(wix.sim, site), "Wix accepted nothing yet")
	first.kill()
	crashedAt := time.Now()

	wix.sim.ClearFaults()
	second := startServe(t, wix, db, lease...)
	st = second.waitSettled(site)
	// The cancel and the reschedule committed while the first reports were
	// failing: the reports they outdate are superseded, never sent after
	// them, and the rest are delivered.
	assert.Equal(t, total, st["delivered"]+st["superseded"], "%v", st)

	// Once per call and in order per entity: the accepted requests per
	// entity are exactly the entity's calls in commit order.
	calls := second.calls(site)
	require.Len(t, calls, total)
	want := map[string][]string{}
	reports := map[string]httpapi.Call{}
	superseded := map[string]bool{}
	for _, c := range calls {
		if c.Kind == "report" {
			reports[c.ID] = c
		}
		if c.State == "superseded" {
			superseded[c.ID] = true
			continue
		}
		assert.Equal(t, "delivered", c.State)
		want[c.ExternalEntityID] = append(want[c.ExternalEntityID], c.Kind+" "+c.TriggerKey)
	}
	assert.Equal(t, want, stepsByEntity(wix.sim, site))

	// Once per idempotency key at Wix: every report call is one event, even
	// those Wix applied before failing the answer and got again.
	perKey := map[string]int{}
	reportedAt := map[string]time.Time{}
	for _, e := range wix.sim.Events(site) {
		perKey[e.IdempotencyKey]++
		reportedAt[e.IdempotencyKey] = e.ReportedAt
		c, ok := reports[e.IdempotencyKey]
		if assert.True(t, ok, "event %s %s has no report call", e.TriggerKey, e.IdempotencyKey) {
			assert.Equal(t, c.TriggerKey, e.TriggerKey)
			assert.Equal(t, c.ExternalEntityID, e.ExternalEntityID)
		}
	}
	for id := range reports {
		if superseded[id] {
			// Sent at most once: in a request Wix applied before failing it.
			assert.LessOrEqual(t, perKey[id], 1, "superseded report %s", id)
			continue
		}
		assert.Equal(t, 1, perKey[id], "report call %s is one event at Wix", id)
	}
	// The first two requests took effect at Wix before their answer failed;
	// their reports were sent again after the restart under the same
	// idempotency keys and made no second event.
	var sent []wixsim.Request
	for _, r := range wix.sim.Requests(site) {
		if r.Endpoint != wixsim.EndpointToken {
			sent = append(sent, r)
		}
	}
	require.GreaterOrEqual(t, len(sent), 2)
	for _, r := range sent[:2] {
		require.True(t, r.Faulted)
		require.NotEmpty(t, r.IdempotencyKeys, "the first calls are reports")
		for _, key := range r.IdempotencyKeys {
			again := 0
			for _, a := range accepted(wix.sim, site) {
				if slices.Contains(a.IdempotencyKeys, key) {
					again++
				}
			}
			if superseded[key] {
				assert.Zero(t, again, "superseded report %s was not sent after the restart", key)
				continue
			}
			assert.Equal(t, 1, again, "report %s was accepted once after the restart", key)
			assert.Equal(t, 1, perKey[key], "and is one event at Wix")
			assert.True(t, reportedAt[key].Before(crashedAt), "the event is the one reported before the crash")
		}
	}

	assert.Equal(t, []string{
		"appointment_canceled " + canceled.ID,
		"appointment_scheduled " + kept.ID,
		"appointment_scheduled " + moved.ID,
		"appointment_starting " + kept.ID,
		"appointment_starting " + moved.ID,
	}, liveSet(wix.sim, site))
	for _, e := range wix.sim.LiveEvents(site) {
		if e.TriggerKey == "appointment_starting" && e.ExternalEntityID == moved.ID {
			assert.True(t, e.At.Equal(newStart), "the moved appointment starts at %v", e.At)
		}
	}
}

// /healthz answers without the token; /metrics demands it and holds the
// relay's and the outbox's series.
func TestE2EHealthAndMetrics(t *testing.T) {
	_, srv := newChild(t)
	h := okJSON[map[string]string](t, srv.doAuth("GET", "/healthz", nil, ""), 200)
	assert.Equal(t, "ok", h["status"])
	assert.Equal(t, 401, srv.doAuth("GET", "/metrics", nil, "").status)

	site := uuid.NewString()
	okJSON[httpapi.Appointment](t, srv.do("POST", "/v1/sites/"+site+"/appointments",
		appointmentBody("", uuid.NewString(), at(72*time.Hour), "massage")), 201)
	srv.waitSettled(site)

	r := srv.do("GET", "/metrics", nil)
	require.Equal(t, 200, r.status, "body: %s", r.body)
	assert.Contains(t, r.header.Get("Content-Type"), "text/plain")
	body := string(r.body)
	for _, series := range []string{
		"lifecycle_relay_requests_total",
		"lifecycle_relay_retries_total",
		"lifecycle_relay_dead_letters_total",
		"lifecycle_relay_delivery_latency_seconds_bucket",
		"lifecycle_outbox_depth",
		`lifecycle_outbox_calls{state="pending"}`,
		`lifecycle_commands_total{command="schedule_appointment",outcome="ok"}`,
	} {
		assert.Contains(t, body, series)
	}
	assert.Equal(t, 2.0, metric(t, body, "lifecycle_relay_delivered_total"), "the two reports were delivered")
	assert.Equal(t, 2.0, metric(t, body, `lifecycle_outbox_calls{state="delivered"}`))
	assert.Equal(t, 0.0, metric(t, body, "lifecycle_outbox_depth"))
}

// metric returns the value of the sample named name (with its labels) in a
// Prometheus text exposition.
func metric(t *testing.T, body, name string) float64 {
	t.Helper()
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			require.NoError(t, err, line)
			return f
		}
	}
	t.Fatalf("no sample %s in:\n%s", name, body)
	return 0
}
