package scenarios

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/domain"
)

// refusalFixture is the world every refusal starts from:
//
//	appointment 1: scheduled, in two days
//	appointment 2: canceled
//	appointment 3: completed (it started an hour ago)
//	class 1: one seat, no waitlist, full (participant 1, enrollment e1)
//	class 2: canceled
//	class 3: started an hour ago
//	enrollment e2: participant 2 left class 4
type refusalFixture struct {
	e1, e2 application.EnrollmentView
}

func (w *world) givenRefusalFixture() refusalFixture {
	w.t.Helper()
	var f refusalFixture
	w.scheduleAppointment(3, 1, time.Hour)
	w.scheduleClass(3, 5, false, time.Hour)
	w.clock.Advance(2 * time.Hour) // appointment 3 and class 3 have started
	_, err := w.app.CompleteAppointment.Handle(w.ctx, application.CompleteAppointment{SiteID: Site, ID: appointmentID(3)})
	require.NoError(w.t, err)
	w.scheduleAppointment(1, 1, 2*day)
	w.scheduleAppointment(2, 1, 2*day)
	_, err = w.app.CancelAppointment.Handle(w.ctx, application.CancelAppointment{SiteID: Site, ID: appointmentID(2)})
	require.NoError(w.t, err)
	w.scheduleClass(1, 1, false, 3*day)
	f.e1 = w.enroll(1, 1)
	w.scheduleClass(2, 5, false, 3*day)
	_, err = w.app.CancelClass.Handle(w.ctx, application.CancelClass{SiteID: Site, ID: classID(2)})
	require.NoError(w.t, err)
	w.scheduleClass(4, 5, false, 3*day)
	f.e2 = w.enroll(4, 2)
	w.leave(f.e2)
	w.newCalls()
	return f
}

// snapshot is everything a refused command must leave as it was.
type snapshot struct {
	appointments []application.AppointmentView
	classes      []application.ClassView
	enrollments  []application.EnrollmentView
	stats        map[application.CallState]int
}

func (w *world) snapshot(f refusalFixture) snapshot {
	w.t.Helper()
	var s snapshot
	for _, n := range []int{1, 2, 3} {
		v, err := w.app.GetAppointment.Handle(w.ctx, application.GetAppointment{SiteID: Site, ID: appointmentID(n)})
		require.NoError(w.t, err)
		s.appointments = append(s.appointments, v)
	}
	for _, n := range []int{1, 2, 3, 4} {
		v, err := w.app.GetClass.Handle(w.ctx, application.GetClass{SiteID: Site, ID: classID(n)})
		require.NoError(w.t, err)
		s.classes = append(s.classes, v)
	}
	for _, e := range []application.EnrollmentView{f.e1, f.e2} {
		v, err := w.app.GetEnrollment.Handle(w.ctx, application.GetEnrollment{SiteID: Site, ID: e.ID})
		require.NoError(w.t, err)
		s.enrollments = append(s.enrollments, v)
	}
	stats, err := w.outbox.Stats(w.ctx, "")
	require.NoError(w.t, err)
	s.stats = stats
	return s
}

