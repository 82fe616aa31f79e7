package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/adapters/httpapi"
	"github.com/bookable/lifecycle/application"
)

// Fixture IDs of the error tests.
const (
	apptA     = "ab000000-0000-4000-8000-00000000000a" // scheduled
	apptC     = "ab000000-0000-4000-8000-00000000000c" // canceled
	classFull = "c1a55000-0000-4000-8000-000000000001" // capacity 1, alice seated, no waitlist
	classOpen = "c1a55000-0000-4000-8000-000000000002" // capacity 5, alice seated
	classX    = "c1a55000-0000-4000-8000-000000000003" // canceled
	enrollE   = "e0000000-0000-4000-8000-000000000001" // alice in classFull
	enrollL   = "e0000000-0000-4000-8000-000000000002" // bob, left classOpen
	unknownID = "deadbeef-0000-4000-8000-000000000000"
)

// fixture fills h with one aggregate in each state the error cases need.
func fixture(t *testing.T, h *harness) {
	t.Helper()
	sp := "/v1/sites/" + site
	require.Equal(t, 201, h.do("POST", sp+"/appointments", apptBody(apptA, day, day+time.Hour)).status)
	require.Equal(t, 201, h.do("POST", sp+"/appointments", apptBody(apptC, day, day+time.Hour)).status)
	require.Equal(t, 200, h.do("POST", sp+"/appointments/"+apptC+"/cancel", nil).status)
	require.Equal(t, 201, h.do("POST", sp+"/classes", classBody(classFull, 1, false)).status)
	require.Equal(t, 201, h.do("POST", sp+"/classes", classBody(classOpen, 5, false)).status)
	require.Equal(t, 201, h.do("POST", sp+"/classes", classBody(classX, 5, false)).status)
	require.Equal(t, 200, h.do("POST", sp+"/classes/"+classX+"/cancel", nil).status)
	require.Equal(t, 201, h.do("POST", sp+"/classes/"+classFull+"/enrollments",
		map[string]string{"id": enrollE, "participantId": alice}).status)
	require.Equal(t, 201, h.do("POST", sp+"/classes/"+classOpen+"/enrollments",
		map[string]string{"participantId": alice}).status)
	require.Equal(t, 201, h.do("POST", sp+"/classes/"+classOpen+"/enrollments",
		map[string]string{"id": enrollL, "participantId": bob}).status)
	require.Equal(t, 200, h.do("POST", sp+"/enrollments/"+enrollL+"/leave", nil).status)
}

// state is everything a refused request must leave alone: every call in
// the outbox and every fixture aggregate as the API shows it.
type state struct {
	calls      []application.Call
	stats      map[application.CallState]int
	aggregates []string
}

func (h *harness) state() state {
	h.t.Helper()
	stats, err := h.store.Stats(context.Background(), "")
	require.NoError(h.t, err)
	s := state{calls: h.calls(), stats: stats}
	for _, p := range []string{"/appointments/" + apptA, "/appointments/" + apptC, "/classes/" + classFull,
		"/classes/" + classOpen, "/classes/" + classX, "/enrollments/" + enrollE, "/enrollments/" + enrollL} {
		r := h.do("GET", "/v1/sites/"+site+p, nil)
		require.Equal(h.t, 200, r.status)
		s.aggregates = append(s.aggregates, string(r.body))
	}
	return s
}

