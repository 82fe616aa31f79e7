package application_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/domain"
	"github.com/bookable/lifecycle/domain/course"
	"github.com/bookable/lifecycle/domain/courseenrollment"
)

// adoptCourse saves a course of two sessions with n enrollments, and its
// second session canceled after they enrolled, without any call: as a
// product that adopts lifecycle has them.
func (e *recEnv) adoptCourse(n int) []string {
	var ids []string
	at := recT0.Add(-time.Hour)
	require.NoError(e.t, e.store.Update(e.ctx, func(ctx context.Context, tx application.Tx) error {
		c, err := course.Schedule(course.New{ID: uuidN("c0a50000", 1), SiteID: recSite, Title: "Pottery", Capacity: n,
			Sessions: []course.NewSession{
				{ID: uuidN("5e550000", 1), Start: recT0.Add(48 * time.Hour), End: recT0.Add(49 * time.Hour)},
				{ID: uuidN("5e550000", 2), Start: recT0.Add(96 * time.Hour), End: recT0.Add(97 * time.Hour)},
			}}, at.Add(-time.Hour))
		if err != nil {
			return err
		}
		var es []*courseenrollment.Enrollment
		for i := range n {
			en, err := courseenrollment.Enroll(c, courseenrollment.New{ID: uuidN("ce000000", i), SiteID: recSite,
				ParticipantID: uuidN("9a000000", i)}, nil, at)
			if err != nil {
				return err
			}
			es = append(es, en)
			ids = append(ids, en.ID().String())
		}
		if err := c.CancelSession(uuidN("5e550000", 2), "", at.Add(time.Minute)); err != nil {
			return err
		}
		for _, en := range es {
			if err := tx.SaveCourseEnrollment(ctx, en); err != nil {
				return err
			}
		}
		return tx.SaveCourse(ctx, c)
	}))
	return ids
}

// TestReconcileWalksCourseEnrollmentsAndTheirSeats: reconcile compares each
// course enrollment and its seat in every session (a page of 20
// enrollments at a time) and queues what is missing; a second run queues
// nothing.
func TestReconcileWalksCourseEnrollmentsAndTheirSeats(t *testing.T) {
	e := newRecEnv(t, nil)
	ids := e.adoptCourse(25)
	plan, sum := e.reconcile(application.Reconcile{})
	assert.Equal(t, application.ReconcileSummary{Sites: 1, Entities: 25 * 3, Repairs: 25 * 3}, sum,
		"each enrollment: itself and its two seats")
	bySubject := map[string][]string{}
	for _, r := range plan {
		bySubject[r.Subject] = append(bySubject[r.Subject], string(r.Kind)+" "+r.TriggerKey)
	}
	assert.Len(t, bySubject["course enrollment"], 25)
	assert.Len(t, bySubject["enrollment session"], 50)
	assert.Equal(t, []string{"report participant_enrolled_in_course", "report course_session_starting",
		"report course_session_canceled"}, shapes(plan[:3]))
	assert.Equal(t, ids[0], plan[0].EntityID)
	assert.Equal(t, courseenrollment.SessionEntityID(domain.MustID(ids[0]), 1).String(), plan[1].EntityID)
	assert.Equal(t, courseenrollment.SessionEntityID(domain.MustID(ids[0]), 2).String(), plan[2].EntityID)
	assert.Equal(t, 75, e.pending())

	again, _ := e.reconcile(application.Reconcile{})
	assert.Empty(t, again, "the queued calls make Wix right")
	e.deliver()
	again, _ = e.reconcile(application.Reconcile{})
	assert.Empty(t, again)

	// A participant leaves: the command's calls are what reconcile would ask.
	_, err := e.app.LeaveCourse.Handle(e.ctx, application.LeaveCourse{SiteID: recSite, EnrollmentID: domain.MustID(ids[3])})
	require.NoError(t, err)
	again, _ = e.reconcile(application.Reconcile{DryRun: true})
	assert.Empty(t, again)
}

// TestReconcileCancelsWhatASeatNoLongerCallsFor: a reminder at Wix whose
// session was canceled without its calls (a lost command's effect) is
// canceled by reconcile, for that seat only.
func TestReconcileCancelsWhatASeatNoLongerCallsFor(t *testing.T) {
	e := newRecEnv(t, nil)
	start := recT0.Add(48 * time.Hour)
	c, err := e.app.ScheduleCourse.Handle(e.ctx, application.ScheduleCourse{SiteID: recSite, Title: "Pottery", Capacity: 3,
		Sessions: []application.NewCourseSession{{StartsAt: start, EndsAt: start.Add(time.Hour)},
			{StartsAt: start.Add(24 * time.Hour), EndsAt: start.Add(25 * time.Hour)}}})
	require.NoError(t, err)
	en, err := e.app.EnrollInCourse.Handle(e.ctx, application.EnrollInCourse{SiteID: recSite, CourseID: c.ID, ParticipantID: uuidN("9a000000", 1)})
	require.NoError(t, err)
	e.deliver()
	// The session is canceled behind lifecycle's back: no call is queued.
	require.NoError(t, e.store.Update(e.ctx, func(ctx context.Context, tx application.Tx) error {
		crs, err := tx.Course(ctx, recSite, c.ID)
		if err != nil {
			return err
		}
		if err := crs.CancelSession(c.Sessions[0].ID, "", recT0); err != nil {
			return err
		}
		return tx.SaveCourse(ctx, crs)
	}))
	plan, _ := e.reconcile(application.Reconcile{})
	assert.Equal(t, []string{"report course_session_canceled", "cancel course_session_starting"}, shapes(plan))
	for _, r := range plan {
		assert.Equal(t, courseenrollment.SessionEntityID(en.ID, 1).String(), r.EntityID, "session 1's seat, not session 2's")
	}
}
