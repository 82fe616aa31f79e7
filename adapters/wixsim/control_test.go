package wixsim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/bookable/lifecycle/adapters/wixsim"
	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/application/fake"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// control is an emulator on a fake clock, served over HTTP.
type control struct {
	sim   *wixsim.Sim
	clock *fake.Clock
	emu   *wixsim.Emulator
	url   string
}

func newControl(t *testing.T, setup func(*wixsim.Sim) error, opts ...wixsim.Option) control {
	t.Helper()
	sim, clock := newSim(t, opts...)
	emu, err := wixsim.NewEmulator(sim, setup)
	require.NoError(t, err)
	srv := httptest.NewServer(emu.Handler())
	t.Cleanup(srv.Close)
	return control{sim: sim, clock: clock, emu: emu, url: srv.URL}
}

type reply struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

// do sends a control request; body is JSON-encoded unless it is a string.
func (c control) do(t *testing.T, method, path string, body any) reply {
	t.Helper()
	var r io.Reader
	switch v := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(v)
	default:
		b, err := json.Marshal(v)
		require.NoError(t, err)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.url+path, r)
	require.NoError(t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	out := reply{status: res.StatusCode, header: res.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &out.body)
	return out
}

// requireProblem checks that a reply is a problem document with status
// and code, and returns the fields it names.
func requireProblem(t *testing.T, r reply, status int, code string) []string {
	t.Helper()
	require.Equal(t, status, r.status, r.raw)
	assert.Equal(t, "application/problem+json", r.header.Get("Content-Type"))
	assert.Equal(t, code, r.body["code"], r.raw)
	assert.Equal(t, wixsim.ControlProblemTypePrefix+code, r.body["type"])
	assert.EqualValues(t, status, r.body["status"])
	assert.NotEmpty(t, r.body["title"])
	assert.NotEmpty(t, r.body["detail"])
	assert.True(t, strings.HasPrefix(r.body["instance"].(string), "/_wixsim"), "instance is the path")
	var fields []string
	errs, _ := r.body["errors"].([]any)
	for _, e := range errs {
		fields = append(fields, e.(map[string]any)["field"].(string))
	}
	return fields
}

func items(t *testing.T, r reply, key string) []map[string]any {
	t.Helper()
	require.Equal(t, 200, r.status, r.raw)
	assert.Equal(t, "application/json", r.header.Get("Content-Type"))
	raw, ok := r.body[key].([]any)
	require.True(t, ok, "%s is a list in %s", key, r.raw)
	out := make([]map[string]any, 0, len(raw))
	for _, x := range raw {
		out = append(out, x.(map[string]any))
	}
	return out
}

func field(ms []map[string]any, key string) []any {
	out := []any{}
	for _, m := range ms {
		out = append(out, m[key])
	}
	return out
}

