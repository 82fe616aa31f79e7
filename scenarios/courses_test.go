package scenarios

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/adapters/wixsim"
	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/domain"
	"github.com/bookable/lifecycle/domain/courseenrollment"
)

// The course scenarios: the seed's many-to-many rule one level down. A
// participant's events about the course carry their course enrollment ID;
// each session's reminder carries the ID of their seat in that session
// (derived from the enrollment and the session's number), so a session, a
// participant or the whole course can be canceled without touching anything
// else.

func courseID(n int) domain.ID  { return nthID("c0a5e000", n) }
func sessionID(n int) domain.ID { return nthID("5e550000", n) }

// seat is the externalEntityId of an enrollment's place in session n.
func seat(e application.CourseEnrollmentView, n int) domain.ID {
	return courseenrollment.SessionEntityID(e.ID, n)
}

// scheduleCourse creates course n with sessions weekly sessions of an hour,
// the first one `in` from now; session i has ID sessionID(10*n+i).
func (w *world) scheduleCourse(n, capacity, sessions int, in time.Duration) application.CourseView {
	w.t.Helper()
	var ss []application.NewCourseSession
	for i := 1; i <= sessions; i++ {
		start := at(in + time.Duration(i-1)*7*day)
		ss = append(ss, application.NewCourseSession{ID: sessionID(10*n + i), StartsAt: start, EndsAt: start.Add(time.Hour)})
	}
	v, err := w.app.ScheduleCourse.Handle(w.ctx, application.ScheduleCourse{SiteID: Site, ID: courseID(n), Title: "Pottery",
		Capacity: capacity, Sessions: ss})
	require.NoError(w.t, err)
	return v
}

// enrollInCourse signs participant p up for course c.
func (w *world) enrollInCourse(c, p int) application.CourseEnrollmentView {
	w.t.Helper()
	v, err := w.app.EnrollInCourse.Handle(w.ctx, application.EnrollInCourse{SiteID: Site, CourseID: courseID(c), ParticipantID: participantID(p)})
	require.NoError(w.t, err)
	return v
}

// Enrolling in a course reports the enrollment and one reminder per
// session, each under its own seat ID.
func TestParticipantEnrollsInACourse(t *testing.T) {
	eachStore(t, func(t *testing.T, w *world) {
		// Given a course of three weekly sessions, the first in two days
		w.scheduleCourse(1, 10, 3, 2*day)
		w.thenNoCalls()

		// When participant 1 enrolls
		e := w.enrollInCourse(1, 1)

		// Then the enrollment is reported, and each session's reminder at its start
		assert.Equal(t, "enrolled", e.State)
		calls := w.thenCalls(
			report("participant_enrolled_in_course", e.ID),
			reportAt("course_session_starting", seat(e, 1), at(2*day)),
			reportAt("course_session_starting", seat(e, 2), at(9*day)),
			reportAt("course_session_starting", seat(e, 3), at(16*day)),
		)
		assert.Len(t, map[string]bool{e.ID.String(): true, seat(e, 1).String(): true, seat(e, 2).String(): true, seat(e, 3).String(): true}, 4, "four entities")
		assert.JSONEq(t, `{"enrollmentId":"`+e.ID.String()+`","courseId":"`+courseID(1).String()+`","sessionId":"`+sessionID(12).String()+`",
			"sessionNumber":"2","participantId":"`+participantID(1).String()+`","courseTitle":"Pottery",
			"sessionStartsAt":"2030-01-16T09:00:00Z","sessionEndsAt":"2030-01-16T10:00:00Z",
			"sessionStartsAtLocal":"2030-01-16T09:00","sessionEndsAtLocal":"2030-01-16T10:00",
			"sessionStartsAtText":"Wednesday 16 January 2030, 09:00","timeZone":"UTC"}`, string(calls[2].Payload))
	})
}

