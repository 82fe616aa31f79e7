package httpapi_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/adapters/httpapi"
	"github.com/bookable/lifecycle/domain"
	"github.com/bookable/lifecycle/domain/courseenrollment"
)

const (
	courseSession1 = "5e550000-0000-4000-8000-000000000001"
	courseSession2 = "5e550000-0000-4000-8000-000000000002"
)

func courseBody() map[string]any {
	return map[string]any{"title": "Pottery", "capacity": 10, "sessions": []map[string]any{
		{"id": courseSession1, "startsAt": at(2 * day), "endsAt": at(2*day + time.Hour)},
		{"id": courseSession2, "startsAt": at(9 * day), "endsAt": at(9*day + time.Hour)},
	}}
}

// A course over HTTP: its sessions, enrollments in it, one session
// canceled, a session added, a participant leaving, the course canceled.
func TestCourseOverHTTP(t *testing.T) {
	h := newHarness(t)
	base := "/v1/sites/" + site
	r := h.do("POST", base+"/courses", courseBody())
	c := ok[httpapi.Course](t, r, 201)
	assert.Equal(t, base+"/courses/"+c.ID, r.header.Get("Location"))
	assert.Equal(t, `"1"`, r.header.Get("ETag"))
	assert.Equal(t, []httpapi.Session{
		{ID: courseSession1, Number: 1, StartsAt: at(2 * day), EndsAt: at(2*day + time.Hour), State: "scheduled"},
		{ID: courseSession2, Number: 2, StartsAt: at(9 * day), EndsAt: at(9*day + time.Hour), State: "scheduled"},
	}, c.Sessions)
	assert.Empty(t, h.calls(), "a course alone queues nothing")

	r = h.do("POST", base+"/courses/"+c.ID+"/enrollments", map[string]string{"participantId": alice})
	a := ok[httpapi.CourseEnrollment](t, r, 201)
	assert.Equal(t, httpapi.CourseEnrollment{ID: a.ID, SiteID: site, CourseID: c.ID, ParticipantID: alice, State: "enrolled", Version: 1}, a)
	assert.Equal(t, base+"/course-enrollments/"+a.ID, r.header.Get("Location"))
	b := ok[httpapi.CourseEnrollment](t, h.do("POST", base+"/courses/"+c.ID+"/enrollments", map[string]string{"participantId": bob}), 201)
	seat := func(id string, n int) string { return courseenrollment.SessionEntityID(domain.MustID(id), n).String() }
	enrolled := h.apiCalls(site, 0)
	require.Equal(t, []step{
		{"report", "participant_enrolled_in_course", a.ID},
		{"report", "course_session_starting", seat(a.ID, 1)},
		{"report", "course_session_starting", seat(a.ID, 2)},
		{"report", "participant_enrolled_in_course", b.ID},
		{"report", "course_session_starting", seat(b.ID, 1)},
		{"report", "course_session_starting", seat(b.ID, 2)},
	}, steps(enrolled))
	last := enrolled[len(enrolled)-1].Seq

	got := ok[httpapi.Course](t, h.do("POST", base+"/courses/"+c.ID+"/sessions/"+courseSession1+"/cancel",
		map[string]string{"reason": "kiln broken"}), 200)
	assert.Equal(t, "canceled", got.Sessions[0].State)
	assert.Equal(t, "kiln broken", got.Sessions[0].CancelReason)
	calls := h.apiCalls(site, last)
	assert.Equal(t, []step{
		{"report", "course_session_canceled", seat(a.ID, 1)},
		{"cancel", "course_session_starting", seat(a.ID, 1)},
		{"report", "course_session_canceled", seat(b.ID, 1)},
		{"cancel", "course_session_starting", seat(b.ID, 1)},
	}, steps(calls))
	last = calls[len(calls)-1].Seq

	r = h.do("POST", base+"/courses/"+c.ID+"/sessions", map[string]string{"startsAt": at(16 * day), "endsAt": at(16*day + time.Hour)})
	got = ok[httpapi.Course](t, r, 201)
	require.Len(t, got.Sessions, 3)
	assert.Equal(t, 3, got.Sessions[2].Number)
	calls = h.apiCalls(site, last)
	assert.Equal(t, []step{
		{"report", "course_session_starting", seat(a.ID, 3)},
		{"report", "course_session_starting", seat(b.ID, 3)},
	}, steps(calls))
	assert.Equal(t, at(16*day), calls[0].ScheduledAt)
	last = calls[len(calls)-1].Seq

	ok[httpapi.Course](t, h.do("POST", base+"/courses/"+c.ID+"/sessions/"+courseSession2+"/reschedule",
		map[string]string{"startsAt": at(10 * day), "endsAt": at(10*day + time.Hour)}), 200)
	calls = h.apiCalls(site, last)
	assert.Equal(t, []step{
		{"cancel", "course_session_starting", seat(a.ID, 2)}, {"report", "course_session_starting", seat(a.ID, 2)},
		{"cancel", "course_session_starting", seat(b.ID, 2)}, {"report", "course_session_starting", seat(b.ID, 2)},
	}, steps(calls))
	last = calls[len(calls)-1].Seq

	left := ok[httpapi.CourseEnrollment](t, h.do("POST", base+"/course-enrollments/"+a.ID+"/leave", nil), 200)
	assert.Equal(t, "left", left.State)
	assert.Equal(t, left, ok[httpapi.CourseEnrollment](t, h.do("GET", base+"/course-enrollments/"+a.ID, nil), 200))
	calls = h.apiCalls(site, last)
	assert.Equal(t, []step{
		{"report", "participant_left_course", a.ID},
		{"cancel", "participant_enrolled_in_course", a.ID},
		{"cancel", "course_session_canceled", seat(a.ID, 1)}, // the notice of session 1 ends with the seat
		{"cancel", "course_session_starting", seat(a.ID, 2)},
		{"cancel", "course_session_starting", seat(a.ID, 3)},
	}, steps(calls))
	last = calls[len(calls)-1].Seq

	got = ok[httpapi.Course](t, h.do("POST", base+"/courses/"+c.ID+"/cancel", nil), 200)
	assert.Equal(t, "canceled", got.State)
	assert.Equal(t, 0, got.Enrolled)
	assert.Equal(t, []step{
		{"report", "course_canceled", b.ID},
		{"cancel", "participant_enrolled_in_course", b.ID},
		{"cancel", "course_session_canceled", seat(b.ID, 1)}, // the notice of session 1 ends with the seat
		{"cancel", "course_session_starting", seat(b.ID, 2)},
		{"cancel", "course_session_starting", seat(b.ID, 3)},
	}, steps(h.apiCalls(site, last)))
	assert.Equal(t, got, ok[httpapi.Course](t, h.do("GET", base+"/courses/"+c.ID, nil), 200))

	p := problem(t, h.do("POST", base+"/courses/"+c.ID+"/complete", nil), 409, httpapi.CodeTransitionNotAllowed)
	assert.Contains(t, p.Detail, "course")
}