func TestControlListsASitesEventsAndActivations(t *testing.T) {
	c := newControl(t, nil)
	assert.Empty(t, items(t, c.do(t, "GET", "/_wixsim/sites", nil), "sites"))
	assert.Empty(t, items(t, c.do(t, "GET", "/_wixsim/sites/"+siteA+"/events", nil), "events"), "an unknown site has nothing")

	r := c.do(t, "POST", "/_wixsim/sites/"+siteA+"/automations", map[string]string{"name": "reminder 1 day before", "triggerKey": "appointment_starting", "offset": "-24h"})
	require.Equal(t, 201, r.status, r.raw)
	assert.Equal(t, map[string]any{"name": "reminder 1 day before", "triggerKey": "appointment_starting", "offset": "-24h0m0s"}, r.body["automation"])
	r = c.do(t, "POST", "/_wixsim/sites/"+siteA+"/automations", map[string]string{"name": "confirmation", "triggerKey": "appointment_scheduled"})
	require.Equal(t, 201, r.status, r.raw)
	assert.Equal(t, []any{"reminder 1 day before", "confirmation"}, field(items(t, c.do(t, "GET", "/_wixsim/sites/"+siteA+"/automations", nil), "automations"), "name"))

	start := t0.Add(72 * time.Hour)
	mustReport(t, c.sim, siteA, "appointment_scheduled", application.ReportEvent{ExternalEntityID: id(1), Payload: apptPayload(id(1), start), IdempotencyKey: "k1"})
	mustReport(t, c.sim, siteA, "appointment_starting", application.ReportEvent{ExternalEntityID: id(1), Payload: apptPayload(id(1), start)})
	mustReport(t, c.sim, siteA, "appointment_starting", application.ReportEvent{ExternalEntityID: id(2), Payload: apptPayload(id(2), start)})
	mustCancel(t, c.sim, siteA, "appointment_starting", id(2))

	sites := items(t, c.do(t, "GET", "/_wixsim/sites", nil), "sites")
	require.Len(t, sites, 1)
	assert.Equal(t, map[string]any{"id": siteA, "automations": 2.0, "events": 3.0, "liveEvents": 2.0, "activations": 3.0, "pending": 1.0}, sites[0])

	evs := items(t, c.do(t, "GET", "/_wixsim/sites/"+siteA+"/events", nil), "events")
	require.Len(t, evs, 3)
	assert.Equal(t, "k1", evs[0]["idempotencyKey"])
	assert.Equal(t, start.Format(time.RFC3339), evs[1]["at"])
	assert.Equal(t, true, evs[2]["canceled"])
	assert.Equal(t, t0.Format(time.RFC3339), evs[2]["canceledAt"])
	assert.NotContains(t, evs[0], "canceledAt", "zero times are left out")
	live := items(t, c.do(t, "GET", "/_wixsim/sites/"+siteA+"/live-events", nil), "events")
	assert.Equal(t, []any{id(1), id(1)}, field(live, "externalEntityId"))

	acts := items(t, c.do(t, "GET", "/_wixsim/sites/"+siteA+"/activations", nil), "activations")
	assert.Equal(t, []any{"ran", "pending", "canceled"}, field(acts, "state"))
	assert.Equal(t, "EVENT_CANCELLED", acts[2]["canceledBy"])
	assert.Equal(t, start.Add(-24*time.Hour).Format(time.RFC3339), acts[1]["dueAt"])
	assert.NotNil(t, acts[0]["ranWith"])
	filtered := items(t, c.do(t, "GET", "/_wixsim/sites/"+siteA+"/activations?state=pending,canceled", nil), "activations")
	assert.Equal(t, []any{"pending", "canceled"}, field(filtered, "state"))
	filtered = items(t, c.do(t, "GET", "/_wixsim/sites/"+siteA+"/activations?state=ran&state=canceled", nil), "activations")
	assert.Equal(t, []any{"ran", "canceled"}, field(filtered, "state"))
	assert.Equal(t, []string{"state"}, requireProblem(t, c.do(t, "GET", "/_wixsim/sites/"+siteA+"/activations?state=done", nil), 400, "invalid_argument"))

	reqs := items(t, c.do(t, "GET", "/_wixsim/sites/"+siteA+"/requests", nil), "requests")
	assert.Equal(t, []any{"report", "report", "report", "cancel"}, field(reqs, "endpoint"))
	assert.Equal(t, []any{200.0, 200.0, 200.0, 200.0}, field(reqs, "status"))
}

func TestControlRefusesBadSitesAndQueries(t *testing.T) {
	c := newControl(t, nil)
	for _, path := range []string{"events", "live-events", "activations", "automations", "requests"} {
		assert.Equal(t, []string{"site"}, requireProblem(t, c.do(t, "GET", "/_wixsim/sites/bad%20site/"+path, nil), 400, "invalid_argument"), path)
		assert.Equal(t, []string{"live"}, requireProblem(t, c.do(t, "GET", "/_wixsim/sites/"+siteA+"/"+path+"?live=1", nil), 400, "invalid_argument"), path)
	}
	assert.Equal(t, []string{"site"}, requireProblem(t, c.do(t, "GET", "/_wixsim/sites/"+strings.Repeat("a", 101)+"/events", nil), 400, "invalid_argument"))
	for _, path := range []string{"sites", "triggers", "faults", "latency", "clock"} {
		requireProblem(t, c.do(t, "GET", "/_wixsim/"+path+"?x=1", nil), 400, "invalid_argument")
	}
}

