package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/bookable/lifecycle/adapters/sqlite"
	"github.com/bookable/lifecycle/adapters/wixsim"
	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/application/fake"
	"github.com/bookable/lifecycle/application/relay"
	"github.com/bookable/lifecycle/domain"
	"github.com/bookable/lifecycle/domain/appointment"
	"github.com/bookable/lifecycle/domain/enrollment"
)

// The demo's site and people, with readable IDs.
var (
	demoSite   = domain.MustSiteID("5e000000-0000-4000-8000-0000000000de")
	jane       = domain.MustID("c0000000-0000-4000-8000-000000000001")
	apptCut    = domain.MustID("a0000000-0000-4000-8000-000000000001")
	apptColour = domain.MustID("a0000000-0000-4000-8000-000000000002")
	yoga       = domain.MustID("c1a55000-0000-4000-8000-000000000001")
	pilates    = domain.MustID("c1a55000-0000-4000-8000-000000000002")
)

// demoAutomations are what a site owner might have built on the triggers.
var demoAutomations = []wixsim.Automation{
	{Name: "email: booking confirmed", TriggerKey: "appointment_scheduled"},
	{Name: "email: follow-up 2 days after booking", TriggerKey: "appointment_scheduled", Offset: 48 * time.Hour},
	{Name: "email: reminder 1 day before", TriggerKey: "appointment_starting", Offset: -24 * time.Hour},
	{Name: "email: appointment canceled", TriggerKey: "appointment_canceled"},
	{Name: "email: welcome to class", TriggerKey: "participant_enrolled_in_class"},
	{Name: "sms: class starts in 1 hour", TriggerKey: "class_starting", Offset: -time.Hour},
	{Name: "email: sorry to see you go", TriggerKey: "participant_left_class"},
	{Name: "email: class canceled, here is a voucher", TriggerKey: "class_canceled"},
}

func runDemo(ctx context.Context, args []string, out, errOut io.Writer, getenv env) error {
	fs := newFlags("demo", "demo [--db FILE]", out)
	dbPath := fs.String("db", "", "SQLite file to use (default: a new file in a temporary directory)")
	if err := parse(fs, args, getenv); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError("unexpected arguments %v", fs.Args())
	}
	if *dbPath == "" {
		dir, err := os.MkdirTemp("", "lifecycle-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		*dbPath = filepath.Join(dir, "demo.db")
	}
	d, err := newDemo(ctx, *dbPath, out)
	if err != nil {
		return err
	}
	defer d.db.Close()
	return d.play(ctx)
}

// demo wires the embedded default: SQLite, the relay, and the simulator
// standing in for Wix, all on one clock that the demo moves.
type demo struct {
	out   io.Writer
	clock *fake.Clock
	db    *sqlite.DB
	app   *application.App
	relay *relay.Relay
	sim   *wixsim.Sim
	start time.Time
	ids   map[string]string // ID -> readable name
}

func newDemo(ctx context.Context, dbPath string, out io.Writer) (*demo, error) {
	start := time.Now().UTC().Truncate(time.Hour).Add(time.Hour)
	d := &demo{out: out, clock: fake.NewClock(start), start: start, ids: map[string]string{
		demoSite.String(): "the demo site", jane.String(): "Jane", apptCut.String(): "haircut", apptColour.String(): "colouring", yoga.String(): "yoga", pilates.String(): "pilates",
	}}
	var err error
	if d.db, err = sqlite.Open(ctx, dbPath, sqlite.WithClock(d.clock)); err != nil {
		return nil, err
	}
	catalog := application.DefaultCatalog()
	d.sim = wixsim.New(d.clock)
	if err := d.sim.RegisterTriggers(catalog); err != nil {
		return nil, err
	}
	for _, a := range append(demoAutomations, courseAutomations...) {
		if err := d.sim.AddAutomation(demoSite.String(), a); err != nil {
			return nil, err
		}
	}
	if d.app, err = application.New(application.Config{
		Store: d.db, Catalog: catalog, Clock: d.clock, Observe: d.printCommitted,
	}); err != nil {
		return nil, err
	}
	if d.relay, err = relay.New(relay.Config{
		Outbox: d.db, Gateway: d.sim, Clock: d.clock, RequestsPerMinute: relay.NoRateLimit,
	}); err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "lifecycle demo: SQLite at %s, Wix Automations simulated in-process.\n", dbPath)
	fmt.Fprintf(out, "The site owner has these automations:\n")
	for _, a := range append(demoAutomations, courseAutomations...) {
		fmt.Fprintf(out, "  - %-42s on %s\n", a.Name, a.TriggerKey)
	}
	return d, nil
}

