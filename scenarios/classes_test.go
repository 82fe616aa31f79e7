package scenarios

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/application"
)

// scheduleClass creates class n starting in `in` for one hour.
func (w *world) scheduleClass(n, capacity int, waitlist bool, in time.Duration) application.ClassView {
	w.t.Helper()
	v, err := w.app.ScheduleClass.Handle(w.ctx, application.ScheduleClass{
		SiteID: Site, ID: classID(n), Title: "Morning yoga", StartsAt: at(in), EndsAt: at(in + time.Hour),
		Capacity: capacity, Waitlist: waitlist,
	})
	require.NoError(w.t, err)
	return v
}

// enroll signs participant p up for class c and returns the enrollment.
func (w *world) enroll(c, p int) application.EnrollmentView {
	w.t.Helper()
	v, err := w.app.Enroll.Handle(w.ctx, application.Enroll{SiteID: Site, ClassID: classID(c), ParticipantID: participantID(p)})
	require.NoError(w.t, err)
	return v
}

func (w *world) leave(e application.EnrollmentView) application.EnrollmentView {
	w.t.Helper()
	v, err := w.app.Leave.Handle(w.ctx, application.Leave{SiteID: Site, EnrollmentID: e.ID})
	require.NoError(w.t, err)
	return v
}

// Seed scenario 2, first row: a participant enrolls in a class.
func TestParticipantEnrolls(t *testing.T) {
	eachStore(t, func(t *testing.T, w *world) {
		// Given a class in three days; creating it tells Wix nothing
		w.scheduleClass(1, 10, false, 3*day)
		w.thenNoCalls()

		// When participant 1 enrolls
		e := w.enroll(1, 1)

		// Then a new enrollment ID is minted, and both reports carry it.
		assert.Equal(t, "enrolled", e.State)
		assert.NotEqual(t, participantID(1), e.ID)
		assert.NotEqual(t, classID(1), e.ID)
		calls := w.thenCalls(
			report("participant_enrolled_in_class", e.ID),
			reportAt("class_starting", e.ID, at(3*day)),
		)
		assert.JSONEq(t, `{"enrollmentId":"`+e.ID.String()+`","classId":"`+classID(1).String()+`","participantId":"`+participantID(1).String()+`",
			"classTitle":"Morning yoga","classStartsAt":"2030-01-10T09:00:00Z","classEndsAt":"2030-01-10T10:00:00Z",
			"classStartsAtLocal":"2030-01-10T09:00","classEndsAtLocal":"2030-01-10T10:00",
			"classStartsAtText":"Thursday 10 January 2030, 09:00","timeZone":"UTC"}`,
			string(calls[1].Payload))
	})
}

// Seed scenario 2 across several participants and classes: leaving one
// class and canceling another touch exactly the right enrollments.
func TestParticipantsAndClassesManyToMany(t *testing.T) {
	eachStore(t, func(t *testing.T, w *world) {
		// Given participants 1 and 2 in class 1, and participant 1 also in class 2
		w.scheduleClass(1, 10, false, 3*day)
		w.scheduleClass(2, 10, false, 4*day)
		p1c1 := w.enroll(1, 1)
		p2c1 := w.enroll(1, 2)
		p1c2 := w.enroll(2, 1)
		w.newCalls()
		require.Len(t, map[string]bool{p1c1.ID.String(): true, p2c1.ID.String(): true, p1c2.ID.String(): true}, 3, "every enrollment has its own ID")

		// When participant 1 leaves class 1
		left := w.leave(p1c1)

		// Then only participant 1's class-1 enrollment is reported left and
		// its events canceled; their class 2 and participant 2 are untouched.
		assert.Equal(t, "left", left.State)
		w.thenCalls(
			report("participant_left_class", p1c1.ID),
			cancel("participant_enrolled_in_class", p1c1.ID),
			cancel("class_starting", p1c1.ID),
		)

		// When class 1 is canceled
		cv, err := w.app.CancelClass.Handle(w.ctx, application.CancelClass{SiteID: Site, ID: classID(1), Reason: "teacher ill"})
		require.NoError(t, err)

		// Then its remaining participant (2) is told and their events
		// canceled, by their enrollment ID; participant 1, who left, gets
		// nothing more, and class 2 is untouched.
		assert.Equal(t, "canceled", cv.State)
		w.thenCalls(
			report("class_canceled", p2c1.ID),
			cancel("participant_enrolled_in_class", p2c1.ID),
			cancel("class_starting", p2c1.ID),
		)
		got, err := w.app.GetEnrollment.Handle(w.ctx, application.GetEnrollment{SiteID: Site, ID: p2c1.ID})
		require.NoError(t, err)
		assert.Equal(t, "class_canceled", got.State)
		got, err = w.app.GetEnrollment.Handle(w.ctx, application.GetEnrollment{SiteID: Site, ID: p1c2.ID})
		require.NoError(t, err)
		assert.Equal(t, "enrolled", got.State, "participant 1 is still in class 2")
	})
}

// Seed scenario 2, third row, at scale: every participant of a canceled
// class gets the three calls, participant by participant.
func TestClassCanceledForEveryParticipant(t *testing.T) {
	eachStore(t, func(t *testing.T, w *world) {
		w.scheduleClass(1, 3, false, 3*day)
		es := []application.EnrollmentView{w.enroll(1, 1), w.enroll(1, 2), w.enroll(1, 3)}
		w.newCalls()
		_, err := w.app.CancelClass.Handle(w.ctx, application.CancelClass{SiteID: Site, ID: classID(1)})
		require.NoError(t, err)
		var want []call
		for _, e := range es {
			want = append(want,
				report("class_canceled", e.ID),
				cancel("participant_enrolled_in_class", e.ID),
				cancel("class_starting", e.ID))
		}
		w.thenCalls(want...)
	})
}

