package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/adapters/httpapi"
	"github.com/bookable/lifecycle/application"
)

func authed(kv ...string) http.Header {
	h := http.Header{"Authorization": {"Bearer " + token}}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

func TestETagAndIfMatch(t *testing.T) {
	h := newHarness(t)
	r := h.do("POST", apptPath, apptBody("", day, day+time.Hour))
	a := ok[httpapi.Appointment](t, r, 201)
	assert.Equal(t, `"1"`, r.header.Get("ETag"))
	path := apptPath + "/" + a.ID
	assert.Equal(t, `"1"`, h.do("GET", path, nil).header.Get("ETag"))

	move := map[string]string{"startsAt": at(2 * day), "endsAt": at(2*day + time.Hour)}
	r = h.send("POST", path+"/reschedule", move, authed("If-Match", `"1"`))
	moved := ok[httpapi.Appointment](t, r, 200)
	assert.Equal(t, `"2"`, r.header.Get("ETag"))
	assert.Equal(t, int64(2), moved.Version)

	before := h.calls()
	for _, tag := range []string{`"1"`, `W/"2"`, `"someone-elses"`} {
		p := problem(t, h.send("POST", path+"/cancel", nil, authed("If-Match", tag)), 412, httpapi.CodePreconditionFailed)
		assert.Empty(t, p.Errors)
	}
	for _, tag := range []string{`2`, `"1", "2"`} {
		p := problem(t, h.send("POST", path+"/cancel", nil, authed("If-Match", tag)), 400, httpapi.CodeInvalidArgument)
		assert.Equal(t, []string{"If-Match"}, fields(p))
	}
	assert.Equal(t, before, h.calls(), "a failed precondition changes nothing")
	assert.Equal(t, moved, ok[httpapi.Appointment](t, h.do("GET", path, nil), 200))

	ok[httpapi.Appointment](t, h.send("POST", path+"/cancel", nil, authed("If-Match", `"2"`)), 200)

	c := ok[httpapi.Class](t, h.do("POST", "/v1/sites/"+site+"/classes", classBody("", 3, false)), 201)
	cp := "/v1/sites/" + site + "/classes/" + c.ID
	r = h.send("POST", cp+"/enrollments", map[string]string{"participantId": alice}, authed("If-Match", `"1"`))
	e := ok[httpapi.Enrollment](t, r, 201)
	assert.Equal(t, `"1"`, r.header.Get("ETag"))
	problem(t, h.send("POST", cp+"/cancel", nil, authed("If-Match", `"1"`)), 412, httpapi.CodePreconditionFailed)
	ok[httpapi.Enrollment](t, h.send("POST", "/v1/sites/"+site+"/enrollments/"+e.ID+"/leave", nil, authed("If-Match", `*`)), 200)
}

func TestIdempotencyKey(t *testing.T) {
	h := newHarness(t)
	body := apptBody("", day, day+time.Hour)
	first := h.send("POST", apptPath, body, authed("Idempotency-Key", "create-1"))
	a := ok[httpapi.Appointment](t, first, 201)
	calls := len(h.calls())
	again := h.send("POST", apptPath, body, authed("Idempotency-Key", "create-1"))
	assert.Equal(t, 201, again.status)
	assert.JSONEq(t, string(first.body), string(again.body), "the first answer")
	assert.Equal(t, first.header.Get("Location"), again.header.Get("Location"))
	assert.Len(t, h.calls(), calls, "queues nothing more")

	otherBody := apptBody("", day, day+2*time.Hour)
	problem(t, h.send("POST", apptPath, otherBody, authed("Idempotency-Key", "create-1")), 422, httpapi.CodeIdempotencyKeyReused)
	assert.Len(t, h.calls(), calls)

	otherSite := "/v1/sites/" + other + "/appointments"
	b := ok[httpapi.Appointment](t, h.send("POST", otherSite, body, authed("Idempotency-Key", "create-1")), 201)
	assert.NotEqual(t, a.ID, b.ID, "keys are per site")

	move := map[string]string{"startsAt": at(2 * day), "endsAt": at(2*day + time.Hour)}
	path := apptPath + "/" + a.ID + "/reschedule"
	m1 := h.send("POST", path, move, authed("Idempotency-Key", "move-1"))
	require.Equal(t, 200, m1.status)
	calls = len(h.calls())
	m2 := h.send("POST", path, move, authed("Idempotency-Key", "move-1"))
	assert.Equal(t, 200, m2.status)
	assert.JSONEq(t, string(m1.body), string(m2.body))
	assert.Len(t, h.calls(), calls, "a retried reschedule queues its calls once")

	for _, key := range []string{"has space", strings.Repeat("k", 300)} {
		p := problem(t, h.send("POST", apptPath, body, authed("Idempotency-Key", key)), 400, httpapi.CodeInvalidArgument)
		assert.Equal(t, []string{"Idempotency-Key"}, fields(p))
	}
	p := problem(t, h.send("POST", apptPath, body, authed("Idempotency-Key", "a", "Idempotency-Key", "b")), 400, httpapi.CodeInvalidArgument)
	assert.Equal(t, []string{"Idempotency-Key"}, fields(p))
}

func TestIdempotencyKeyOnOperatorActions(t *testing.T) {
	h := newHarness(t)
	ok[httpapi.Appointment](t, h.do("POST", apptPath, apptBody("", day, day+time.Hour)), 201)
	call := h.calls()[0]
	path := "/v1/sites/" + site + "/outbox/" + call.ID + "/discard"
	first := h.send("POST", path, nil, authed("Idempotency-Key", "discard-1"))
	d := ok[httpapi.Call](t, first, 200)
	assert.Equal(t, string(application.StateDiscarded), d.State)
	again := h.send("POST", path, nil, authed("Idempotency-Key", "discard-1"))
	assert.Equal(t, 200, again.status, "the first answer, not 409 for a call already discarded")
	assert.JSONEq(t, string(first.body), string(again.body))
	problem(t, h.send("POST", path, nil, authed()), 409, httpapi.CodeTransitionNotAllowed)
	problem(t, h.send("POST", "/v1/sites/"+site+"/outbox/"+h.calls()[1].ID+"/discard", nil, authed("Idempotency-Key", "discard-1")),
		422, httpapi.CodeIdempotencyKeyReused)
}