func (d *demo) play(ctx context.Context) error {
	at := func(days, hours int) time.Time {
		return d.start.Add(time.Duration(days)*24*time.Hour + time.Duration(hours)*time.Hour)
	}
	d.section("Scenario 1 (one-to-many): a contact books appointments; externalEntityId = appointment ID")
	if _, err := d.app.ScheduleAppointment.Handle(ctx, application.ScheduleAppointment{
		SiteID: demoSite, ID: apptCut, ContactID: jane, Title: "Haircut", StartsAt: at(3, 0), EndsAt: at(3, 1)}); err != nil {
		return err
	}
	if err := d.deliver(ctx); err != nil {
		return err
	}
	if _, err := d.app.ScheduleAppointment.Handle(ctx, application.ScheduleAppointment{
		SiteID: demoSite, ID: apptColour, ContactID: jane, Title: "Colouring", StartsAt: at(4, 2), EndsAt: at(4, 4)}); err != nil {
		return err
	}
	if err := d.deliver(ctx); err != nil {
		return err
	}
	d.wait(2 * time.Hour)
	if _, err := d.app.CancelAppointment.Handle(ctx, application.CancelAppointment{SiteID: demoSite, ID: apptCut, Reason: "feeling unwell"}); err != nil {
		return err
	}
	if err := d.deliver(ctx); err != nil {
		return err
	}

	d.section("A reschedule: the old reminder is canceled before the new one is reported")
	if _, err := d.app.RescheduleAppointment.Handle(ctx, application.RescheduleAppointment{
		SiteID: demoSite, ID: apptColour, StartsAt: at(6, 2), EndsAt: at(6, 4)}); err != nil {
		return err
	}
	if err := d.deliver(ctx); err != nil {
		return err
	}

	d.section("Scenario 2 (many-to-many): participants and classes; externalEntityId = a new enrollment ID")
	for _, c := range []struct {
		id    domain.ID
		title string
	}{{yoga, "Morning yoga"}, {pilates, "Pilates"}} {
		if _, err := d.app.ScheduleClass.Handle(ctx, application.ScheduleClass{
			SiteID: demoSite, ID: c.id, Title: c.title, StartsAt: at(2, 0), EndsAt: at(2, 1), Capacity: 10}); err != nil {
			return err
		}
	}
	people := []string{"Ann", "Bob", "Cem"}
	enrollments := map[string]domain.ID{}
	for i, name := range people {
		p := domain.MustID(fmt.Sprintf("9a000000-0000-4000-8000-%012d", i+1))
		d.ids[p.String()] = name
		for _, c := range []domain.ID{yoga, pilates} {
			if name == "Cem" && c == pilates {
				continue
			}
			e, err := d.app.Enroll.Handle(ctx, application.Enroll{SiteID: demoSite, ClassID: c, ParticipantID: p})
			if err != nil {
				return err
			}
			enrollments[name+c.String()] = e.ID
		}
	}
	if err := d.deliver(ctx); err != nil {
		return err
	}
	d.wait(time.Hour)
	if _, err := d.app.Leave.Handle(ctx, application.Leave{SiteID: demoSite, EnrollmentID: enrollments["Bob"+yoga.String()]}); err != nil {
		return err
	}
	if err := d.deliver(ctx); err != nil {
		return err
	}
	if _, err := d.app.CancelClass.Handle(ctx, application.CancelClass{SiteID: demoSite, ID: pilates, Reason: "teacher is ill"}); err != nil {
		return err
	}
	if err := d.deliver(ctx); err != nil {
		return err
	}

	if err := d.playCourses(ctx, at); err != nil {
		return err
	}

	d.section("A refused command changes nothing and queues nothing")
	_, err := d.app.CancelAppointment.Handle(ctx, application.CancelAppointment{SiteID: demoSite, ID: apptCut})
	fmt.Fprintf(d.out, "%s  cancel the haircut again -> refused: %v\n", d.stamp(), err)

	d.section("A week passes at the simulated Wix: what the automations did")
	for day := 0; day < 7; day++ {
		d.sim.Advance(24 * time.Hour)
	}
	timeline := d.sim.Activations(demoSite.String(), wixsim.ActivationRan, wixsim.ActivationCanceled)
	sort.SliceStable(timeline, func(i, j int) bool { return timeline[i].SettledAt.Before(timeline[j].SettledAt) })
	for _, a := range timeline {
		line := fmt.Sprintf("%s  %-8s  %-42s for %s", a.SettledAt.Format("Mon 15:04"), a.State, a.Automation, d.name(a.ExternalEntityID))
		if a.State == wixsim.ActivationCanceled {
			line += " (was due " + a.DueAt.Format("Mon 15:04") + ")"
		}
		fmt.Fprintln(d.out, line)
	}
	stats, err := d.db.Stats(ctx, demoSite.String())
	if err != nil {
		return err
	}
	fmt.Fprintf(d.out, "\nOutbox: %d delivered, %d pending, %d dead, %d expired. Wix saw %d requests.\n",
		stats[application.StateDelivered], stats[application.StatePending], stats[application.StateDead],
		stats[application.StateExpired], d.sim.RequestCount(demoSite.String()))
	ranN, canceledN := 0, 0
	for _, a := range timeline {
		if a.State == wixsim.ActivationRan {
			ranN++
		} else {
			canceledN++
		}
	}
	fmt.Fprintf(d.out, "%d automation actions ran; %d were canceled before they could run, so no reminder went out\n", ranN, canceledN)
	fmt.Fprintln(d.out, "for the canceled haircut, Bob's yoga, the canceled pilates class, the canceled pottery session,")
	fmt.Fprintln(d.out, "Bob's pottery course after he left, or Jane's physio from the second day on.")
	return nil
}

