package httpapi_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/adapters/httpapi"
)

const day = 24 * time.Hour

func TestHealthzNeedsNoToken(t *testing.T) {
	h := newHarness(t)
	got := ok[map[string]string](t, h.doAuth("GET", "/healthz", nil, ""), 200)
	assert.Equal(t, map[string]string{"status": "ok"}, got)
}

// The source document's one-to-many scenario over HTTP: a contact books an
// appointment and cancels it; the reminder and follow-up are canceled by the
// appointment's ID.
func TestScheduleAndCancelAppointment(t *testing.T) {
	h := newHarness(t)
	r := h.do("POST", "/v1/sites/"+site+"/appointments", apptBody("", day, day+time.Hour))
	a := ok[httpapi.Appointment](t, r, 201)
	require.NotEmpty(t, a.ID)
	assert.Equal(t, httpapi.Appointment{ID: a.ID, SiteID: site, ContactID: contact, StartsAt: at(day),
		EndsAt: at(day + time.Hour), Title: "Haircut", State: "scheduled", Version: a.Version}, a)
	assert.Positive(t, a.Version)
	assert.Equal(t, "/v1/sites/"+site+"/appointments/"+a.ID, r.header.Get("Location"))

	scheduled := h.apiCalls(site, 0)
	require.Equal(t, []step{
		{"report", "appointment_scheduled", a.ID},
		{"report", "appointment_starting", a.ID},
	}, steps(scheduled))
	assert.Empty(t, scheduled[0].ScheduledAt, "appointment_scheduled is real-time")
	assert.Equal(t, at(day), scheduled[1].ScheduledAt, "the reminder is scheduled at the start")
	for _, c := range scheduled {
		assert.Equal(t, "pending", c.State)
		assert.Equal(t, site, c.SiteID)
		assert.JSONEq(t, `"`+contact+`"`, string(jsonField(t, c.Payload, "contactId")))
	}

	got := ok[httpapi.Appointment](t, h.do("GET", "/v1/sites/"+site+"/appointments/"+a.ID, nil), 200)
	assert.Equal(t, a, got)

	canceled := ok[httpapi.Appointment](t, h.do("POST", "/v1/sites/"+site+"/appointments/"+a.ID+"/cancel",
		map[string]string{"reason": "sick"}), 200)
	assert.Equal(t, "canceled", canceled.State)
	assert.Equal(t, "sick", canceled.CancelReason)
	assert.Greater(t, canceled.Version, a.Version)

	assert.Equal(t, []step{
		{"report", "appointment_canceled", a.ID},
		{"cancel", "appointment_scheduled", a.ID},
		{"cancel", "appointment_starting", a.ID},
	}, steps(h.apiCalls(site, scheduled[1].Seq)))

	got = ok[httpapi.Appointment](t, h.do("GET", "/v1/sites/"+site+"/appointments/"+a.ID, nil), 200)
	assert.Equal(t, canceled, got)
}

func TestCancelAppointmentWithoutBody(t *testing.T) {
	h := newHarness(t)
	a := ok[httpapi.Appointment](t, h.do("POST", "/v1/sites/"+site+"/appointments", apptBody("", day, day+time.Hour)), 201)
	got := ok[httpapi.Appointment](t, h.do("POST", "/v1/sites/"+site+"/appointments/"+a.ID+"/cancel", nil), 200)
	assert.Equal(t, "canceled", got.State)
	assert.Empty(t, got.CancelReason)
}

func TestRescheduleAppointment(t *testing.T) {
	h := newHarness(t)
	a := ok[httpapi.Appointment](t, h.do("POST", "/v1/sites/"+site+"/appointments", apptBody("", day, day+time.Hour)), 201)
	before := h.calls()

	moved := ok[httpapi.Appointment](t, h.do("POST", "/v1/sites/"+site+"/appointments/"+a.ID+"/reschedule",
		map[string]string{"startsAt": at(2 * day), "endsAt": at(2*day + time.Hour)}), 200)
	assert.Equal(t, at(2*day), moved.StartsAt)
	assert.Equal(t, at(2*day+time.Hour), moved.EndsAt)
	assert.Equal(t, "scheduled", moved.State)

	after := h.apiCalls(site, before[len(before)-1].Seq)
	require.Equal(t, []step{
		{"cancel", "appointment_starting", a.ID},
		{"report", "appointment_starting", a.ID},
	}, steps(after), "the old reminder is canceled before the new one is reported")
	assert.Equal(t, at(2*day), after[1].ScheduledAt)
}