func TestErrors(t *testing.T) {
	h := newHarness(t)
	fixture(t, h)
	pending := h.calls()[0].ID

	valid := apptBody("", day, day+time.Hour)
	with := func(k string, v any) body {
		b := body{}
		for k, v := range valid {
			b[k] = v
		}
		if v == nil {
			delete(b, k)
		} else {
			b[k] = v
		}
		return b
	}
	classWith := func(k string, v any) map[string]any {
		b := classBody("", 5, false)
		if v == nil {
			delete(b, k)
		} else {
			b[k] = v
		}
		return b
	}

	tests := []struct {
		name   string
		method string
		path   string // relative to /v1/sites/{site} unless it starts with /v1 or /h or /m
		body   any
		status int
		code   string
		fields []string // expected field names; nil means none
	}{
		// 400 invalid_argument: the body.
		{"malformed JSON", "POST", "/appointments", `{"contactId":`, 400, httpapi.CodeInvalidArgument, nil},
		{"syntax error", "POST", "/appointments", `{contactId: 1}`, 400, httpapi.CodeInvalidArgument, nil},
		{"not an object", "POST", "/appointments", `[1, 2]`, 400, httpapi.CodeInvalidArgument, nil},
		{"empty body", "POST", "/appointments", "", 400, httpapi.CodeInvalidArgument, nil},
		{"null body", "POST", "/appointments", "null", 400, httpapi.CodeInvalidArgument, nil},
		{"trailing data", "POST", "/appointments", string(must(valid)) + `{}`, 400, httpapi.CodeInvalidArgument, nil},
		{"trailing garbage", "POST", "/appointments", string(must(valid)) + `x`, 400, httpapi.CodeInvalidArgument, nil},
		{"unknown field", "POST", "/appointments", with("color", "red"), 400, httpapi.CodeInvalidArgument, []string{"color"}},
		{"wrong type", "POST", "/appointments", with("contactId", 5), 400, httpapi.CodeInvalidArgument, []string{"contactId"}},
		{"every field missing", "POST", "/appointments", "{}", 400, httpapi.CodeInvalidArgument, []string{"contactId", "startsAt", "endsAt"}},
		{"startsAt missing", "POST", "/appointments", with("startsAt", nil), 400, httpapi.CodeInvalidArgument, []string{"startsAt"}},
		{"endsAt missing", "POST", "/appointments", with("endsAt", nil), 400, httpapi.CodeInvalidArgument, []string{"endsAt"}},
		{"contactId missing", "POST", "/appointments", with("contactId", nil), 400, httpapi.CodeInvalidArgument, []string{"contactId"}},
		{"startsAt not a date", "POST", "/appointments", with("startsAt", "tomorrow"), 400, httpapi.CodeInvalidArgument, []string{"startsAt"}},
		{"startsAt not RFC 3339", "POST", "/appointments", with("startsAt", "2026-03-03 09:00:00"), 400, httpapi.CodeInvalidArgument, []string{"startsAt"}},
		{"contactId not a UUID", "POST", "/appointments", with("contactId", "bob"), 400, httpapi.CodeInvalidArgument, []string{"contactId"}},
		{"id not a UUID", "POST", "/appointments", with("id", "42"), 400, httpapi.CodeInvalidArgument, []string{"id"}},
		{"id empty", "POST", "/appointments", with("id", ""), 400, httpapi.CodeInvalidArgument, []string{"id"}},
		{"id nil UUID", "POST", "/appointments", with("id", "00000000-0000-0000-0000-000000000000"), 400, httpapi.CodeInvalidArgument, []string{"id"}},
		{"start in the past", "POST", "/appointments", with("startsAt", at(-time.Hour)), 400, httpapi.CodeInvalidArgument, []string{"startsAt"}},
		{"start now", "POST", "/appointments", with("startsAt", at(0)), 400, httpapi.CodeInvalidArgument, []string{"startsAt"}},
		{"end before start", "POST", "/appointments", with("endsAt", at(day-time.Hour)), 400, httpapi.CodeInvalidArgument, []string{"endsAt"}},
		{"title too long", "POST", "/appointments", with("title", strings.Repeat("x", 201)), 400, httpapi.CodeInvalidArgument, []string{"title"}},
		{"class fields missing", "POST", "/classes", `{"startsAt":"` + at(day) + `","endsAt":"` + at(day+time.Hour) + `"}`, 400, httpapi.CodeInvalidArgument, []string{"title", "capacity"}},
		{"class capacity zero", "POST", "/classes", classWith("capacity", 0), 400, httpapi.CodeInvalidArgument, []string{"capacity"}},
		{"class capacity negative", "POST", "/classes", classWith("capacity", -3), 400, httpapi.CodeInvalidArgument, []string{"capacity"}},
		{"class capacity a string", "POST", "/classes", classWith("capacity", "many"), 400, httpapi.CodeInvalidArgument, []string{"capacity"}},
		{"class capacity fractional", "POST", "/classes", classWith("capacity", 2.5), 400, httpapi.CodeInvalidArgument, []string{"capacity"}},
		{"class waitlist a string", "POST", "/classes", classWith("waitlist", "yes"), 400, httpapi.CodeInvalidArgument, []string{"waitlist"}},
		{"class end before start", "POST", "/classes", classWith("endsAt", at(time.Hour)), 400, httpapi.CodeInvalidArgument, []string{"endsAt"}},
		{"reschedule without endsAt", "POST", "/appointments/" + apptA + "/reschedule", map[string]string{"startsAt": at(2 * day)}, 400, httpapi.CodeInvalidArgument, []string{"endsAt"}},
		{"reschedule into the past", "POST", "/appointments/" + apptA + "/reschedule", map[string]string{"startsAt": at(-day), "endsAt": at(-day + time.Hour)}, 400, httpapi.CodeInvalidArgument, []string{"startsAt"}},
		{"reschedule class empty body", "POST", "/classes/" + classOpen + "/reschedule", "", 400, httpapi.CodeInvalidArgument, nil},
		{"cancel reason a number", "POST", "/appointments/" + apptA + "/cancel", `{"reason": 5}`, 400, httpapi.CodeInvalidArgument, []string{"reason"}},
		{"cancel reason too long", "POST", "/appointments/" + apptA + "/cancel", map[string]string{"reason": strings.Repeat("x", 501)}, 400, httpapi.CodeInvalidArgument, []string{"reason"}},
		{"complete with a member", "POST", "/appointments/" + apptA + "/complete", `{"at": "now"}`, 400, httpapi.CodeInvalidArgument, []string{"at"}},
		{"complete before the start", "POST", "/appointments/" + apptA + "/complete", nil, 400, httpapi.CodeInvalidArgument, []string{"at"}},
		{"no-show before the start", "POST", "/appointments/" + apptA + "/no-show", nil, 400, httpapi.CodeInvalidArgument, []string{"at"}},
		{"complete class before the start", "POST", "/classes/" + classOpen + "/complete", nil, 400, httpapi.CodeInvalidArgument, []string{"at"}},
		{"enroll without participant", "POST", "/classes/" + classOpen + "/enrollments", `{}`, 400, httpapi.CodeInvalidArgument, []string{"participantId"}},
		{"enroll bad participant", "POST", "/classes/" + classOpen + "/enrollments", map[string]string{"participantId": "carol"}, 400, httpapi.CodeInvalidArgument, []string{"participantId"}},
		{"leave with a body", "POST", "/enrollments/" + enrollE + "/leave", `{"now": true}`, 400, httpapi.CodeInvalidArgument, []string{"now"}},

		// 400 invalid_argument: the path and the query.
		{"site not a UUID", "POST", "/v1/sites/my-site/appointments", valid, 400, httpapi.CodeInvalidArgument, []string{"site"}},
		{"site not a UUID on GET", "GET", "/v1/sites/1234/classes/" + classOpen, nil, 400, httpapi.CodeInvalidArgument, []string{"site"}},
		{"id not a UUID", "GET", "/appointments/123", nil, 400, httpapi.CodeInvalidArgument, []string{"id"}},
		{"site and id not UUIDs", "POST", "/v1/sites/x/enrollments/y/leave", nil, 400, httpapi.CodeInvalidArgument, []string{"site", "id"}},
		{"class id not a UUID", "POST", "/classes/yoga/enrollments", map[string]string{"participantId": carol}, 400, httpapi.CodeInvalidArgument, []string{"id"}},
		{"outbox bad state", "GET", "/outbox?state=lost", nil, 400, httpapi.CodeInvalidArgument, []string{"state"}},
		{"outbox bad limit", "GET", "/outbox?limit=0", nil, 400, httpapi.CodeInvalidArgument, []string{"limit"}},
		{"outbox limit too high", "GET", "/outbox?limit=100000", nil, 400, httpapi.CodeInvalidArgument, []string{"limit"}},
		{"outbox bad after", "GET", "/outbox?after=-1", nil, 400, httpapi.CodeInvalidArgument, []string{"after"}},
		{"outbox unknown parameter", "GET", "/outbox?stat=dead", nil, 400, httpapi.CodeInvalidArgument, []string{"stat"}},
		{"outbox call id not a UUID", "GET", "/outbox/17", nil, 400, httpapi.CodeInvalidArgument, []string{"id"}},
		{"retry call id not a UUID", "POST", "/outbox/17/retry", nil, 400, httpapi.CodeInvalidArgument, []string{"id"}},

		// 404 not_found.
		{"unknown route", "GET", "/v1/nothing", nil, 404, httpapi.CodeNotFound, nil},
		{"unknown resource kind", "GET", "/widgets/" + apptA, nil, 404, httpapi.CodeNotFound, nil},
		{"trailing slash", "GET", "/appointments/" + apptA + "/", nil, 404, httpapi.CodeNotFound, nil},
		{"unknown appointment", "GET", "/appointments/" + unknownID, nil, 404, httpapi.CodeNotFound, nil},
		{"cancel unknown appointment", "POST", "/appointments/" + unknownID + "/cancel", nil, 404, httpapi.CodeNotFound, nil},
		{"unknown class", "GET", "/classes/" + unknownID, nil, 404, httpapi.CodeNotFound, nil},
		{"a class is not an appointment", "GET", "/appointments/" + classOpen, nil, 404, httpapi.CodeNotFound, nil},
		{"enroll in unknown class", "POST", "/classes/" + unknownID + "/enrollments", map[string]string{"participantId": carol}, 404, httpapi.CodeNotFound, nil},
		{"unknown enrollment", "POST", "/enrollments/" + unknownID + "/leave", nil, 404, httpapi.CodeNotFound, nil},
		{"unknown call", "GET", "/outbox/" + unknownID, nil, 404, httpapi.CodeNotFound, nil},
		{"retry unknown call", "POST", "/outbox/" + unknownID + "/retry", nil, 404, httpapi.CodeNotFound, nil},
		{"another site's appointment", "POST", "/v1/sites/" + other + "/appointments/" + apptA + "/reschedule", map[string]string{"startsAt": at(2 * day), "endsAt": at(2*day + time.Hour)}, 404, httpapi.CodeNotFound, nil},

		// 405 method_not_allowed.
		{"DELETE an appointment", "DELETE", "/appointments/" + apptA, nil, 405, httpapi.CodeMethodNotAllowed, nil},
		{"GET a command", "GET", "/appointments/" + apptA + "/cancel", nil, 405, httpapi.CodeMethodNotAllowed, nil},
		{"PUT a collection", "PUT", "/classes", valid, 405, httpapi.CodeMethodNotAllowed, nil},
		{"POST healthz", "POST", "/healthz", nil, 405, httpapi.CodeMethodNotAllowed, nil},

		// 409.
		{"cancel a canceled appointment", "POST", "/appointments/" + apptC + "/cancel", nil, 409, httpapi.CodeTransitionNotAllowed, nil},
		{"reschedule a canceled appointment", "POST", "/appointments/" + apptC + "/reschedule", map[string]string{"startsAt": at(2 * day), "endsAt": at(2*day + time.Hour)}, 409, httpapi.CodeTransitionNotAllowed, nil},
		{"cancel a canceled class", "POST", "/classes/" + classX + "/cancel", nil, 409, httpapi.CodeTransitionNotAllowed, nil},
		{"enroll in a canceled class", "POST", "/classes/" + classX + "/enrollments", map[string]string{"participantId": carol}, 409, httpapi.CodeTransitionNotAllowed, nil},
		{"leave twice", "POST", "/enrollments/" + enrollL + "/leave", nil, 409, httpapi.CodeTransitionNotAllowed, nil},
		{"retry a pending call", "POST", "/outbox/" + pending + "/retry", nil, 409, httpapi.CodeTransitionNotAllowed, nil},
		{"enroll in a full class", "POST", "/classes/" + classFull + "/enrollments", map[string]string{"participantId": carol}, 409, httpapi.CodeClassFull, nil},
		{"enroll twice", "POST", "/classes/" + classOpen + "/enrollments", map[string]string{"participantId": alice}, 409, httpapi.CodeAlreadyEnrolled, nil},
		{"create with a used id", "POST", "/appointments", with("id", apptA).withTitle("Massage"), 409, httpapi.CodeConflict, nil},
		{"enroll with another enrollment's id", "POST", "/classes/" + classOpen + "/enrollments", map[string]string{"id": enrollE, "participantId": carol}, 409, httpapi.CodeConflict, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tt.path
			if !strings.HasPrefix(path, "/v1/") && !strings.HasPrefix(path, "/healthz") {
				path = "/v1/sites/" + site + path
			}
			before := h.state()
			p := problem(t, h.do(tt.method, path, tt.body), tt.status, tt.code)
			assert.Equal(t, tt.fields, nilIfEmpty(fields(p)))
			for _, e := range p.Errors {
				assert.NotEmpty(t, e.Reason)
			}
			assert.Equal(t, before, h.state(), "a refused request changes nothing and queues no call")
		})
	}
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