func TestControlAddAutomationValidates(t *testing.T) {
	c := newControl(t, nil)
	path := "/_wixsim/sites/" + siteA + "/automations"
	cases := map[string]struct {
		body   any
		fields []string
	}{
		"no name":                    {map[string]string{"triggerKey": "appointment_scheduled"}, []string{"name"}},
		"blank name":                 {map[string]string{"name": "  ", "triggerKey": "appointment_scheduled"}, []string{"name"}},
		"long name":                  {map[string]string{"name": strings.Repeat("x", 201), "triggerKey": "appointment_scheduled"}, []string{"name"}},
		"no trigger":                 {map[string]string{"name": "x"}, []string{"triggerKey"}},
		"unknown trigger":            {map[string]string{"name": "x", "triggerKey": "appointment_no_show"}, []string{"triggerKey"}},
		"bad offset":                 {map[string]string{"name": "x", "triggerKey": "appointment_scheduled", "offset": "1 day"}, []string{"offset"}},
		"real-time negative delay":   {map[string]string{"name": "x", "triggerKey": "appointment_scheduled", "offset": "-1h"}, []string{"offset"}},
		"unknown member":             {map[string]string{"name": "x", "triggerKey": "appointment_scheduled", "delay": "1h"}, nil},
		"offset as a number":         {map[string]any{"name": "x", "triggerKey": "appointment_scheduled", "offset": 3600}, nil},
		"malformed JSON":             {`{"name": "x",`, nil},
		"trailing data":              {`{"name": "x", "triggerKey": "appointment_scheduled"} {}`, nil},
		"no body":                    {"", nil},
		"a list instead of a object": {`[]`, nil},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			fields := requireProblem(t, c.do(t, "POST", path, tc.body), 400, "invalid_argument")
			assert.Equal(t, tc.fields, fields)
		})
	}
	assert.Empty(t, c.sim.Automations(siteA), "a refused automation is not added")
}

func TestControlTriggers(t *testing.T) {
	c := newControl(t, nil, wixsim.WithTriggerProvider("http://app.test/wix/trigger-provider", appKey(), "appointment_starting"))
	trs := items(t, c.do(t, "GET", "/_wixsim/triggers", nil), "triggers")
	byKey := map[string]map[string]any{}
	for _, tr := range trs {
		byKey[tr["key"].(string)] = tr
	}
	assert.Equal(t, map[string]any{"key": "appointment_starting", "timing": "scheduled", "dateTimeField": "startsAt", "refreshPayload": true}, byKey["appointment_starting"])
	assert.Equal(t, map[string]any{"key": "appointment_scheduled", "timing": "real-time", "refreshPayload": false}, byKey["appointment_scheduled"])

	r := c.do(t, "POST", "/_wixsim/triggers", map[string]string{"key": "course_starting", "timing": "scheduled", "dateTimeField": "startsAt"})
	require.Equal(t, 201, r.status, r.raw)
	assert.Equal(t, map[string]any{"key": "course_starting", "timing": "scheduled", "dateTimeField": "startsAt", "refreshPayload": false}, r.body["trigger"])
	require.Equal(t, 201, c.do(t, "POST", "/_wixsim/sites/"+siteA+"/automations", map[string]string{"name": "x", "triggerKey": "course_starting", "offset": "-1h"}).status)

	for name, tc := range map[string]struct {
		body  any
		field string
	}{
		"bad key":                     {map[string]string{"key": "Bad Key", "timing": "real-time"}, "key"},
		"no key":                      {map[string]string{"timing": "real-time"}, "key"},
		"unknown timing":              {map[string]string{"key": "x", "timing": "daily"}, "timing"},
		"scheduled without date-time": {map[string]string{"key": "x", "timing": "scheduled"}, "dateTimeField"},
		"real-time with a date-time":  {map[string]string{"key": "x", "timing": "real-time", "dateTimeField": "at"}, "dateTimeField"},
		"unknown member":              {map[string]string{"key": "x", "timing": "real-time", "datetimeField": "at"}, ""},
	} {
		fields := requireProblem(t, c.do(t, "POST", "/_wixsim/triggers", tc.body), 400, "invalid_argument")
		if tc.field != "" {
			assert.Equal(t, []string{tc.field}, fields, name)
		}
	}
}