func TestCourseRefusals(t *testing.T) {
	h := newHarness(t)
	base := "/v1/sites/" + site
	body := courseBody()
	body["sessions"] = []map[string]any{{"startsAt": at(day), "start": at(day)}}
	p := problem(t, h.do("POST", base+"/courses", body), 400, httpapi.CodeInvalidArgument)
	assert.Equal(t, []string{"sessions[0].start"}, fields(p), "members of a session are checked strictly too")
	body["sessions"] = []map[string]any{{"startsAt": at(day)}}
	p = problem(t, h.do("POST", base+"/courses", body), 400, httpapi.CodeInvalidArgument)
	assert.Equal(t, []string{"sessions[0].endsAt"}, fields(p))
	body["sessions"] = []string{"x"}
	p = problem(t, h.do("POST", base+"/courses", body), 400, httpapi.CodeInvalidArgument)
	assert.Equal(t, []string{"sessions[0]"}, fields(p))

	c := ok[httpapi.Course](t, h.do("POST", base+"/courses", courseBody()), 201)
	problem(t, h.do("POST", base+"/courses/"+c.ID+"/sessions/"+alice+"/cancel", nil), 404, httpapi.CodeNotFound)
	problem(t, h.do("POST", base+"/courses/"+c.ID+"/sessions/nope/cancel", nil), 400, httpapi.CodeInvalidArgument)
	problem(t, h.send("POST", base+"/courses/"+c.ID+"/sessions/"+courseSession1+"/cancel", nil, authed("If-Match", `"7"`)),
		412, httpapi.CodePreconditionFailed)
	ok[httpapi.CourseEnrollment](t, h.do("POST", base+"/courses/"+c.ID+"/enrollments", map[string]string{"participantId": alice}), 201)
	problem(t, h.do("POST", base+"/courses/"+c.ID+"/enrollments", map[string]string{"participantId": alice}), 409, httpapi.CodeAlreadyEnrolled)
	problem(t, h.do("GET", "/v1/sites/"+other+"/courses/"+c.ID, nil), 404, httpapi.CodeNotFound)
	assert.Len(t, h.calls(), 3, "refusals queue nothing")
}