// body is a request body under construction.
type body map[string]any

func (b body) withTitle(title string) body { b["title"] = title; return b }

func TestMethodNotAllowedListsAllowedMethods(t *testing.T) {
	h := newHarness(t)
	r := h.do("DELETE", "/v1/sites/"+site+"/appointments/"+unknownID, nil)
	problem(t, r, 405, httpapi.CodeMethodNotAllowed)
	assert.Contains(t, r.header.Get("Allow"), "GET")
	r = h.do("GET", "/v1/sites/"+site+"/appointments", nil)
	problem(t, r, 405, httpapi.CodeMethodNotAllowed)
	assert.Equal(t, "POST", r.header.Get("Allow"))
}

func TestAuthentication(t *testing.T) {
	h := newHarness(t)
	fixture(t, h)
	for _, auth := range []string{"", "Bearer", "Bearer ", "Bearer wrong", "Basic " + token, token, "Bearer " + token + "x", "Bearer " + token[:len(token)-1]} {
		for _, req := range []struct{ method, path string }{
			{"GET", "/v1/sites/" + site + "/appointments/" + apptA},
			{"POST", "/v1/sites/" + site + "/appointments/" + apptA + "/cancel"},
			{"POST", "/v1/sites/" + site + "/appointments"},
			{"GET", "/metrics"},
			{"GET", "/v1/unknown"},
		} {
			t.Run(auth+" "+req.method+" "+req.path, func(t *testing.T) {
				before := h.state()
				var b any
				if req.path == "/v1/sites/"+site+"/appointments" {
					b = apptBody("", day, day+time.Hour)
				}
				r := h.doAuth(req.method, req.path, b, auth)
				problem(t, r, 401, httpapi.CodeUnauthenticated)
				assert.Equal(t, `Bearer realm="lifecycle"`, r.header.Get("WWW-Authenticate"))
				assert.Equal(t, before, h.state())
			})
		}
	}
	t.Run("scheme is case-insensitive", func(t *testing.T) {
		ok[httpapi.Appointment](t, h.doAuth("GET", "/v1/sites/"+site+"/appointments/"+apptA, nil, "bearer "+token), 200)
	})
	t.Run("no token configured means no authentication", func(t *testing.T) {
		open := newHarness(t, func(o *options) { o.token = "" })
		ok[httpapi.CallStats](t, open.doAuth("GET", "/v1/sites/"+site+"/outbox/stats", nil, ""), 200)
	})
}