func TestControlFaults(t *testing.T) {
	c := newControl(t, nil)
	r := c.do(t, "POST", "/_wixsim/faults", map[string]any{"endpoint": "report", "site": siteA, "status": 503, "times": 2, "retryAfter": "3s"})
	require.Equal(t, 201, r.status, r.raw)
	assert.Equal(t, map[string]any{"endpoint": "report", "site": siteA, "status": 503.0, "times": 2.0, "retryAfter": "3s"}, r.body["fault"])
	r = c.do(t, "POST", "/_wixsim/faults", map[string]any{"entityId": id(9), "itemCode": "UNAVAILABLE"})
	require.Equal(t, 201, r.status, r.raw)
	assert.EqualValues(t, 1, r.body["fault"].(map[string]any)["times"], "times defaults to 1")

	_, err := c.sim.Report(context.Background(), siteA, "appointment_scheduled", []application.ReportEvent{{ExternalEntityID: id(1)}})
	var gwErr *application.GatewayError
	require.ErrorAs(t, err, &gwErr)
	assert.Equal(t, 503, gwErr.Status)
	faults := items(t, c.do(t, "GET", "/_wixsim/faults", nil), "faults")
	require.Len(t, faults, 2)
	assert.EqualValues(t, 1, faults[0]["times"], "one use left")
	assert.Equal(t, "0s", c.do(t, "GET", "/_wixsim/faults", nil).body["latency"])

	for name, body := range map[string]any{
		"item code without entity": map[string]any{"itemCode": "X"},
		"item code with status":    map[string]any{"itemCode": "X", "entityId": id(1), "status": 500},
		"status not an error":      map[string]any{"status": 302},
		"negative times":           map[string]any{"status": 500, "times": -1},
		"unknown endpoint":         map[string]any{"endpoint": "publish", "status": 500},
		"bad latency":              map[string]any{"latency": "soon"},
		"negative latency":         map[string]any{"latency": "-1s"},
		"bad retryAfter":           map[string]any{"status": 429, "retryAfter": 5},
		"unknown member":           map[string]any{"status": 500, "count": 2},
	} {
		t.Run(name, func(t *testing.T) {
			requireProblem(t, c.do(t, "POST", "/_wixsim/faults", body), 400, "invalid_argument")
		})
	}
	assert.Len(t, c.sim.Faults(), 2, "refused faults are not injected")

	r = c.do(t, "PUT", "/_wixsim/latency", map[string]string{"latency": "250ms"})
	require.Equal(t, 200, r.status, r.raw)
	assert.Equal(t, 250*time.Millisecond, c.sim.Latency())
	assert.Equal(t, "250ms", c.do(t, "GET", "/_wixsim/latency", nil).body["latency"])
	for _, bad := range []any{map[string]string{"latency": "-1s"}, map[string]string{"latency": "2m"}, map[string]string{"latency": "x"}, map[string]string{}} {
		assert.Equal(t, []string{"latency"}, requireProblem(t, c.do(t, "PUT", "/_wixsim/latency", bad), 400, "invalid_argument"))
	}

	r = c.do(t, "DELETE", "/_wixsim/faults", nil)
	assert.Empty(t, items(t, r, "faults"))
	assert.Equal(t, "0s", r.body["latency"])
	assert.Empty(t, c.sim.Faults())
	assert.Zero(t, c.sim.Latency())
}