// Issue 16, "done when": one session of a 20-participant course is
// canceled. Only that session's 20 reminders are canceled, and the relay
// sends them in ceil(20/100) = 1 request per trigger.
func TestOneSessionOfATwentyParticipantCourseCanceled(t *testing.T) {
	eachStoreWithWix(t, func(t *testing.T, o *outcomes) {
		for _, a := range []wixsim.Automation{
			{Name: "session reminder 1 hour before", TriggerKey: "course_session_starting", Offset: -time.Hour},
			{Name: "session canceled notice", TriggerKey: "course_session_canceled"},
		} {
			require.NoError(t, o.sim.AddAutomation(Site.String(), a))
		}
		// Given a course of three weekly sessions with 20 participants
		o.scheduleCourse(1, 20, 3, 2*day)
		var es []application.CourseEnrollmentView
		for p := 1; p <= 20; p++ {
			es = append(es, o.enrollInCourse(1, p))
		}
		o.deliver()
		o.newCalls()

		// When the second session is canceled
		o.clock.Advance(time.Hour)
		before := o.sim.RequestCount(Site.String())
		v, err := o.app.CancelCourseSession.Handle(o.ctx, application.CancelCourseSession{SiteID: Site, CourseID: courseID(1),
			SessionID: sessionID(12), Reason: "kiln broken"})
		require.NoError(t, err)
		assert.Equal(t, "canceled", v.Sessions[1].State)
		assert.Equal(t, "scheduled", v.State, "the course goes on")

		// Then each participant's seat in session 2, and nothing else, is told and canceled
		var want []call
		for _, e := range es {
			want = append(want, report("course_session_canceled", seat(e, 2)), cancel("course_session_starting", seat(e, 2)))
		}
		o.thenCalls(want...)
		o.deliver()
		assert.Equal(t, 2, o.sim.RequestCount(Site.String())-before, "ceil(20/100) = 1 bulk request per trigger, two triggers")

		// And when the weeks pass, every participant got the reminders of
		// sessions 1 and 3 and the notice of session 2, and no reminder for it.
		o.sim.Advance(20 * day)
		for _, e := range es {
			got := map[string]bool{}
			for _, r := range o.ran() {
				got[r.automation+" "+r.entity] = true
			}
			assert.True(t, got["session reminder 1 hour before "+seat(e, 1).String()])
			assert.False(t, got["session reminder 1 hour before "+seat(e, 2).String()], "no reminder for the canceled session")
			assert.True(t, got["session reminder 1 hour before "+seat(e, 3).String()])
			assert.True(t, got["session canceled notice "+seat(e, 2).String()])
			assert.Equal(t, []string{"session reminder 1 hour before"}, o.canceledFor(seat(e, 2)))
		}
	})
}

// A session cancel of N participants stays within 3 x ceil(N/100)
// requests: with the optional reschedule notice on and the session moved
// before, each seat has three calls (the notice is canceled with the
// reminder), and 300 participants take 9 requests.
func TestSessionCancelOfThreeHundredIsNineRequests(t *testing.T) {
	c := withOptional(t, application.RoleCourseSessionRescheduled)
	eachStoreWithWixCatalog(t, c, nil, func(t *testing.T, o *outcomes) {
		o.scheduleCourse(1, 300, 2, 2*day)
		for p := 1; p <= 300; p++ {
			o.enrollInCourse(1, p)
		}
		_, err := o.app.RescheduleCourseSession.Handle(o.ctx, application.RescheduleCourseSession{SiteID: Site, CourseID: courseID(1),
			SessionID: sessionID(12), StartsAt: at(10 * day), EndsAt: at(10*day + time.Hour)})
		require.NoError(t, err)
		o.deliver()
		before := o.sim.RequestCount(Site.String())
		_, err = o.app.CancelCourseSession.Handle(o.ctx, application.CancelCourseSession{SiteID: Site, CourseID: courseID(1), SessionID: sessionID(12)})
		require.NoError(t, err)
		o.deliver()
		assert.Equal(t, 9, o.sim.RequestCount(Site.String())-before, "3 triggers x ceil(300/100) bulk requests")
		for _, e := range o.sim.LiveEvents(Site.String()) {
			key, n, ok := courseenrollment.ParseSessionEntityID(e.ExternalEntityID)
			if ok && n == 2 {
				assert.Equal(t, "course_session_canceled", e.TriggerKey, "only the notice of session 2 is live (%s)", key)
			}
		}
	})
}

// Issue 16, "done when": a participant leaves a course. Their enrollment is
// reported left and all their reminders are canceled; the other
// participants and their other course are untouched.
func TestParticipantLeavesACourse(t *testing.T) {
	eachStore(t, func(t *testing.T, w *world) {
		// Given participants 1 and 2 in a course of three sessions, and participant 1 also in another course
		w.scheduleCourse(1, 10, 3, 2*day)
		w.scheduleCourse(2, 10, 1, 3*day)
		leaves, stays, other := w.enrollInCourse(1, 1), w.enrollInCourse(1, 2), w.enrollInCourse(2, 1)
		w.newCalls()

		// When participant 1 leaves course 1
		v, err := w.app.LeaveCourse.Handle(w.ctx, application.LeaveCourse{SiteID: Site, EnrollmentID: leaves.ID})
		require.NoError(t, err)

		// Then only their enrollment and their three seats are touched
		assert.Equal(t, "left", v.State)
		w.thenCalls(
			report("participant_left_course", leaves.ID),
			cancel("participant_enrolled_in_course", leaves.ID),
			cancel("course_session_starting", seat(leaves, 1)),
			cancel("course_session_starting", seat(leaves, 2)),
			cancel("course_session_starting", seat(leaves, 3)),
		)
		got, err := w.app.GetCourse.Handle(w.ctx, application.GetCourse{SiteID: Site, ID: courseID(1)})
		require.NoError(t, err)
		assert.Equal(t, 1, got.Enrolled, "the seat is free again")
		for _, e := range []application.CourseEnrollmentView{stays, other} {
			ge, err := w.app.GetCourseEnrollment.Handle(w.ctx, application.GetCourseEnrollment{SiteID: Site, ID: e.ID})
			require.NoError(t, err)
			assert.Equal(t, "enrolled", ge.State)
		}
	})
}