func TestBodyLimit(t *testing.T) {
	t.Run("default 1 MiB", func(t *testing.T) {
		h := newHarness(t)
		big := apptBody("", day, day+time.Hour)
		big["title"] = strings.Repeat("x", httpapi.DefaultMaxBodyBytes+1)
		p := problem(t, h.do("POST", "/v1/sites/"+site+"/appointments", big), 413, httpapi.CodePayloadTooLarge)
		assert.Contains(t, p.Detail, "1048576")
		assert.Empty(t, h.calls())
	})
	t.Run("configured", func(t *testing.T) {
		h := newHarness(t, func(o *options) { o.maxBody = 200 })
		b := apptBody("", day, day+time.Hour)
		require.Less(t, len(must(b)), 200)
		ok[httpapi.Appointment](t, h.do("POST", "/v1/sites/"+site+"/appointments", b), 201)
		calls := h.calls()
		b["title"] = strings.Repeat("x", 150)
		problem(t, h.do("POST", "/v1/sites/"+site+"/appointments", b), 413, httpapi.CodePayloadTooLarge)
		// Whitespace after the object still counts.
		problem(t, h.do("POST", "/v1/sites/"+site+"/appointments", string(must(apptBody("", day, day+time.Hour)))+strings.Repeat(" ", 200)),
			413, httpapi.CodePayloadTooLarge)
		assert.Equal(t, calls, h.calls())
	})
}

