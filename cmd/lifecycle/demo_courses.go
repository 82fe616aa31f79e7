package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/bookable/lifecycle/adapters/wixsim"
	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/domain"
	"github.com/bookable/lifecycle/domain/courseenrollment"
	"github.com/bookable/lifecycle/domain/series"
)

// The course's and the series' readable IDs in the demo.
var (
	pottery = domain.MustID("c0a5e000-0000-4000-8000-000000000001")
	physio  = domain.MustID("5e1e5000-0000-4000-8000-000000000001")
)

func potterySession(n int) domain.ID {
	return domain.MustID(fmt.Sprintf("5e550000-0000-4000-8000-%012d", n))
}

// courseAutomations are the site owner's automations on the triggers of
// courses (a series' occurrences are appointments: they use the
// appointment automations).
var courseAutomations = []wixsim.Automation{
	{Name: "email: welcome to the course", TriggerKey: "participant_enrolled_in_course"},
	{Name: "sms: session starts in 2 hours", TriggerKey: "course_session_starting", Offset: -2 * time.Hour},
	{Name: "email: session canceled", TriggerKey: "course_session_canceled"},
	{Name: "email: sorry to see you leave the course", TriggerKey: "participant_left_course"},
}

// playCourses plays the scenes of issue 16: a course whose second session is
// canceled for everyone and which a participant leaves, and a daily series
// in the site's time zone, canceled from its second occurrence on.
func (d *demo) playCourses(ctx context.Context, at func(days, hours int) time.Time) error {
	d.section("Time zones: the site is in Berlin; payloads carry its local times beside the UTC instants")
	if _, err := d.app.SetTimeZone.Handle(ctx, application.SetTimeZone{SiteID: demoSite, TimeZone: "Europe/Berlin"}); err != nil {
		return err
	}
	fmt.Fprintf(d.out, "%s  set time zone Europe/Berlin (queues nothing; reconcile would re-report changed payloads)\n", d.stamp())

	d.section("Courses (many-to-many, one level down): externalEntityId = the enrollment, or its seat in one session")
	var sessions []application.NewCourseSession
	for i := 1; i <= 3; i++ {
		d.ids[potterySession(i).String()] = fmt.Sprintf("pottery session %d", i)
		sessions = append(sessions, application.NewCourseSession{ID: potterySession(i), StartsAt: at(2*i-1, 8), EndsAt: at(2*i-1, 10)})
	}
	d.ids[pottery.String()] = "pottery"
	if _, err := d.app.ScheduleCourse.Handle(ctx, application.ScheduleCourse{SiteID: demoSite, ID: pottery, Title: "Pottery",
		Capacity: 10, Sessions: sessions}); err != nil {
		return err
	}
	enrollments := map[string]application.CourseEnrollmentView{}
	for i, name := range []string{"Ann", "Bob", "Cem"} {
		p := domain.MustID(fmt.Sprintf("9a000000-0000-4000-8000-%012d", i+1))
		id := domain.MustID(fmt.Sprintf("ce000000-0000-4000-8000-%012d", i+1)) // the product's choice, so the demo can name it
		d.ids[id.String()] = name + "'s pottery enrollment"
		for n := 1; n <= 3; n++ {
			d.ids[courseenrollment.SessionEntityID(id, n).String()] = fmt.Sprintf("%s's seat in pottery session %d", name, n)
		}
		e, err := d.app.EnrollInCourse.Handle(ctx, application.EnrollInCourse{SiteID: demoSite, CourseID: pottery,
			ParticipantID: p, EnrollmentID: id})
		if err != nil {
			return err
		}
		enrollments[name] = e
	}
	if err := d.deliver(ctx); err != nil {
		return err
	}
	d.wait(time.Hour)
	if _, err := d.app.CancelCourseSession.Handle(ctx, application.CancelCourseSession{SiteID: demoSite, CourseID: pottery,
		SessionID: potterySession(2), Reason: "the kiln is broken"}); err != nil {
		return err
	}
	if err := d.deliver(ctx); err != nil {
		return err
	}
	if _, err := d.app.LeaveCourse.Handle(ctx, application.LeaveCourse{SiteID: demoSite, EnrollmentID: enrollments["Bob"].ID}); err != nil {
		return err
	}
	if err := d.deliver(ctx); err != nil {
		return err
	}

	d.section("A series (one-to-many, per occurrence): daily physio at 9:00 Berlin time; \"this and following\" from the 2nd")
	first := time.Date(at(2, 0).Year(), at(2, 0).Month(), at(2, 0).Day(), 9, 0, 0, 0, d.berlin()).UTC()
	d.ids[physio.String()] = "physio"
	for n := 1; n <= 3; n++ {
		d.ids[series.OccurrenceID(physio, n).String()] = fmt.Sprintf("physio #%d", n)
	}
	s, err := d.app.ScheduleSeries.Handle(ctx, application.ScheduleSeries{SiteID: demoSite, ID: physio, ContactID: jane,
		Title: "Physio", StartsAt: first, EndsAt: first.Add(45 * time.Minute), Every: "day", Count: 3})
	if err != nil {
		return err
	}
	if err := d.showLocal(ctx, s.Occurrences[0].AppointmentID.String()); err != nil {
		return err
	}
	if err := d.deliver(ctx); err != nil {
		return err
	}
	if _, err := d.app.CancelSeries.Handle(ctx, application.CancelSeries{SiteID: demoSite, ID: physio,
		Scope: application.SeriesFollowing, Occurrence: 2}); err != nil {
		return err
	}
	return d.deliver(ctx)
}

// berlin is the demo site's zone.
func (d *demo) berlin() *time.Location {
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		return time.UTC // the zone database is embedded (domain); not reached
	}
	return loc
}

// showLocal prints the local-time members of an entity's last reminder.
func (d *demo) showLocal(ctx context.Context, entity string) error {
	calls, err := d.db.List(ctx, application.Filter{SiteID: demoSite.String(), Limit: 1000})
	if err != nil {
		return err
	}
	for i := len(calls) - 1; i >= 0; i-- {
		c := calls[i]
		if c.ExternalEntityID != entity || c.ScheduledAt.IsZero() {
			continue
		}
		var p map[string]string
		if err := json.Unmarshal(c.Payload, &p); err != nil {
			return err
		}
		fmt.Fprintf(d.out, "             payload of %s for %s: startsAt %s, startsAtLocal %s, startsAtText %q, timeZone %s\n",
			c.TriggerKey, d.name(entity), p["startsAt"], p["startsAtLocal"], p["startsAtText"], p["timeZone"])
		return nil
	}
	return nil
}
