package application_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/domain"
	"github.com/bookable/lifecycle/domain/courseenrollment"
	"github.com/bookable/lifecycle/domain/series"
)

// TestDesiredForResolvesEveryEntity: whatever externalEntityId lifecycle
// reports under, DesiredFor finds its subject and what it calls for, in
// the site's zone (what Refresh Payload answers from).
func TestDesiredForResolvesEveryEntity(t *testing.T) {
	e := newRecEnv(t, nil)
	ctx := e.ctx
	_, err := e.app.SetTimeZone.Handle(ctx, application.SetTimeZone{SiteID: recSite, TimeZone: "Europe/Berlin"})
	require.NoError(t, err)
	start := recT0.Add(48 * time.Hour)
	c, err := e.app.ScheduleCourse.Handle(ctx, application.ScheduleCourse{SiteID: recSite, Title: "Pottery", Capacity: 5,
		Sessions: []application.NewCourseSession{{StartsAt: start, EndsAt: start.Add(time.Hour)},
			{StartsAt: start.Add(7 * 24 * time.Hour), EndsAt: start.Add(7*24*time.Hour + time.Hour)}}})
	require.NoError(t, err)
	enr, err := e.app.EnrollInCourse.Handle(ctx, application.EnrollInCourse{SiteID: recSite, CourseID: c.ID, ParticipantID: uuidN("9a000000", 1)})
	require.NoError(t, err)
	sr, err := e.app.ScheduleSeries.Handle(ctx, application.ScheduleSeries{SiteID: recSite, ContactID: uuidN("c0000000", 1),
		Title: "Physio", StartsAt: start, EndsAt: start.Add(time.Hour), Every: "week", Count: 3})
	require.NoError(t, err)
	require.Len(t, sr.Occurrences, 3)

	keys := func(ls []application.Live) []string {
		var out []string
		for _, l := range ls {
			out = append(out, l.TriggerKey)
		}
		return out
	}
	require.NoError(t, e.store.View(ctx, func(ctx context.Context, tx application.ReadTx) error {
		cat := e.app.Catalog()
		got, err := application.DesiredFor(ctx, tx, cat, recSite, enr.ID)
		require.NoError(t, err)
		assert.Equal(t, []string{"participant_enrolled_in_course"}, keys(got), "the enrollment's own events only")

		seatID := courseenrollment.SessionEntityID(enr.ID, 2)
		got, err = application.DesiredFor(ctx, tx, cat, recSite, seatID)
		require.NoError(t, err)
		require.Equal(t, []string{"course_session_starting"}, keys(got))
		assert.Equal(t, seatID.String(), got[0].EntityID)
		assert.Equal(t, start.Add(7*24*time.Hour), got[0].ScheduledAt)
		var payload map[string]string
		require.NoError(t, json.Unmarshal(got[0].Payload, &payload))
		assert.Equal(t, "2", payload["sessionNumber"])
		assert.Equal(t, c.Sessions[1].ID.String(), payload["sessionId"])
		assert.Equal(t, "Europe/Berlin", payload["timeZone"])
		assert.Equal(t, "2030-03-13T10:00", payload["sessionStartsAtLocal"], "09:00 UTC is 10:00 in Berlin in March")

		got, err = application.DesiredFor(ctx, tx, cat, recSite, sr.Occurrences[2].AppointmentID)
		require.NoError(t, err)
		assert.Equal(t, []string{"appointment_scheduled", "appointment_starting"}, keys(got), "an occurrence is an appointment")
		assert.Equal(t, series.OccurrenceID(sr.ID, 3).String(), got[0].EntityID)

		for _, unknown := range []string{
			courseenrollment.SessionEntityID(enr.ID, 3).String(),               // no session 3
			courseenrollment.SessionEntityID(uuidN("e0000000", 7), 1).String(), // no such enrollment
			uuidN("a0000000", 99).String(),                                     // no such appointment
		} {
			_, err := application.DesiredFor(ctx, tx, cat, recSite, domain.MustID(unknown))
			assert.ErrorIs(t, err, application.ErrNotFound, unknown)
		}
		_, err = application.DesiredFor(ctx, tx, cat, domain.MustSiteID("5e000000-0000-4000-8000-0000000000bb"), seatID)
		assert.ErrorIs(t, err, application.ErrNotFound, "another site's seat")
		return nil
	}))

	// A caller who gives an appointment and a course enrollment one ID gets
	// the events of both (their trigger keys differ).
	shared := uuidN("5a5ed000", 1)
	_, err = e.app.ScheduleAppointment.Handle(ctx, application.ScheduleAppointment{SiteID: recSite, ID: shared,
		ContactID: uuidN("c0000000", 2), StartsAt: start, EndsAt: start.Add(time.Hour)})
	require.NoError(t, err)
	_, err = e.app.EnrollInCourse.Handle(ctx, application.EnrollInCourse{SiteID: recSite, CourseID: c.ID,
		ParticipantID: uuidN("9a000000", 2), EnrollmentID: shared})
	require.NoError(t, err)
	require.NoError(t, e.store.View(ctx, func(ctx context.Context, tx application.ReadTx) error {
		got, err := application.DesiredFor(ctx, tx, e.app.Catalog(), recSite, shared)
		require.NoError(t, err)
		assert.Equal(t, []string{"appointment_scheduled", "appointment_starting", "participant_enrolled_in_course"}, keys(got))
		return nil
	}))
}