func TestControlClock(t *testing.T) {
	c := newControl(t, nil)
	r := c.do(t, "GET", "/_wixsim/clock", nil)
	require.Equal(t, 200, r.status)
	assert.Equal(t, map[string]any{"now": t0.Format(time.RFC3339), "settable": true, "frozen": true}, r.body)

	require.NoError(t, c.sim.AddAutomation(siteA, wixsim.Automation{Name: "follow-up", TriggerKey: "appointment_scheduled", Offset: 2 * time.Hour}))
	mustReport(t, c.sim, siteA, "appointment_scheduled", application.ReportEvent{ExternalEntityID: id(1)})

	r = c.do(t, "POST", "/_wixsim/clock", map[string]string{"advance": "1h"})
	require.Equal(t, 200, r.status, r.raw)
	assert.Equal(t, t0.Add(time.Hour).Format(time.RFC3339), r.body["clock"].(map[string]any)["now"])
	assert.Empty(t, items(t, r, "ran"))
	r = c.do(t, "POST", "/_wixsim/clock", map[string]string{"set": t0.Add(3 * time.Hour).Format(time.RFC3339)})
	ran := items(t, r, "ran")
	assert.Equal(t, []any{"follow-up"}, field(ran, "automation"))
	assert.Equal(t, t0.Add(3*time.Hour), c.sim.Now())

	for name, tc := range map[string]struct {
		body   any
		fields []string
	}{
		"backwards set":     {map[string]string{"set": t0.Format(time.RFC3339)}, []string{"set"}},
		"backwards advance": {map[string]string{"advance": "-1h"}, []string{"advance"}},
		"both":              {map[string]string{"advance": "1h", "set": t0.Format(time.RFC3339)}, []string{"advance", "set"}},
		"neither":           {map[string]string{}, []string{"advance", "set"}},
		"bad duration":      {map[string]string{"advance": "tomorrow"}, []string{"advance"}},
		"bad time":          {map[string]string{"set": "2026-12-01 09:00"}, []string{"set"}},
	} {
		assert.Equal(t, tc.fields, requireProblem(t, c.do(t, "POST", "/_wixsim/clock", tc.body), 400, "invalid_argument"), name)
	}
	assert.Equal(t, t0.Add(3*time.Hour), c.sim.Now(), "refused moves change nothing")

	wall, err := wixsim.NewEmulator(wixsim.New(nil), nil)
	require.NoError(t, err)
	srv := httptest.NewServer(wall.Handler())
	defer srv.Close()
	wc := control{url: srv.URL}
	assert.Equal(t, false, wc.do(t, "GET", "/_wixsim/clock", nil).body["settable"])
	requireProblem(t, wc.do(t, "POST", "/_wixsim/clock", map[string]string{"advance": "1h"}), 409, "conflict")

	flowing, err := wixsim.NewEmulator(wixsim.New(wixsim.NewEmulatorClock(nil, time.Time{}, false)), nil)
	require.NoError(t, err)
	srv2 := httptest.NewServer(flowing.Handler())
	defer srv2.Close()
	fr := control{url: srv2.URL}.do(t, "GET", "/_wixsim/clock", nil)
	assert.Equal(t, map[string]any{"settable": true, "frozen": false}, map[string]any{"settable": fr.body["settable"], "frozen": fr.body["frozen"]})
}

func TestControlResetReturnsToTheSetup(t *testing.T) {
	setup := func(s *wixsim.Sim) error {
		return s.AddAutomation(siteA, wixsim.Automation{Name: "confirmation", TriggerKey: "appointment_scheduled"})
	}
	c := newControl(t, setup)
	require.Len(t, c.sim.Automations(siteA), 1, "the setup ran")
	require.NoError(t, c.sim.AddAutomation(siteB, wixsim.Automation{Name: "other", TriggerKey: "appointment_scheduled"}))
	mustReport(t, c.sim, siteA, "appointment_scheduled", application.ReportEvent{ExternalEntityID: id(1), IdempotencyKey: "k"})
	c.sim.FailNext(1, 500)
	tok := c.sim.IssueToken(siteA, 0)

	r := c.do(t, "POST", "/_wixsim/reset", nil)
	require.Equal(t, 200, r.status, r.raw)
	assert.Empty(t, c.sim.Events(siteA))
	assert.Empty(t, c.sim.Activations(siteA))
	assert.Empty(t, c.sim.Requests(""))
	assert.Empty(t, c.sim.Faults())
	assert.Empty(t, c.sim.Automations(siteB))
	assert.Len(t, c.sim.Automations(siteA), 1, "the setup ran again")
	assert.Equal(t, []string{siteA}, c.sim.Sites())
	a := post(t, c.url+"/automations/v1/events/report", tok, map[string]any{"triggerKey": "appointment_scheduled", "externalEntityId": id(1)})
	assert.Equal(t, 401, a.status, "tokens are forgotten")
	mustReport(t, c.sim, siteA, "appointment_scheduled", application.ReportEvent{ExternalEntityID: id(1), IdempotencyKey: "k"})
	assert.Len(t, c.sim.Events(siteA), 1, "idempotency keys are forgotten")
	assert.Equal(t, t0, c.sim.Now(), "the clock stays")
}