func TestRefusedCommandsChangeNothing(t *testing.T) {
	type refusal struct {
		name string
		do   func(w *world, f refusalFixture) error
		is   error  // the sentinel the error matches
		as   any    // a pointer to the typed error it must be
		text string // a part of the message
	}
	var (
		transition *domain.TransitionNotAllowedError
		invalid    *domain.ValidationError
		full       *domain.ClassFullError
		enrolled   *domain.AlreadyEnrolledError
		notOpen    *domain.ClassNotOpenError
	)
	refusals := []refusal{
		{name: "cancel a canceled appointment", is: domain.ErrTransitionNotAllowed, as: &transition, text: "cannot cancel when canceled",
			do: func(w *world, f refusalFixture) error {
				_, err := w.app.CancelAppointment.Handle(w.ctx, application.CancelAppointment{SiteID: Site, ID: appointmentID(2)})
				return err
			}},
		{name: "cancel a completed appointment", is: domain.ErrTransitionNotAllowed, as: &transition, text: "cannot cancel when completed",
			do: func(w *world, f refusalFixture) error {
				_, err := w.app.CancelAppointment.Handle(w.ctx, application.CancelAppointment{SiteID: Site, ID: appointmentID(3)})
				return err
			}},
		{name: "reschedule a canceled appointment", is: domain.ErrTransitionNotAllowed, as: &transition,
			do: func(w *world, f refusalFixture) error {
				_, err := w.app.RescheduleAppointment.Handle(w.ctx, application.RescheduleAppointment{SiteID: Site, ID: appointmentID(2), StartsAt: at(5 * day), EndsAt: at(5*day + time.Hour)})
				return err
			}},
		{name: "no-show on a completed appointment", is: domain.ErrTransitionNotAllowed, as: &transition,
			do: func(w *world, f refusalFixture) error {
				_, err := w.app.MarkNoShow.Handle(w.ctx, application.MarkNoShow{SiteID: Site, ID: appointmentID(3)})
				return err
			}},
		{name: "complete before the start", is: domain.ErrInvalid, as: &invalid, text: "not started",
			do: func(w *world, f refusalFixture) error {
				_, err := w.app.CompleteAppointment.Handle(w.ctx, application.CompleteAppointment{SiteID: Site, ID: appointmentID(1)})
				return err
			}},
		{name: "reschedule into the past", is: domain.ErrInvalid, as: &invalid, text: "startsAt",
			do: func(w *world, f refusalFixture) error {
				_, err := w.app.RescheduleAppointment.Handle(w.ctx, application.RescheduleAppointment{SiteID: Site, ID: appointmentID(1), StartsAt: at(-day), EndsAt: at(-day + time.Hour)})
				return err
			}},
		{name: "reschedule with end before start", is: domain.ErrInvalid, as: &invalid, text: "endsAt",
			do: func(w *world, f refusalFixture) error {
				_, err := w.app.RescheduleAppointment.Handle(w.ctx, application.RescheduleAppointment{SiteID: Site, ID: appointmentID(1), StartsAt: at(5 * day), EndsAt: at(4 * day)})
				return err
			}},
		{name: "schedule in the past", is: domain.ErrInvalid, as: &invalid, text: "startsAt",
			do: func(w *world, f refusalFixture) error {
				_, err := w.app.ScheduleAppointment.Handle(w.ctx, application.ScheduleAppointment{SiteID: Site, ContactID: contactID(1), StartsAt: at(-time.Minute), EndsAt: at(time.Hour)})
				return err
			}},
		{name: "no contact", is: domain.ErrInvalid, as: &invalid, text: "contactId",
			do: func(w *world, f refusalFixture) error {
				_, err := w.app.ScheduleAppointment.Handle(w.ctx, application.ScheduleAppointment{SiteID: Site, StartsAt: at(day), EndsAt: at(day + time.Hour)})
				return err
			}},
		// An ID is parsed where it enters (an HTTP request, a flag): a
		// command carries a domain.ID, so text that is not a UUID is refused
		// before any command sees it.
		{name: "contact is not a UUID", is: domain.ErrInvalid, as: &invalid, text: "contactId",
			do: func(w *world, f refusalFixture) error {
				_, err := domain.ParseID("contactId", "jane@example.com")
				return err
			}},
		{name: "empty site", is: domain.ErrInvalid, as: &invalid, text: "siteId",
			do: func(w *world, f refusalFixture) error {
				_, err := w.app.ScheduleAppointment.Handle(w.ctx, application.ScheduleAppointment{ContactID: contactID(1), StartsAt: at(day), EndsAt: at(day + time.Hour)})
				return err
			}},
		{name: "site is not a UUID", is: domain.ErrInvalid, as: &invalid, text: "siteId",
			do: func(w *world, f refusalFixture) error {
				_, err := domain.ParseSiteID("my-site")
				return err
			}},
		{name: "class capacity below one", is: domain.ErrInvalid, as: &invalid, text: "capacity",
			do: func(w *world, f refusalFixture) error {
				_, err := w.app.ScheduleClass.Handle(w.ctx, application.ScheduleClass{SiteID: Site, Title: "x", StartsAt: at(day), EndsAt: at(day + time.Hour), Capacity: 0})
				return err
			}},
		{name: "enroll in a full class", is: domain.ErrClassFull, as: &full,
			do: func(w *world, f refusalFixture) error {
				_, err := w.app.Enroll.Handle(w.ctx, application.Enroll{SiteID: Site, ClassID: classID(1), ParticipantID: participantID(9)})
				return err
			}},
		{name: "enroll twice", is: domain.ErrAlreadyEnrolled, as: &enrolled,
			do: func(w *world, f refusalFixture) error {
				_, err := w.app.Enroll.Handle(w.ctx, application.Enroll{SiteID: Site, ClassID: classID(1), ParticipantID: participantID(1)})
				return err
			}},
		{name: "enroll in a canceled class", is: domain.ErrClassNotOpen, as: &notOpen, text: "canceled",
			do: func(w *world, f refusalFixture) error {
				_, err := w.app.Enroll.Handle(w.ctx, application.Enroll{SiteID: Site, ClassID: classID(2), ParticipantID: participantID(9)})
				return err
			}},
		{name: "enroll in a started class", is: domain.ErrClassNotOpen, as: &notOpen, text: "started",
			do: func(w *world, f refusalFixture) error {
				_, err := w.app.Enroll.Handle(w.ctx, application.Enroll{SiteID: Site, ClassID: classID(3), ParticipantID: participantID(9)})
				return err
			}},
		{name: "no participant", is: domain.ErrInvalid, as: &invalid, text: "participantId",
			do: func(w *world, f refusalFixture) error {
				_, err := w.app.Enroll.Handle(w.ctx, application.Enroll{SiteID: Site, ClassID: classID(4)})
				return err
			}},
		{name: "leave twice", is: domain.ErrTransitionNotAllowed, as: &transition, text: "cannot leave when left",
			do: func(w *world, f refusalFixture) error {
				_, err := w.app.Leave.Handle(w.ctx, application.Leave{SiteID: Site, EnrollmentID: f.e2.ID})
				return err
			}},
		{name: "cancel a canceled class", is: domain.ErrTransitionNotAllowed, as: &transition,
			do: func(w *world, f refusalFixture) error {
				_, err := w.app.CancelClass.Handle(w.ctx, application.CancelClass{SiteID: Site, ID: classID(2)})
				return err
			}},
		{name: "another site's appointment", is: application.ErrNotFound,
			do: func(w *world, f refusalFixture) error {
				_, err := w.app.CancelAppointment.Handle(w.ctx, application.CancelAppointment{SiteID: OtherSite, ID: appointmentID(1)})
				return err
			}},
		{name: "another site's enrollment", is: application.ErrNotFound,
			do: func(w *world, f refusalFixture) error {
				_, err := w.app.Leave.Handle(w.ctx, application.Leave{SiteID: OtherSite, EnrollmentID: f.e1.ID})
				return err
			}},
		{name: "reuse an appointment ID with other details", is: application.ErrIDTaken,
			do: func(w *world, f refusalFixture) error {
				_, err := w.app.ScheduleAppointment.Handle(w.ctx, application.ScheduleAppointment{SiteID: Site, ID: appointmentID(1), ContactID: contactID(7), StartsAt: at(day), EndsAt: at(day + time.Hour)})
				return err
			}},
	}
	for _, r := range refusals {
		t.Run(r.name, func(t *testing.T) {
			eachStore(t, func(t *testing.T, w *world) {
				f := w.givenRefusalFixture()
				before := w.snapshot(f)

				err := r.do(w, f)

				require.Error(t, err)
				assert.ErrorIs(t, err, r.is)
				if r.as != nil {
					assert.True(t, errors.As(err, r.as), "error %v is a %T", err, r.as)
				}
				assert.Contains(t, err.Error(), r.text)
				assert.Equal(t, before, w.snapshot(f), "a refused command changes nothing")
				w.thenNoCalls()
			})
		})
	}
}