func TestCompleteAndNoShow(t *testing.T) {
	h := newHarness(t)
	a := ok[httpapi.Appointment](t, h.do("POST", "/v1/sites/"+site+"/appointments", apptBody("", day, day+time.Hour)), 201)
	b := ok[httpapi.Appointment](t, h.do("POST", "/v1/sites/"+site+"/appointments", apptBody("", day, day+time.Hour)), 201)
	h.clock.Advance(day + 30*time.Minute)

	done := ok[httpapi.Appointment](t, h.do("POST", "/v1/sites/"+site+"/appointments/"+a.ID+"/complete", nil), 200)
	assert.Equal(t, "completed", done.State)
	missed := ok[httpapi.Appointment](t, h.do("POST", "/v1/sites/"+site+"/appointments/"+b.ID+"/no-show", "{}"), 200)
	assert.Equal(t, "no_show", missed.State)
}

// The source document's many-to-many scenario over HTTP: a participant
// enrolls in a class and leaves it; the events are reported and canceled by
// the enrollment's ID, never the class's or the participant's.
func TestEnrollAndLeave(t *testing.T) {
	h := newHarness(t)
	c := ok[httpapi.Class](t, h.do("POST", "/v1/sites/"+site+"/classes", classBody("", 10, false)), 201)
	assert.Empty(t, h.calls(), "a class alone queues nothing")

	r := h.do("POST", "/v1/sites/"+site+"/classes/"+c.ID+"/enrollments", map[string]string{"participantId": alice})
	e := ok[httpapi.Enrollment](t, r, 201)
	assert.Equal(t, httpapi.Enrollment{ID: e.ID, SiteID: site, ClassID: c.ID, ParticipantID: alice, State: "enrolled", Version: 1}, e)
	assert.NotEqual(t, c.ID, e.ID)
	assert.Equal(t, "/v1/sites/"+site+"/enrollments/"+e.ID, r.header.Get("Location"))

	enrolled := h.apiCalls(site, 0)
	require.Equal(t, []step{
		{"report", "participant_enrolled_in_class", e.ID},
		{"report", "class_starting", e.ID},
	}, steps(enrolled))
	assert.Equal(t, c.StartsAt, enrolled[1].ScheduledAt)

	left := ok[httpapi.Enrollment](t, h.do("POST", "/v1/sites/"+site+"/enrollments/"+e.ID+"/leave", nil), 200)
	assert.Equal(t, "left", left.State)
	assert.Equal(t, []step{
		{"report", "participant_left_class", e.ID},
		{"cancel", "participant_enrolled_in_class", e.ID},
		{"cancel", "class_starting", e.ID},
	}, steps(h.apiCalls(site, enrolled[1].Seq)))

	got := ok[httpapi.Enrollment](t, h.do("GET", "/v1/sites/"+site+"/enrollments/"+e.ID, nil), 200)
	assert.Equal(t, left, got)

	again := ok[httpapi.Enrollment](t, h.do("POST", "/v1/sites/"+site+"/classes/"+c.ID+"/enrollments",
		map[string]string{"participantId": alice}), 201)
	assert.NotEqual(t, e.ID, again.ID, "enrolling again makes a new enrollment with a new ID")
}