// brokenStore fails every transaction with an error whose text must not
// reach clients.
type brokenStore struct{}

var errSecret = errors.New("disk /var/lib/lifecycle/secret.db is on fire")

func (brokenStore) Update(context.Context, func(context.Context, application.Tx) error) error {
	return errSecret
}

func (brokenStore) View(context.Context, func(context.Context, application.ReadTx) error) error {
	return errSecret
}

// panickyStore panics on every read.
type panickyStore struct{ brokenStore }

func (panickyStore) View(context.Context, func(context.Context, application.ReadTx) error) error {
	panic("boom: /var/lib/lifecycle")
}

func TestInternalErrorsDoNotLeak(t *testing.T) {
	for name, store := range map[string]application.Store{"error": brokenStore{}, "panic": panickyStore{}} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, func(o *options) { o.store = store })
			for _, req := range []struct {
				method, path string
				body         any
			}{
				{"POST", "/v1/sites/" + site + "/appointments", apptBody("", day, day+time.Hour)},
				{"GET", "/v1/sites/" + site + "/appointments/" + apptA, nil},
			} {
				r := h.do(req.method, req.path, req.body)
				p := problem(t, r, 500, httpapi.CodeInternal)
				assert.NotContains(t, string(r.body), "/var/lib")
				assert.NotContains(t, p.Detail, "fire")
			}
			assert.Contains(t, h.logs.String(), "/var/lib/lifecycle", "internal errors are logged")
		})
	}
}

// must marshals v to JSON.
func must(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