// Leaving after a session took place cancels only the reminders of the
// sessions to come: the one that took place keeps its automations after it.
func TestLeavingACourseHalfwayKeepsWhatTookPlace(t *testing.T) {
	eachStore(t, func(t *testing.T, w *world) {
		w.scheduleCourse(1, 10, 3, 2*day)
		e := w.enrollInCourse(1, 1)
		w.newCalls()
		w.clock.Set(at(2*day + 2*time.Hour)) // session 1 took place
		_, err := w.app.LeaveCourse.Handle(w.ctx, application.LeaveCourse{SiteID: Site, EnrollmentID: e.ID})
		require.NoError(t, err)
		w.thenCalls(
			report("participant_left_course", e.ID),
			cancel("participant_enrolled_in_course", e.ID),
			cancel("course_session_starting", seat(e, 2)),
			cancel("course_session_starting", seat(e, 3)),
		)
	})
}

// Issue 16, "done when": a session added to a course reports its reminder
// to every enrolled participant, and to nobody who left.
func TestSessionAddedToACourse(t *testing.T) {
	eachStore(t, func(t *testing.T, w *world) {
		w.scheduleCourse(1, 10, 2, 2*day)
		a, b, gone := w.enrollInCourse(1, 1), w.enrollInCourse(1, 2), w.enrollInCourse(1, 3)
		_, err := w.app.LeaveCourse.Handle(w.ctx, application.LeaveCourse{SiteID: Site, EnrollmentID: gone.ID})
		require.NoError(t, err)
		w.newCalls()

		// When a third session is added
		v, err := w.app.AddCourseSession.Handle(w.ctx, application.AddCourseSession{SiteID: Site, CourseID: courseID(1),
			SessionID: sessionID(13), StartsAt: at(20 * day), EndsAt: at(20*day + time.Hour)})
		require.NoError(t, err)

		// Then it is session 3, and both enrolled participants get its reminder
		require.Len(t, v.Sessions, 3)
		assert.Equal(t, 3, v.Sessions[2].Number)
		w.thenCalls(
			reportAt("course_session_starting", seat(a, 3), at(20*day)),
			reportAt("course_session_starting", seat(b, 3), at(20*day)),
		)

		// And adding it again (a retry) changes nothing
		_, err = w.app.AddCourseSession.Handle(w.ctx, application.AddCourseSession{SiteID: Site, CourseID: courseID(1),
			SessionID: sessionID(13), StartsAt: at(20 * day), EndsAt: at(20*day + time.Hour)})
		require.NoError(t, err)
		w.thenNoCalls()
	})
}

// A session moved: each participant's reminder of that session moves
// (cancel, then report), the other sessions' stay.
func TestCourseSessionRescheduled(t *testing.T) {
	eachStore(t, func(t *testing.T, w *world) {
		w.scheduleCourse(1, 10, 2, 2*day)
		a, b := w.enrollInCourse(1, 1), w.enrollInCourse(1, 2)
		w.newCalls()
		_, err := w.app.RescheduleCourseSession.Handle(w.ctx, application.RescheduleCourseSession{SiteID: Site, CourseID: courseID(1),
			SessionID: sessionID(11), StartsAt: at(3 * day), EndsAt: at(3*day + time.Hour)})
		require.NoError(t, err)
		w.thenCalls(
			cancel("course_session_starting", seat(a, 1)),
			reportAt("course_session_starting", seat(a, 1), at(3*day)),
			cancel("course_session_starting", seat(b, 1)),
			reportAt("course_session_starting", seat(b, 1), at(3*day)),
		)
	})
}

// The whole course canceled: every participant is told once, by their
// enrollment ID, and every reminder of a session to come is canceled.
func TestCourseCanceled(t *testing.T) {
	eachStore(t, func(t *testing.T, w *world) {
		w.scheduleCourse(1, 10, 2, 2*day)
		a, b := w.enrollInCourse(1, 1), w.enrollInCourse(1, 2)
		w.newCalls()
		v, err := w.app.CancelCourse.Handle(w.ctx, application.CancelCourse{SiteID: Site, ID: courseID(1), Reason: "teacher moved away"})
		require.NoError(t, err)
		assert.Equal(t, "canceled", v.State)
		var want []call
		for _, e := range []application.CourseEnrollmentView{a, b} {
			want = append(want,
				report("course_canceled", e.ID), cancel("participant_enrolled_in_course", e.ID),
				cancel("course_session_starting", seat(e, 1)), cancel("course_session_starting", seat(e, 2)))
		}
		w.thenCalls(want...)

		// And the course refuses what a canceled course cannot do, from its table.
		_, err = w.app.CancelCourseSession.Handle(w.ctx, application.CancelCourseSession{SiteID: Site, CourseID: courseID(1), SessionID: sessionID(11)})
		assert.Equal(t, application.CodeTransitionNotAllowed, application.ErrorCode(err))
		_, err = w.app.EnrollInCourse.Handle(w.ctx, application.EnrollInCourse{SiteID: Site, CourseID: courseID(1), ParticipantID: participantID(3)})
		assert.Equal(t, application.CodeTransitionNotAllowed, application.ErrorCode(err))
		w.thenNoCalls()
	})
}