// A series over HTTP: booked, one occurrence moved, this and following
// canceled.
func TestSeriesOverHTTP(t *testing.T) {
	h := newHarness(t)
	base := "/v1/sites/" + site
	r := h.do("POST", base+"/series", map[string]any{"contactId": contact, "title": "Physio", "startsAt": at(day),
		"endsAt": at(day + time.Hour), "every": "week", "count": 3})
	s := ok[httpapi.Series](t, r, 201)
	assert.Equal(t, base+"/series/"+s.ID, r.header.Get("Location"))
	require.Len(t, s.Occurrences, 3)
	assert.Equal(t, "UTC", s.TimeZone)
	assert.Equal(t, at(15*day), s.Occurrences[2].StartsAt)
	booked := h.apiCalls(site, 0)
	assert.Len(t, booked, 6, "two reports per occurrence")

	moved := ok[httpapi.Series](t, h.do("POST", base+"/series/"+s.ID+"/occurrences/1/reschedule",
		map[string]string{"startsAt": at(2 * day), "endsAt": at(2*day + time.Hour)}), 200)
	assert.Equal(t, at(2*day), moved.Occurrences[0].StartsAt)
	first := s.Occurrences[0].AppointmentID
	calls := h.apiCalls(site, booked[5].Seq)
	assert.Equal(t, []step{{"cancel", "appointment_starting", first}, {"report", "appointment_starting", first}}, steps(calls))

	cut := ok[httpapi.Series](t, h.do("POST", base+"/series/"+s.ID+"/cancel", map[string]any{"scope": "following", "occurrence": 2}), 200)
	assert.Equal(t, 2, cut.CutFrom)
	assert.Equal(t, []string{"scheduled", "canceled", "canceled"},
		[]string{cut.Occurrences[0].State, cut.Occurrences[1].State, cut.Occurrences[2].State})
	assert.Equal(t, cut, ok[httpapi.Series](t, h.do("GET", base+"/series/"+s.ID, nil), 200))

	p := problem(t, h.do("POST", base+"/series/"+s.ID+"/cancel", map[string]any{"scope": "this"}), 400, httpapi.CodeInvalidArgument)
	assert.Equal(t, []string{"occurrence"}, fields(p))
	p = problem(t, h.do("POST", base+"/series/"+s.ID+"/cancel", map[string]any{"scope": "some"}), 400, httpapi.CodeInvalidArgument)
	assert.Equal(t, []string{"scope"}, fields(p))
	problem(t, h.do("POST", base+"/series/"+s.ID+"/occurrences/0/reschedule",
		map[string]string{"startsAt": at(2 * day), "endsAt": at(2*day + time.Hour)}), 400, httpapi.CodeInvalidArgument)
	problem(t, h.do("POST", base+"/series/"+s.ID+"/occurrences/9/reschedule",
		map[string]string{"startsAt": at(2 * day), "endsAt": at(2*day + time.Hour)}), 404, httpapi.CodeNotFound)
	p = problem(t, h.do("POST", base+"/series", map[string]any{"contactId": contact, "startsAt": at(day),
		"endsAt": at(day + time.Hour), "every": "month", "count": 3}), 400, httpapi.CodeInvalidArgument)
	assert.Equal(t, []string{"every"}, fields(p))
}

func TestSiteSettingsOverHTTP(t *testing.T) {
	h := newHarness(t)
	path := "/v1/sites/" + site + "/settings"
	r := h.do("GET", path, nil)
	assert.Equal(t, httpapi.SiteSettings{SiteID: site, TimeZone: "UTC"}, ok[httpapi.SiteSettings](t, r, 200))
	assert.Equal(t, `"0"`, r.header.Get("ETag"))

	p := problem(t, h.do("PUT", path, map[string]string{"timeZone": "Mars/Olympus"}), 400, httpapi.CodeInvalidArgument)
	assert.Equal(t, []string{"timeZone"}, fields(p))
	p = problem(t, h.do("PUT", path, map[string]string{}), 400, httpapi.CodeInvalidArgument)
	assert.Equal(t, []string{"timeZone"}, fields(p))

	r = h.send("PUT", path, map[string]string{"timeZone": "Europe/Berlin"}, authed("If-Match", `"0"`))
	assert.Equal(t, httpapi.SiteSettings{SiteID: site, TimeZone: "Europe/Berlin", Version: 1}, ok[httpapi.SiteSettings](t, r, 200))
	problem(t, h.send("PUT", path, map[string]string{"timeZone": "UTC"}, authed("If-Match", `"0"`)), 412, httpapi.CodePreconditionFailed)
	assert.Equal(t, "Europe/Berlin", ok[httpapi.SiteSettings](t, h.do("GET", path, nil), 200).TimeZone)
	assert.Equal(t, "UTC", ok[httpapi.SiteSettings](t, h.do("GET", "/v1/sites/"+other+"/settings", nil), 200).TimeZone,
		"another site keeps its own")
	assert.Empty(t, h.calls(), "a zone change queues nothing; reconcile compares the payloads")
}