func (d *demo) section(title string) {
	fmt.Fprintf(d.out, "\n== %s\n", title)
}

func (d *demo) stamp() string { return d.clock.Now().Format("Mon 15:04") }

func (d *demo) wait(dur time.Duration) {
	d.sim.Advance(dur)
}

func (d *demo) name(id string) string {
	if n, ok := d.ids[id]; ok {
		return n
	}
	return id
}

// printCommitted prints a committed command with its events and calls.
func (d *demo) printCommitted(c application.Committed) {
	fmt.Fprintf(d.out, "%s  %s\n", c.At.Format("Mon 15:04"), c.Command)
	for _, ev := range c.Events {
		fmt.Fprintf(d.out, "             event  %s%s\n", ev.EventName(), d.describe(ev))
	}
	for _, call := range c.Calls {
		line := fmt.Sprintf("             %-6s %-30s externalEntityId %s (%s)", call.Kind, call.TriggerKey, call.ExternalEntityID, d.name(call.ExternalEntityID))
		if !call.ScheduledAt.IsZero() {
			line += " at " + call.ScheduledAt.Format("Mon 15:04")
		}
		fmt.Fprintln(d.out, line)
	}
}

func (d *demo) describe(ev domain.Event) string {
	switch e := ev.(type) {
	case appointment.Scheduled:
		return fmt.Sprintf(" (%s for %s, %s)", d.name(e.AppointmentID.String()), d.name(e.ContactID.String()), e.Start.Format("Mon 15:04"))
	case appointment.Rescheduled:
		return fmt.Sprintf(" (%s: %s -> %s)", d.name(e.AppointmentID.String()), e.PreviousStart.Format("Mon 15:04"), e.Start.Format("Mon 15:04"))
	case appointment.Canceled:
		return fmt.Sprintf(" (%s: %s)", d.name(e.AppointmentID.String()), e.Reason)
	case enrollment.Enrolled:
		d.ids[e.EnrollmentID.String()] = d.name(e.ParticipantID.String()) + "'s " + d.name(e.Class.ClassID.String()) + " enrollment"
		return fmt.Sprintf(" (%s)", d.name(e.EnrollmentID.String()))
	case enrollment.Left:
		return fmt.Sprintf(" (%s)", d.name(e.EnrollmentID.String()))
	case enrollment.ClassCanceled:
		return fmt.Sprintf(" (%s)", d.name(e.EnrollmentID.String()))
	}
	return ""
}

// deliver drains the outbox to the simulator and says how it went.
func (d *demo) deliver(ctx context.Context) error {
	requests := d.sim.RequestCount(demoSite.String())
	ran := len(d.sim.Activations(demoSite.String(), wixsim.ActivationRan))
	if err := d.relay.Drain(ctx); err != nil {
		return fmt.Errorf("relay: %w", err)
	}
	msg := fmt.Sprintf("             relay  delivered in %d request(s) to Wix", d.sim.RequestCount(demoSite.String())-requests)
	var names []string
	for _, a := range d.sim.Activations(demoSite.String(), wixsim.ActivationRan)[ran:] {
		names = append(names, a.Automation+" ("+d.name(a.ExternalEntityID)+")")
	}
	if len(names) > 0 {
		msg += "; ran at once: " + strings.Join(names, ", ")
	}
	fmt.Fprintln(d.out, msg)
	return nil
}