func TestControlRevokeTokens(t *testing.T) {
	c := newControl(t, nil)
	tok := c.sim.IssueToken(siteA, 0)
	body := map[string]any{"triggerKey": "appointment_scheduled", "externalEntityId": id(1)}
	require.Equal(t, 200, post(t, c.url+"/automations/v1/events/report", tok, body).status)
	r := c.do(t, "POST", "/_wixsim/sites/"+siteA+"/revoke-tokens", nil)
	require.Equal(t, 200, r.status, r.raw)
	assert.Equal(t, 401, post(t, c.url+"/automations/v1/events/report", tok, body).status)
}

func TestControlRoutesAndWixPathsApart(t *testing.T) {
	c := newControl(t, nil, wixsim.WithCredentials("app", "secret"))
	requireProblem(t, c.do(t, "GET", "/_wixsim/nothing", nil), 404, "not_found")
	requireProblem(t, c.do(t, "GET", "/_wixsim/sites/"+siteA, nil), 404, "not_found")
	for _, tc := range []struct{ method, path, allow string }{
		{"DELETE", "/_wixsim/sites", "GET"},
		{"PUT", "/_wixsim/sites/" + siteA + "/automations", "GET, POST"},
		{"GET", "/_wixsim/reset", "POST"},
		{"POST", "/_wixsim/latency", "GET, PUT"},
		{"PATCH", "/_wixsim/faults", "DELETE, GET, POST"},
		{"GET", "/_wixsim/sites/" + siteA + "/revoke-tokens", "POST"},
		{"POST", "/_wixsim/", "GET, HEAD"},
	} {
		r := c.do(t, tc.method, tc.path, nil)
		requireProblem(t, r, 405, "method_not_allowed")
		assert.Equal(t, tc.allow, r.header.Get("Allow"), tc.path)
	}

	a := post(t, c.url+"/oauth2/token", "", map[string]string{"grant_type": "client_credentials", "client_id": "app", "client_secret": "secret", "instance_id": siteA})
	require.Equal(t, 200, a.status, "Wix's paths are served as before")
	a = post(t, c.url+"/automations/v1/events/report", a.body["access_token"].(string), map[string]any{"triggerKey": "appointment_scheduled", "externalEntityId": id(1)})
	assert.Equal(t, 200, a.status)
	assert.Equal(t, "NOT_FOUND", errorCode(t, post(t, c.url+"/_wixsimx", "", map[string]string{})), "a path merely starting alike is Wix's 404")
	assert.Len(t, c.sim.Events(siteA), 1)

	res, err := http.Get(c.url + "/_wixsim")
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, 200, res.StatusCode, "redirected to the page")
	assert.Equal(t, "/_wixsim/", res.Request.URL.Path)
}

func TestEmulatorRunRunsDueActivationsUnasked(t *testing.T) {
	app := newFakeApp(t, &appKey().PublicKey, answerJSON(`{"cancelActivation": true}`))
	sim, clock := refreshSimClock(t, app, nil)
	reportReminder(t, sim, id(1))
	emu, err := wixsim.NewEmulator(sim, nil)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- emu.Run(ctx, 5*time.Millisecond) }()

	clock.Advance(48 * time.Hour) // no query: Run must notice
	require.Eventually(t, func() bool { return len(app.received()) == 1 }, 2*time.Second, 5*time.Millisecond)
	cancel()
	assert.ErrorIs(t, <-done, context.Canceled)
	assert.Equal(t, wixsim.CanceledByRefreshPayload, onlyActivation(t, sim, "reminder 1 day before").CanceledBy)
}