func TestScheduleClassAndWaitlist(t *testing.T) {
	h := newHarness(t)
	r := h.do("POST", "/v1/sites/"+site+"/classes", classBody("", 2, true))
	c := ok[httpapi.Class](t, r, 201)
	assert.Equal(t, httpapi.Class{ID: c.ID, SiteID: site, Title: "Yoga", StartsAt: at(48 * time.Hour), EndsAt: at(49 * time.Hour),
		Capacity: 2, Waitlist: true, State: "scheduled", Version: c.Version}, c)
	assert.Equal(t, "/v1/sites/"+site+"/classes/"+c.ID, r.header.Get("Location"))

	var ids []string
	for _, p := range []string{alice, bob, carol} {
		e := ok[httpapi.Enrollment](t, h.do("POST", "/v1/sites/"+site+"/classes/"+c.ID+"/enrollments",
			map[string]string{"participantId": p}), 201)
		ids = append(ids, e.ID)
	}
	got := ok[httpapi.Class](t, h.do("GET", "/v1/sites/"+site+"/classes/"+c.ID, nil), 200)
	assert.Equal(t, 2, got.Enrolled)
	assert.Equal(t, 1, got.Waitlisted)
	carolE := ok[httpapi.Enrollment](t, h.do("GET", "/v1/sites/"+site+"/enrollments/"+ids[2], nil), 200)
	assert.Equal(t, "waitlisted", carolE.State)

	before := h.calls()
	ok[httpapi.Enrollment](t, h.do("POST", "/v1/sites/"+site+"/enrollments/"+ids[0]+"/leave", nil), 200)
	carolE = ok[httpapi.Enrollment](t, h.do("GET", "/v1/sites/"+site+"/enrollments/"+ids[2], nil), 200)
	assert.Equal(t, "enrolled", carolE.State, "the oldest waitlisted participant takes the freed seat")
	assert.Equal(t, []step{
		{"report", "participant_left_class", ids[0]},
		{"cancel", "participant_enrolled_in_class", ids[0]},
		{"cancel", "class_starting", ids[0]},
		{"report", "participant_enrolled_in_class", ids[2]},
		{"report", "class_starting", ids[2]},
	}, steps(h.apiCalls(site, before[len(before)-1].Seq)))
}

// The class-cancel scenario: every seated participant's events are reported
// canceled and withdrawn, by enrollment ID, in order of admission.
func TestCancelClass(t *testing.T) {
	h := newHarness(t)
	c := ok[httpapi.Class](t, h.do("POST", "/v1/sites/"+site+"/classes", classBody("", 5, false)), 201)
	var ids []string
	for _, p := range []string{alice, bob} {
		e := ok[httpapi.Enrollment](t, h.do("POST", "/v1/sites/"+site+"/classes/"+c.ID+"/enrollments",
			map[string]string{"participantId": p}), 201)
		ids = append(ids, e.ID)
	}
	before := h.calls()

	canceled := ok[httpapi.Class](t, h.do("POST", "/v1/sites/"+site+"/classes/"+c.ID+"/cancel",
		map[string]string{"reason": "teacher ill"}), 200)
	assert.Equal(t, "canceled", canceled.State)
	assert.Equal(t, "teacher ill", canceled.CancelReason)

	var want []step
	for _, id := range ids {
		want = append(want,
			step{"report", "class_canceled", id},
			step{"cancel", "participant_enrolled_in_class", id},
			step{"cancel", "class_starting", id})
	}
	assert.Equal(t, want, steps(h.apiCalls(site, before[len(before)-1].Seq)))
	for _, id := range ids {
		e := ok[httpapi.Enrollment](t, h.do("GET", "/v1/sites/"+site+"/enrollments/"+id, nil), 200)
		assert.Equal(t, "class_canceled", e.State)
	}
}

func TestRescheduleAndCompleteClass(t *testing.T) {
	h := newHarness(t)
	c := ok[httpapi.Class](t, h.do("POST", "/v1/sites/"+site+"/classes", classBody("", 5, false)), 201)
	e := ok[httpapi.Enrollment](t, h.do("POST", "/v1/sites/"+site+"/classes/"+c.ID+"/enrollments",
		map[string]string{"participantId": alice}), 201)
	before := h.calls()

	moved := ok[httpapi.Class](t, h.do("POST", "/v1/sites/"+site+"/classes/"+c.ID+"/reschedule",
		map[string]string{"startsAt": at(3 * day), "endsAt": at(3*day + time.Hour)}), 200)
	assert.Equal(t, at(3*day), moved.StartsAt)
	after := h.apiCalls(site, before[len(before)-1].Seq)
	require.Equal(t, []step{
		{"cancel", "class_starting", e.ID},
		{"report", "class_starting", e.ID},
	}, steps(after))
	assert.Equal(t, at(3*day), after[1].ScheduledAt)

	h.clock.Advance(3*day + 10*time.Minute)
	done := ok[httpapi.Class](t, h.do("POST", "/v1/sites/"+site+"/classes/"+c.ID+"/complete", nil), 200)
	assert.Equal(t, "completed", done.State)
	got := ok[httpapi.Enrollment](t, h.do("GET", "/v1/sites/"+site+"/enrollments/"+e.ID, nil), 200)
	assert.Equal(t, "attended", got.State)
}