func TestClassRescheduled(t *testing.T) {
	eachStore(t, func(t *testing.T, w *world) {
		// Given two participants, one waitlisted
		w.scheduleClass(1, 1, true, 3*day)
		seated := w.enroll(1, 1)
		waiting := w.enroll(1, 2)
		assert.Equal(t, "waitlisted", waiting.State)
		w.newCalls()

		// When the class moves a day later
		v, err := w.app.RescheduleClass.Handle(w.ctx, application.RescheduleClass{
			SiteID: Site, ID: classID(1), StartsAt: at(4 * day), EndsAt: at(4*day + time.Hour)})
		require.NoError(t, err)

		// Then the seated participant's reminder is canceled and reported
		// again at the new start; the waitlisted one had none.
		assert.Equal(t, at(4*day), v.StartsAt)
		w.thenCalls(
			cancel("class_starting", seated.ID),
			reportAt("class_starting", seated.ID, at(4*day)),
		)
	})
}

func TestReEnrollAfterLeavingGetsANewEnrollment(t *testing.T) {
	eachStore(t, func(t *testing.T, w *world) {
		w.scheduleClass(1, 5, false, 3*day)
		first := w.enroll(1, 1)
		w.leave(first)
		w.newCalls()

		// When participant 1 enrolls again
		second := w.enroll(1, 1)

		// Then the new enrollment has a new ID, so the earlier cancels (by the
		// old ID) can never touch the new events.
		assert.NotEqual(t, first.ID, second.ID)
		w.thenCalls(
			report("participant_enrolled_in_class", second.ID),
			reportAt("class_starting", second.ID, at(3*day)),
		)
	})
}

func TestWaitlistPromotion(t *testing.T) {
	eachStore(t, func(t *testing.T, w *world) {
		// Given a one-seat class with a waitlist: participant 1 is seated,
		// participants 2 and 3 wait, in that order
		w.scheduleClass(1, 1, true, 3*day)
		seated := w.enroll(1, 1)
		w.newCalls()
		second := w.enroll(1, 2)
		third := w.enroll(1, 3)

		// Then waitlisting tells Wix nothing (participant_waitlisted is off by default)
		assert.Equal(t, "waitlisted", second.State)
		w.thenNoCalls()

		// When participant 1 leaves
		w.leave(seated)

		// Then participant 1's events are canceled, and the oldest waitlisted
		// participant (2) is promoted and gets the enrollment calls now.
		w.thenCalls(
			report("participant_left_class", seated.ID),
			cancel("participant_enrolled_in_class", seated.ID),
			cancel("class_starting", seated.ID),
			report("participant_enrolled_in_class", second.ID),
			reportAt("class_starting", second.ID, at(3*day)),
		)
		got, err := w.app.GetEnrollment.Handle(w.ctx, application.GetEnrollment{SiteID: Site, ID: second.ID})
		require.NoError(t, err)
		assert.Equal(t, "enrolled", got.State)
		cls, err := w.app.GetClass.Handle(w.ctx, application.GetClass{SiteID: Site, ID: classID(1)})
		require.NoError(t, err)
		assert.Equal(t, 1, cls.Enrolled)
		assert.Equal(t, 1, cls.Waitlisted)

		// When the waitlisted participant 3 leaves the waitlist
		w.leave(third)
		// Then nothing reaches Wix: they never had events there.
		w.thenNoCalls()
	})
}

func TestOptionalWaitlistedTrigger(t *testing.T) {
	on := true
	catalog, err := application.NewCatalog(map[application.Role]application.Setting{application.RoleParticipantWaitlisted: {Enabled: &on}})
	require.NoError(t, err)
	eachStoreWithCatalog(t, catalog, func(t *testing.T, w *world) {
		w.scheduleClass(1, 1, true, 3*day)
		w.enroll(1, 1)
		w.newCalls()
		waiting := w.enroll(1, 2)
		w.thenCalls(report("participant_waitlisted", waiting.ID))
	})
}

func TestClassCompleted(t *testing.T) {
	on := true
	catalog, err := application.NewCatalog(map[application.Role]application.Setting{application.RoleClassCompleted: {Enabled: &on}})
	require.NoError(t, err)
	eachStoreWithCatalog(t, catalog, func(t *testing.T, w *world) {
		w.scheduleClass(1, 1, true, time.Hour)
		seated := w.enroll(1, 1)
		waiting := w.enroll(1, 2)
		w.newCalls()
		w.clock.Advance(2 * time.Hour)

		_, err := w.app.CompleteClass.Handle(w.ctx, application.CompleteClass{SiteID: Site, ID: classID(1)})
		require.NoError(t, err)

		w.thenCalls(report("class_completed", seated.ID))
		got, err := w.app.GetEnrollment.Handle(w.ctx, application.GetEnrollment{SiteID: Site, ID: seated.ID})
		require.NoError(t, err)
		assert.Equal(t, "attended", got.State)
		got, err = w.app.GetEnrollment.Handle(w.ctx, application.GetEnrollment{SiteID: Site, ID: waiting.ID})
		require.NoError(t, err)
		assert.Equal(t, "left", got.State, "whoever still waited leaves the waitlist")
	})
}
