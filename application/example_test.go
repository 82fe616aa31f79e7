package application_test

import (
	"context"
	"fmt"
	"time"

	"github.com/bookable/lifecycle/adapters/memory"
	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/application/fake"
	"github.com/bookable/lifecycle/domain"
)

// A booking product schedules an appointment, then cancels it. Each command
// commits its state change together with the Wix calls it implies; a relay
// (not shown) delivers them later, in this order.
func Example() {
	ctx := context.Background()
	store := memory.New()
	now := time.Date(2030, 1, 7, 9, 0, 0, 0, time.UTC)
	app, err := application.New(application.Config{
		Store: store,
		Clock: fake.NewClock(now),
		IDs:   fake.NewIDs("0e000000"),
	})
	if err != nil {
		panic(err)
	}
	site := domain.MustSiteID("5e000000-0000-4000-8000-000000000001")
	appt, err := app.ScheduleAppointment.Handle(ctx, application.ScheduleAppointment{
		SiteID:    site,
		ID:        domain.MustID("a0000000-0000-4000-8000-000000000001"),
		ContactID: domain.MustID("c0000000-0000-4000-8000-000000000001"),
		Title:     "Haircut",
		StartsAt:  now.Add(48 * time.Hour),
		EndsAt:    now.Add(49 * time.Hour),
	})
	if err != nil {
		panic(err)
	}
	if _, err := app.CancelAppointment.Handle(ctx, application.CancelAppointment{SiteID: site, ID: appt.ID, Reason: "ill"}); err != nil {
		panic(err)
	}
	calls, err := store.List(ctx, application.Filter{SiteID: site.String()})
	if err != nil {
		panic(err)
	}
	for _, c := range calls {
		fmt.Println(c.Kind, c.TriggerKey, c.ExternalEntityID)
	}
	// Output:
	// report appointment_scheduled a0000000-0000-4000-8000-000000000001
	// report appointment_starting a0000000-0000-4000-8000-000000000001
	// report appointment_canceled a0000000-0000-4000-8000-000000000001
	// cancel appointment_scheduled a0000000-0000-4000-8000-000000000001
	// cancel appointment_starting a0000000-0000-4000-8000-000000000001
}

// Enrollment IDs, not participant or class IDs, identify a participant's
// events for one class: a participant who leaves and enrolls again gets a
// new enrollment.
func ExampleEnrollHandler_Handle() {
	ctx := context.Background()
	now := time.Date(2030, 1, 7, 9, 0, 0, 0, time.UTC)
	app, err := application.New(application.Config{Store: memory.New(), Clock: fake.NewClock(now), IDs: fake.NewIDs("0e000000")})
	if err != nil {
		panic(err)
	}
	site := domain.MustSiteID("5e000000-0000-4000-8000-000000000001")
	cls, err := app.ScheduleClass.Handle(ctx, application.ScheduleClass{
		SiteID: site, Title: "Morning yoga", StartsAt: now.Add(24 * time.Hour), EndsAt: now.Add(25 * time.Hour), Capacity: 12,
	})
	if err != nil {
		panic(err)
	}
	participant := domain.MustID("9a000000-0000-4000-8000-000000000001")
	first, _ := app.Enroll.Handle(ctx, application.Enroll{SiteID: site, ClassID: cls.ID, ParticipantID: participant})
	_, _ = app.Leave.Handle(ctx, application.Leave{SiteID: site, EnrollmentID: first.ID})
	second, _ := app.Enroll.Handle(ctx, application.Enroll{SiteID: site, ClassID: cls.ID, ParticipantID: participant})
	fmt.Println(first.ID != second.ID, second.State)
	// Output: true enrolled
}

// The catalog maps roles to the trigger keys of the app's Wix dashboard.
func ExampleParseCatalog() {
	c, err := application.ParseCatalog([]byte(`{
		"appointment_starting": {"key": "myapp-appointment-reminder"},
		"appointment_no_show": {"enabled": true}
	}`))
	if err != nil {
		panic(err)
	}
	for _, t := range c.Enabled() {
		fmt.Printf("%-30s %s\n", t.Key, t.Timing)
	}
	// Output:
	// appointment_scheduled          real-time
	// myapp-appointment-reminder     scheduled
	// appointment_canceled           real-time
	// participant_enrolled_in_class  real-time
	// class_starting                 scheduled
	// participant_left_class         real-time
	// class_canceled                 real-time
	// appointment_no_show            real-time
	// participant_enrolled_in_course real-time
	// course_session_starting        scheduled
	// course_session_canceled        real-time
	// participant_left_course        real-time
	// course_canceled                real-time
}