// A create with a caller-chosen id is idempotent: the same body again
// returns 201 and the same resource and queues nothing more; other details
// under the same id are a conflict.
func TestIdempotentCreate(t *testing.T) {
	const apptID = "ab000000-0000-4000-8000-0000000000a1"
	const classID = "c1a55000-0000-4000-8000-0000000000c1"
	const enrollID = "e0000000-0000-4000-8000-0000000000e1"
	tests := []struct {
		name      string
		path      func() string
		body      any
		different any
	}{
		{"appointment", func() string { return "/v1/sites/" + site + "/appointments" },
			apptBody(apptID, day, day+time.Hour), apptBody(apptID, day, day+2*time.Hour)},
		{"class", func() string { return "/v1/sites/" + site + "/classes" },
			classBody(classID, 5, false), classBody(classID, 6, false)},
		{"enrollment", func() string { return "/v1/sites/" + site + "/classes/" + classID + "/enrollments" },
			map[string]string{"id": enrollID, "participantId": alice}, map[string]string{"id": enrollID, "participantId": bob}},
	}
	h := newHarness(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			first := h.do("POST", tt.path(), tt.body)
			require.Equal(t, 201, first.status, "body: %s", first.body)
			calls := h.calls()

			second := h.do("POST", tt.path(), tt.body)
			assert.Equal(t, 201, second.status)
			assert.JSONEq(t, string(first.body), string(second.body))
			assert.Equal(t, first.header.Get("Location"), second.header.Get("Location"))
			assert.Equal(t, calls, h.calls(), "a repeated create queues nothing")

			p := problem(t, h.do("POST", tt.path(), tt.different), 409, httpapi.CodeConflict)
			assert.Contains(t, p.Detail, "other")
			assert.Equal(t, calls, h.calls())
		})
	}
}

func TestTenancy(t *testing.T) {
	h := newHarness(t)
	a := ok[httpapi.Appointment](t, h.do("POST", "/v1/sites/"+site+"/appointments", apptBody("", day, day+time.Hour)), 201)
	c := ok[httpapi.Class](t, h.do("POST", "/v1/sites/"+site+"/classes", classBody("", 5, false)), 201)
	e := ok[httpapi.Enrollment](t, h.do("POST", "/v1/sites/"+site+"/classes/"+c.ID+"/enrollments",
		map[string]string{"participantId": alice}), 201)
	call := h.calls()[0]
	before := h.calls()

	for _, req := range []struct{ method, path string }{
		{"GET", "/appointments/" + a.ID},
		{"POST", "/appointments/" + a.ID + "/cancel"},
		{"POST", "/appointments/" + a.ID + "/no-show"},
		{"GET", "/classes/" + c.ID},
		{"POST", "/classes/" + c.ID + "/cancel"},
		{"POST", "/classes/" + c.ID + "/enrollments"},
		{"GET", "/enrollments/" + e.ID},
		{"POST", "/enrollments/" + e.ID + "/leave"},
		{"GET", "/outbox/" + call.ID},
		{"POST", "/outbox/" + call.ID + "/discard"},
	} {
		t.Run(req.method+req.path, func(t *testing.T) {
			var body any
			if req.path == "/classes/"+c.ID+"/enrollments" {
				body = map[string]string{"participantId": bob}
			}
			problem(t, h.do(req.method, "/v1/sites/"+other+req.path, body), 404, httpapi.CodeNotFound)
		})
	}
	assert.Empty(t, h.apiCalls(other, 0), "another site sees none of the calls")
	stats := ok[httpapi.CallStats](t, h.do("GET", "/v1/sites/"+other+"/outbox/stats", nil), 200)
	assert.Equal(t, 0, stats.Calls["pending"])
	assert.Equal(t, before, h.calls())
}

func TestNewHTTPServerSetsTimeouts(t *testing.T) {
	s := httpapi.NewHTTPServer("127.0.0.1:0", nil)
	assert.Equal(t, "127.0.0.1:0", s.Addr)
	assert.Positive(t, s.ReadHeaderTimeout)
	assert.Positive(t, s.ReadTimeout)
	assert.Positive(t, s.WriteTimeout)
	assert.Positive(t, s.IdleTimeout)
	assert.Positive(t, s.MaxHeaderBytes)
}

func TestNewValidatesConfig(t *testing.T) {
	_, err := httpapi.New(httpapi.Config{})
	assert.ErrorContains(t, err, "App")
}
