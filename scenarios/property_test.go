package scenarios

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/bookable/lifecycle/adapters/sqlite"
	"github.com/bookable/lifecycle/adapters/wixsim"
	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/application/fake"
	"github.com/bookable/lifecycle/application/outbox"
	"github.com/bookable/lifecycle/application/relay"
	"github.com/bookable/lifecycle/domain"
)

// The property test searches for a history after which Wix is not true to
// the bookings (DESIGN.md section 1). Each case is a random script of
// commands over three sites (appointments, classes with and without a
// waitlist, enrollments, refused commands, clock moves) run through the App
// on a SQLite file, interleaved with deliveries by the relay to the
// in-process simulator under injected faults (5xx, 429 with Retry-After,
// dropped connections, answers lost after the request took effect, failed
// bulk items), relay restarts in the middle of a drain and relays that die
// holding leases. After every delivery that drained the outbox, an oracle
// computed from the aggregates' states alone (property_oracle_test.go) is
// compared with what is live at the simulator and which actions ran.
//
// Default: propertyDefaultChecks cases. More: LIFECYCLE_PROPERTY_CHECKS=10000
// or -rapid.checks=10000 (see docs/reliability.md).

// propertyDefaultChecks keeps `go test ./...` fast.
const propertyDefaultChecks = 40

// propertyStats counts what the property test exercised, for the long-run
// figures in docs/reliability.md (printed with -v).
type propertyStats struct {
	mu                                       sync.Mutex
	cases, commands, refused, faults, checks int
	restarts, ghosts, delivered, events      int
	operatorCases, retries, refusedRetries   int
	discards, reconciles, repairs, catalogs  int
}

func (s *propertyStats) add(f func(s *propertyStats)) { s.mu.Lock(); f(s); s.mu.Unlock() }

func TestPropertyWixStaysTrueToBookings(t *testing.T) {
	setPropertyChecks(t)
	var stats propertyStats
	rapid.Check(t, func(rt *rapid.T) { runPropertyCase(rt, &stats) })
	t.Logf("property: %d cases, %d commands (%d refused), %d faults injected, %d relay restarts, %d dying relays, "+
		"%d calls delivered, %d oracle checks over %d Wix events; %d operator cases: %d retries (%d refused), "+
		"%d discards, %d catalog changes, %d reconciles queuing %d repairs; 0 violations",
		stats.cases, stats.commands, stats.refused, stats.faults, stats.restarts, stats.ghosts,
		stats.delivered, stats.checks, stats.events, stats.operatorCases, stats.retries, stats.refusedRetries,
		stats.discards, stats.catalogs, stats.reconciles, stats.repairs)
}

// setPropertyChecks applies LIFECYCLE_PROPERTY_CHECKS, or the fast default
// when neither it, -rapid.checks nor RAPID_CHECKS asks for a number.
func setPropertyChecks(t *testing.T) {
	if n := os.Getenv("LIFECYCLE_PROPERTY_CHECKS"); n != "" {
		require.NoError(t, flag.Set("rapid.checks", n), "LIFECYCLE_PROPERTY_CHECKS")
		return
	}
	explicit := os.Getenv("RAPID_CHECKS") != ""
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "rapid.checks" })
	if !explicit {
		require.NoError(t, flag.Set("rapid.checks", fmt.Sprint(propertyDefaultChecks)))
	}
}

// Site3 is a third site for the property test.
const Site3 = "5e000000-0000-4000-8000-000000000003"

var propSites = []string{Site.String(), OtherSite.String(), Site3}

// propWorld is one property case: the system under test and the model the
// oracle needs beside the stored states.
type propWorld struct {
	t       *rapid.T
	ctx     context.Context
	clock   *fake.Clock
	db      *sqlite.DB
	app     *application.App
	ids     *fake.IDs
	sim     *wixsim.Sim
	catalog *application.Catalog
	stats   *propertyStats
	start   time.Time
	lastSeq int64

	appts   []*propAppt       // every appointment a command created, in creation order
	classes map[string]bool   // site/classID of every class created
	enrs    []*propEnrollment // every enrollment created, in creation order
	// withdrawals are the commands that asked for a key's events to be
	// canceled; seqBefore is the outbox Seq before the current command.
	withdrawals map[liveKey][]*withdrawal
	seqBefore   int64

	// operators: this case also has permanent refusals by Wix and operator
	// steps (property_operator_test.go); Wix is then held true after the
	// operator reconciles, and withdrawals are not checked.
	operators bool
	// settings is the catalog's current settings, changed by operator steps.
	settings map[application.Role]application.Setting
}

// propAppt is what the oracle knows of an appointment beyond its state.
type propAppt struct {
	site, id    string
	reschedules int      // successful reschedules: appointment_rescheduled reports
	lastMove    propMove // the last reschedule
}

// propMove is one reschedule: when, and where it moved the start from and
// to. A reschedule that repeats the last one exactly (the same instant, a
// start left where it was) is the same notice, and replaces nothing.
type propMove struct{ at, from, to time.Time }

// replaces records m as the last move and reports whether it is a new
// notice that replaces the last one.
func (last *propMove) replaces(m propMove) bool {
	same := last.at.Equal(m.at) && last.from.Equal(m.from) && last.to.Equal(m.to)
	*last = m
	return !same
}

// propEnrollment is what the oracle knows of an enrollment beyond its state:
// observed after every command, since a final state does not say whether a
// participant who left had held a seat.
type propEnrollment struct {
	site, id, classID string
	order             int    // creation order
	state             string // as last observed
	everSeated        bool
	everWaitlisted    bool
	classMoves        int      // class reschedules while seated: class_rescheduled reports
	lastMove          propMove // the last class reschedule while seated
}

func (e *propEnrollment) name() string { return "e" + e.id[len(e.id)-3:] }

func runPropertyCase(t *rapid.T, stats *propertyStats) {
	dir, err := os.MkdirTemp("", "lifecycle-property-")
	if err != nil {
		t.Fatalf("temp dir: %v", err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	clock := fake.NewClock(Now)
	db, err := sqlite.Open(ctx, filepath.Join(dir, "lifecycle.db"), sqlite.WithSynchronous(true), sqlite.WithClock(clock))
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	defer db.Close()

	settings := map[application.Role]application.Setting{}
	if rapid.Bool().Draw(t, "optional triggers on") {
		settings = allOnSettings()
	}
	catalog, err := application.NewCatalog(settings)
	if err != nil {
		t.Fatalf("catalog: %v", err)
	}
	ids := fake.NewIDs("0e000000")
	app, err := application.New(application.Config{Store: db, Catalog: catalog, Clock: clock, IDs: ids})
	if err != nil {
		t.Fatalf("app: %v", err)
	}
	sim := wixsim.New(clock)
	if err := sim.RegisterTriggers(allTriggersCatalog(t)); err != nil {
		t.Fatalf("register triggers: %v", err)
	}
	for _, site := range propSites {
		for _, tr := range allTriggersCatalog(t).Triggers() {
			autos := []wixsim.Automation{{Name: tr.Key + " now", TriggerKey: tr.Key}}
			if tr.Timing == application.Scheduled {
				autos = append(autos, wixsim.Automation{Name: tr.Key + " 1h before", TriggerKey: tr.Key, Offset: -time.Hour})
			} else {
				autos = append(autos, wixsim.Automation{Name: tr.Key + " 2h after", TriggerKey: tr.Key, Offset: 2 * time.Hour})
			}
			for _, a := range autos {
				if err := sim.AddAutomation(site, a); err != nil {
					t.Fatalf("automation: %v", err)
				}
			}
		}
	}
	w := &propWorld{t: t, ctx: ctx, clock: clock, db: db, app: app, ids: ids, sim: sim, catalog: catalog, stats: stats,
		start: Now, classes: map[string]bool{}, withdrawals: map[liveKey][]*withdrawal{}, settings: settings,
		operators: rapid.IntRange(0, 2).Draw(t, "operator case") == 0}
	names := propCommandNames
	if w.operators {
		names = propOperatorNames
		stats.add(func(s *propertyStats) { s.operatorCases++ })
	}
	steps := rapid.IntRange(1, 60).Draw(t, "steps")
	for i := 0; i < steps; i++ {
		name := rapid.SampledFrom(names).Draw(t, "command")
		propCommands[name](w)
	}
	// Whatever the script left, the outbox drains and Wix is then true.
	w.deliver(deliverPlan{workers: 1})
	w.check("final")
	w.checkFutureActions()
	stats.add(func(s *propertyStats) { s.cases++ })
}

// allTriggersCatalog turns every optional trigger on.
func allTriggersCatalog(t *rapid.T) *application.Catalog {
	c, err := application.NewCatalog(allOnSettings())
	if err != nil {
		t.Fatalf("catalog: %v", err)
	}
	return c
}

// allOnSettings are the settings that turn every trigger on.
func allOnSettings() map[application.Role]application.Setting {
	on := true
	settings := map[application.Role]application.Setting{}
	for _, r := range application.Roles() {
		settings[r] = application.Setting{Enabled: &on}
	}
	return settings
}

// propCommands are the kinds of step, by name; propCommandNames lists each
// name as often as its weight.
var propCommands, propCommandNames = weighted(
	4, "schedule appointment", (*propWorld).scheduleAppointment,
	2, "reschedule appointment", (*propWorld).rescheduleAppointment,
	2, "cancel appointment", (*propWorld).cancelAppointment,
	1, "complete appointment", (*propWorld).completeAppointment,
	1, "mark no-show", (*propWorld).markNoShow,
	3, "schedule class", (*propWorld).scheduleClass,
	1, "reschedule class", (*propWorld).rescheduleClass,
	1, "cancel class", (*propWorld).cancelClass,
	1, "complete class", (*propWorld).completeClass,
	6, "enroll", (*propWorld).enroll,
	2, "leave", (*propWorld).leave,
	2, "move clock", (*propWorld).moveClock,
	3, "deliver", (*propWorld).deliverStep,
	1, "relay dies holding leases", (*propWorld).dyingRelay,
	3, "inject fault", (*propWorld).injectFault,
)

func weighted(args ...any) (map[string]func(*propWorld), []string) {
	byName := map[string]func(*propWorld){}
	var names []string
	for i := 0; i < len(args); i += 3 {
		name := args[i+1].(string)
		byName[name] = args[i+2].(func(*propWorld))
		for range args[i].(int) {
			names = append(names, name)
		}
	}
	return byName, names
}

// Draws, each labelled so that a shrunk counterexample reads as a script.

func (w *propWorld) drawSite() (int, string) {
	// Mostly the first site, so that commands meet the aggregates earlier
	// ones created; the others keep tenancy honest.
	i := rapid.SampledFrom([]int{0, 0, 0, 1, 1, 2}).Draw(w.t, "site")
	return i + 1, propSites[i]
}

func (w *propWorld) drawAppt() (int, string) {
	n := rapid.IntRange(1, 3).Draw(w.t, "appointment")
	return n, appointmentID(n).String() // the same IDs on every site: tenancy must keep them apart
}

func (w *propWorld) drawClass() (int, string) {
	n := rapid.IntRange(1, 2).Draw(w.t, "class")
	return n, classID(n).String()
}

// drawStart returns a start on the half-hour grid of the case, from the
// last grid point (refused) to two days ahead. Starts stay on whole
// seconds while the clock, moved by backoffs, need not: sub-second starts
// are pinned by TestRegressionSubSecondStartReachesWixExactly.
func (w *propWorld) drawStart() time.Time {
	const grid = 30 * time.Minute
	k := rapid.IntRange(0, 97).Draw(w.t, "start in half-hours")
	last := w.start.Add(w.clock.Now().Sub(w.start) / grid * grid)
	return last.Add(time.Duration(k) * grid)
}

func (w *propWorld) logf(format string, args ...any) {
	w.t.Logf("%s  %s", w.clock.Now().Sub(w.start).String(), fmt.Sprintf(format, args...))
}

// outcome records a command's result: a refusal must be typed and must have
// changed nothing; an acceptance is observed.
func (w *propWorld) outcome(what string, err error) bool {
	w.stats.add(func(s *propertyStats) { s.commands++ })
	w.seqBefore = w.lastSeq
	newCalls := w.newCalls()
	if err != nil {
		code := application.ErrorCode(err)
		w.logf("%s -> refused (%s)", what, code)
		if code == application.CodeInternal || code == application.CodeCanceled {
			w.t.Fatalf("%s: untyped error: %v", what, err)
		}
		if len(newCalls) > 0 {
			w.t.Fatalf("%s was refused but queued %d calls", what, len(newCalls))
		}
		w.stats.add(func(s *propertyStats) { s.refused++ })
		return false
	}
	w.logf("%s -> ok, %d calls", what, len(newCalls))
	w.observe()
	return true
}

func (w *propWorld) newCalls() []application.Call {
	var out []application.Call
	for {
		page, err := w.db.List(w.ctx, application.Filter{After: w.lastSeq, Limit: 500})
		if err != nil {
			w.t.Fatalf("list outbox: %v", err)
		}
		if len(page) == 0 {
			return out
		}
		out = append(out, page...)
		w.lastSeq = page[len(page)-1].Seq
	}
}

// observe reads every known enrollment, so that the model knows which held
// a seat or waited, and checks the class invariants on the way.
func (w *propWorld) observe() {
	for _, e := range w.enrs {
		v, err := w.app.GetEnrollment.Handle(w.ctx, application.GetEnrollment{SiteID: domain.MustSiteID(e.site), ID: domain.MustID(e.id)})
		if err != nil {
			w.t.Fatalf("get enrollment %s: %v", e.name(), err)
		}
		e.state = v.State
		e.everSeated = e.everSeated || v.State == "enrolled"
		e.everWaitlisted = e.everWaitlisted || v.State == "waitlisted"
	}
	w.checkClasses()
}

func (w *propWorld) scheduleAppointment() {
	s, site := w.drawSite()
	n, id := w.drawAppt()
	start := w.drawStart()
	_, err := w.app.ScheduleAppointment.Handle(w.ctx, application.ScheduleAppointment{
		SiteID: domain.MustSiteID(site), ID: domain.MustID(id), ContactID: contactID(n), Title: "Haircut", StartsAt: start, EndsAt: start.Add(time.Hour)})
	if w.outcome(fmt.Sprintf("s%d: schedule appointment a%d at %s", s, n, w.rel(start)), err) && w.appt(site, id) == nil {
		w.appts = append(w.appts, &propAppt{site: site, id: id})
	}
}

func (w *propWorld) appt(site, id string) *propAppt {
	for _, a := range w.appts {
		if a.site == site && a.id == id {
			return a
		}
	}
	return nil
}

func (w *propWorld) rescheduleAppointment() {
	s, site := w.drawSite()
	n, id := w.drawAppt()
	start := w.drawStart()
	before, _ := w.app.GetAppointment.Handle(w.ctx, application.GetAppointment{SiteID: domain.MustSiteID(site), ID: domain.MustID(id)})
	_, err := w.app.RescheduleAppointment.Handle(w.ctx, application.RescheduleAppointment{
		SiteID: domain.MustSiteID(site), ID: domain.MustID(id), StartsAt: start, EndsAt: start.Add(time.Hour)})
	if w.outcome(fmt.Sprintf("s%d: reschedule appointment a%d to %s", s, n, w.rel(start)), err) {
		a := w.appt(site, id)
		a.reschedules++
		if !before.StartsAt.Equal(start) { // a reminder at the same time stays as it is
			w.withdraw(site, application.RoleAppointmentStarting, id)
		}
		if a.lastMove.replaces(propMove{w.clock.Now(), before.StartsAt, start}) {
			w.withdraw(site, application.RoleAppointmentRescheduled, id) // the last notice, if any, is replaced
		}
	}
}

func (w *propWorld) cancelAppointment() {
	s, site := w.drawSite()
	n, id := w.drawAppt()
	_, err := w.app.CancelAppointment.Handle(w.ctx, application.CancelAppointment{SiteID: domain.MustSiteID(site), ID: domain.MustID(id), Reason: "sick"})
	if w.outcome(fmt.Sprintf("s%d: cancel appointment a%d", s, n), err) {
		w.withdrawBooking(site, id)
	}
}

func (w *propWorld) completeAppointment() {
	s, site := w.drawSite()
	n, id := w.drawAppt()
	_, err := w.app.CompleteAppointment.Handle(w.ctx, application.CompleteAppointment{SiteID: domain.MustSiteID(site), ID: domain.MustID(id)})
	w.outcome(fmt.Sprintf("s%d: complete appointment a%d", s, n), err)
}

func (w *propWorld) markNoShow() {
	s, site := w.drawSite()
	n, id := w.drawAppt()
	_, err := w.app.MarkNoShow.Handle(w.ctx, application.MarkNoShow{SiteID: domain.MustSiteID(site), ID: domain.MustID(id)})
	if w.outcome(fmt.Sprintf("s%d: mark appointment a%d no-show", s, n), err) {
		w.withdrawBooking(site, id) // the visit did not happen: its remaining actions end
	}
}

// withdrawBooking records that an appointment's booking, reminder and
// reschedule notice were withdrawn.
func (w *propWorld) withdrawBooking(site, id string) {
	w.withdraw(site, application.RoleAppointmentScheduled, id)
	w.withdraw(site, application.RoleAppointmentStarting, id)
	w.withdraw(site, application.RoleAppointmentRescheduled, id)
}

func (w *propWorld) scheduleClass() {
	s, site := w.drawSite()
	n, id := w.drawClass()
	capacity := rapid.IntRange(1, 3).Draw(w.t, "capacity")
	waitlist := rapid.Bool().Draw(w.t, "waitlist")
	start := w.drawStart()
	_, err := w.app.ScheduleClass.Handle(w.ctx, application.ScheduleClass{
		SiteID: domain.MustSiteID(site), ID: domain.MustID(id), Title: "Yoga", StartsAt: start, EndsAt: start.Add(time.Hour), Capacity: capacity, Waitlist: waitlist})
	if w.outcome(fmt.Sprintf("s%d: schedule class c%d at %s, %d seats, waitlist %v", s, n, w.rel(start), capacity, waitlist), err) {
		w.classes[site+"/"+id] = true
	}
}

func (w *propWorld) rescheduleClass() {
	s, site := w.drawSite()
	n, id := w.drawClass()
	start := w.drawStart()
	seated := w.seatedIn(site, id) // observed before the command
	before, _ := w.app.GetClass.Handle(w.ctx, application.GetClass{SiteID: domain.MustSiteID(site), ID: domain.MustID(id)})
	_, err := w.app.RescheduleClass.Handle(w.ctx, application.RescheduleClass{SiteID: domain.MustSiteID(site), ID: domain.MustID(id), StartsAt: start, EndsAt: start.Add(time.Hour)})
	if w.outcome(fmt.Sprintf("s%d: reschedule class c%d to %s", s, n, w.rel(start)), err) {
		for _, e := range seated {
			e.classMoves++
			if !before.StartsAt.Equal(start) {
				w.withdraw(site, application.RoleClassStarting, e.id)
			}
			if e.lastMove.replaces(propMove{w.clock.Now(), before.StartsAt, start}) {
				w.withdraw(site, application.RoleClassRescheduled, e.id) // the last notice is replaced
			}
		}
	}
}

func (w *propWorld) seatedIn(site, class string) []*propEnrollment {
	return w.in(site, class, "enrolled")
}

// in returns the enrollments of a class observed in state.
func (w *propWorld) in(site, class, state string) []*propEnrollment {
	var out []*propEnrollment
	for _, e := range w.enrs {
		if e.site == site && e.classID == class && e.state == state {
			out = append(out, e)
		}
	}
	return out
}

// withdrawSeat records that an enrollment's seat events were withdrawn.
func (w *propWorld) withdrawSeat(site, id string) {
	w.withdraw(site, application.RoleParticipantEnrolled, id)
	w.withdraw(site, application.RoleClassStarting, id)
	w.withdraw(site, application.RoleClassRescheduled, id)
}

func (w *propWorld) cancelClass() {
	s, site := w.drawSite()
	n, id := w.drawClass()
	seated, waiting := w.seatedIn(site, id), w.in(site, id, "waitlisted")
	_, err := w.app.CancelClass.Handle(w.ctx, application.CancelClass{SiteID: domain.MustSiteID(site), ID: domain.MustID(id), Reason: "teacher ill"})
	if w.outcome(fmt.Sprintf("s%d: cancel class c%d", s, n), err) {
		for _, e := range seated {
			w.withdrawSeat(site, e.id)
		}
		for _, e := range waiting {
			w.withdraw(site, application.RoleParticipantWaitlisted, e.id)
		}
	}
}

func (w *propWorld) completeClass() {
	s, site := w.drawSite()
	n, id := w.drawClass()
	waiting := w.in(site, id, "waitlisted")
	_, err := w.app.CompleteClass.Handle(w.ctx, application.CompleteClass{SiteID: domain.MustSiteID(site), ID: domain.MustID(id)})
	if w.outcome(fmt.Sprintf("s%d: complete class c%d", s, n), err) {
		for _, e := range waiting { // the waitlist closes
			w.withdraw(site, application.RoleParticipantWaitlisted, e.id)
		}
	}
}

func (w *propWorld) enroll() {
	s, site := w.drawSite()
	n, id := w.drawClass()
	p := rapid.IntRange(1, 4).Draw(w.t, "participant")
	v, err := w.app.Enroll.Handle(w.ctx, application.Enroll{SiteID: domain.MustSiteID(site), ClassID: domain.MustID(id), ParticipantID: participantID(p)})
	if err == nil {
		w.enrs = append(w.enrs, &propEnrollment{site: site, id: v.ID.String(), classID: id, order: len(w.enrs)})
	}
	name := ""
	if err == nil {
		name = " as " + w.enrs[len(w.enrs)-1].name()
	}
	w.outcome(fmt.Sprintf("s%d: participant p%d enrolls in class c%d%s", s, p, n, name), err)
}

func (w *propWorld) leave() {
	s, site := w.drawSite()
	if len(w.enrs) == 0 {
		w.outcome(fmt.Sprintf("s%d: leave an enrollment that does not exist", s),
			leaveErr(w.app.Leave.Handle(w.ctx, application.Leave{SiteID: domain.MustSiteID(site), EnrollmentID: contactID(99)})))
		return
	}
	e := w.enrs[rapid.IntRange(0, len(w.enrs)-1).Draw(w.t, "enrollment")]
	wasSeated, wasWaiting := e.state == "enrolled", e.state == "waitlisted"
	waiting := w.in(e.site, e.classID, "waitlisted")                                                                           // one may be promoted
	_, err := w.app.Leave.Handle(w.ctx, application.Leave{SiteID: domain.MustSiteID(site), EnrollmentID: domain.MustID(e.id)}) // another site's: refused
	if !w.outcome(fmt.Sprintf("s%d: %s leaves (enrolled on %s)", s, e.name(), siteName(e.site)), err) {
		return
	}
	if wasSeated {
		w.withdrawSeat(site, e.id)
	}
	if wasWaiting {
		w.withdraw(site, application.RoleParticipantWaitlisted, e.id)
	}
	for _, p := range waiting {
		if p.state == "enrolled" { // promoted to the freed seat
			w.withdraw(site, application.RoleParticipantWaitlisted, p.id)
		}
	}
}

func leaveErr(_ application.EnrollmentView, err error) error { return err }

// propMaxSpan bounds how far a case moves the clock, well inside the week
// for which Wix (and the simulator) remember an idempotency key: a report
// sent by a relay that died before settling it is sent again after the
// lease, and must meet its key.
const propMaxSpan = 5 * day

func (w *propWorld) moveClock() {
	d := time.Duration(rapid.IntRange(1, 16).Draw(w.t, "half-hours")) * 30 * time.Minute
	if w.clock.Now().Add(d).Sub(w.start) > propMaxSpan {
		w.logf("clock stays (the case spans %s at most)", propMaxSpan)
		return
	}
	w.clock.Advance(d)
	w.logf("clock moves %s", d)
}

func (w *propWorld) rel(t time.Time) string {
	return "now" + signed(t.Sub(w.clock.Now()))
}

func signed(d time.Duration) string {
	if d < 0 {
		return d.String()
	}
	return "+" + d.String()
}

func siteName(site string) string {
	for i, s := range propSites {
		if s == site {
			return fmt.Sprintf("s%d", i+1)
		}
	}
	return site
}

// deliverPlan is how one delivery runs.
type deliverPlan struct {
	workers      int
	rateLimited  bool // a per-site limit whose waits move the fake clock
	restartAfter int  // stop the relay after this many requests and start a new one; 0: never
}

func (p deliverPlan) String() string {
	s := fmt.Sprintf("%d workers", p.workers)
	if p.rateLimited {
		s += ", rate-limited"
	}
	if p.restartAfter > 0 {
		s += fmt.Sprintf(", relay restarts after %d requests", p.restartAfter)
	}
	return s
}

func (w *propWorld) deliverStep() {
	p := deliverPlan{
		workers:      rapid.IntRange(1, 3).Draw(w.t, "workers"),
		restartAfter: rapid.IntRange(0, 4).Draw(w.t, "restart after requests"),
	}
	// The limiter's waits move the clock; with one worker nothing is in
	// flight meanwhile (a scheduled report cannot pass its time mid-request).
	if p.workers == 1 {
		p.rateLimited = rapid.Bool().Draw(w.t, "rate limited")
	}
	w.deliver(p)
	w.check("after delivery")
}

// deliver drains the outbox to the simulator until nothing is pending,
// moving the clock to the next retry or the end of a lease when a drain
// stops with calls backing off.
func (w *propWorld) deliver(p deliverPlan) {
	w.logf("deliver (%s)", p)
	restarts := 0
	for round := 0; ; round++ {
		if round > 500 {
			w.t.Fatalf("the outbox does not drain after %d rounds", round)
		}
		ctx, cancel := context.WithCancel(w.ctx)
		gw := &stoppingGateway{Gateway: w.sim, after: p.restartAfter, stop: cancel}
		if restarts >= 3 {
			gw.after = 0
		}
		relay, err := relay.New(w.relayConfig(p, gw))
		if err != nil {
			w.t.Fatalf("relay: %v", err)
		}
		err = relay.Drain(ctx)
		cancel()
		m := relay.Metrics()
		w.stats.add(func(s *propertyStats) { s.delivered += int(m.Delivered) })
		if gw.stopped() {
			restarts++
			w.stats.add(func(s *propertyStats) { s.restarts++ })
			w.logf("relay restarted after %d requests", gw.after)
			if err != nil && !errors.Is(err, context.Canceled) {
				w.t.Fatalf("drain stopped by a restart: %v", err)
			}
			continue
		}
		if err != nil {
			w.t.Fatalf("drain: %v", err)
		}
		stats, err := w.db.Stats(w.ctx, "")
		if err != nil {
			w.t.Fatalf("stats: %v", err)
		}
		if stats[application.StateDead] > 0 && !w.operators {
			w.t.Fatalf("dead letters after retryable faults only: %s", w.describeDead())
		}
		if stats[application.StatePending] == 0 {
			w.drained()
			return
		}
		at, ok, err := w.db.NextDue(w.ctx)
		if err != nil || !ok {
			w.t.Fatalf("pending calls but no next due time (%v)", err)
		}
		if at.After(w.clock.Now()) {
			w.logf("clock moves %s to the next retry", at.Sub(w.clock.Now()))
			w.clock.Set(at)
		}
	}
}

func (w *propWorld) relayConfig(p deliverPlan, gw application.Gateway) relay.Config {
	cfg := relay.Config{
		Outbox: w.db, Gateway: gw, Clock: w.clock, Workers: p.workers,
		Lease: time.Minute, RequestTimeout: 20 * time.Second, BackoffBase: time.Second, BackoffMax: time.Minute,
		Jitter: func() float64 { return 0.5 }, RequestsPerMinute: relay.NoRateLimit,
		StopGrace: time.Minute,
	}
	// The relay's waits move the clock: the rate limiter's, and a standby
	// relay's until the lease of a relay that died runs out.
	cfg.After = func(d time.Duration) <-chan time.Time {
		ch := make(chan time.Time, 1)
		ch <- w.clock.Advance(d)
		return ch
	}
	if p.rateLimited {
		cfg.RequestsPerMinute, cfg.Burst = 60, 2
	}
	return cfg
}

func (w *propWorld) describeDead() string {
	calls, err := w.db.List(w.ctx, application.Filter{State: application.StateDead})
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	for _, c := range calls {
		fmt.Fprintf(&b, "\n  %s %s %s on %s: %v", c.Kind, c.TriggerKey, c.ExternalEntityID, siteName(c.SiteID), c.LastError)
	}
	return b.String()
}

// stoppingGateway passes requests to the simulator and stops its relay (by
// canceling the drain's context) once it has passed `after` of them: the
// relay restarts while requests are in flight and calls are held.
type stoppingGateway struct {
	application.Gateway
	after int
	stop  func()

	mu   sync.Mutex
	n    int
	done bool
}

func (g *stoppingGateway) count() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.n++
	if g.after > 0 && g.n >= g.after && !g.done {
		g.done = true
		g.stop()
	}
}

func (g *stoppingGateway) stopped() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.done
}

func (g *stoppingGateway) Report(ctx context.Context, site, trigger string, events []application.ReportEvent) ([]error, error) {
	defer g.count()
	return g.Gateway.Report(ctx, site, trigger, events)
}

func (g *stoppingGateway) Cancel(ctx context.Context, site, trigger string, ids []string) ([]error, error) {
	defer g.count()
	return g.Gateway.Cancel(ctx, site, trigger, ids)
}

// dyingRelay is a relay that claims due calls, sends some of them, and dies
// before settling any: their leases must run out and another relay must
// send them again (a report meets its idempotency key at Wix).
func (w *propWorld) dyingRelay() {
	n := rapid.IntRange(1, 5).Draw(w.t, "claimed")
	sent := rapid.IntRange(0, n).Draw(w.t, "sent before dying")
	now := w.clock.Now()
	calls, err := w.db.Claim(w.ctx, outbox.ClaimRequest{Relay: "dying", Now: now, Limit: n, Lease: time.Minute})
	var standby *outbox.StandbyError
	if errors.As(err, &standby) { // the last relay's lease still holds: it takes over once it ends
		w.clock.Set(standby.Until)
		now = w.clock.Now()
		calls, err = w.db.Claim(w.ctx, outbox.ClaimRequest{Relay: "dying", Now: now, Limit: n, Lease: time.Minute})
	}
	if err != nil {
		w.t.Fatalf("claim: %v", err)
	}
	k := 0
	for _, c := range calls {
		if k == sent {
			break
		}
		if c.Kind == application.KindReport && !c.ScheduledAt.IsZero() && !c.ScheduledAt.After(now) {
			continue // a relay never sends an expired report
		}
		k++
		if c.Kind == application.KindReport {
			_, _ = w.sim.Report(w.ctx, c.SiteID, c.TriggerKey, []application.ReportEvent{
				{ExternalEntityID: c.ExternalEntityID, Payload: c.Payload, IdempotencyKey: c.ID}})
		} else {
			_, _ = w.sim.Cancel(w.ctx, c.SiteID, c.TriggerKey, []string{c.ExternalEntityID})
		}
	}
	w.stats.add(func(s *propertyStats) { s.ghosts++ })
	w.logf("a relay claims %d calls, sends %d and dies", len(calls), k)
}

// injectFault queues one retryable fault at the simulator.
func (w *propWorld) injectFault() {
	times := rapid.IntRange(1, 3).Draw(w.t, "times")
	endpoint := rapid.SampledFrom([]wixsim.Endpoint{"", wixsim.EndpointReport, wixsim.EndpointBulkReport,
		wixsim.EndpointCancel, wixsim.EndpointBulkCancel}).Draw(w.t, "endpoint")
	site := ""
	if rapid.Bool().Draw(w.t, "one site") {
		_, site = w.drawSite()
	}
	f := wixsim.Fault{Times: times, Endpoint: endpoint, Site: site}
	var what string
	switch kind := rapid.IntRange(0, 5).Draw(w.t, "fault"); kind {
	case 0:
		f.Status = rapid.SampledFrom([]int{500, 502, 503, 504}).Draw(w.t, "status")
		what = fmt.Sprintf("HTTP %d", f.Status)
	case 1:
		f.Status = 429
		f.RetryAfter = time.Duration(rapid.IntRange(1, 5).Draw(w.t, "retry after seconds")) * time.Second
		what = fmt.Sprintf("429, Retry-After %s", f.RetryAfter)
	case 2:
		f.Drop = true
		what = "dropped connection"
	case 3:
		f.AfterApply = true
		if rapid.Bool().Draw(w.t, "drop after apply") {
			f.Drop, what = true, "connection dropped after the request took effect"
		} else {
			f.Status, what = 503, "503 after the request took effect"
		}
	case 4, 5:
		entity := w.drawEntity()
		if entity == "" {
			return
		}
		f.EntityID = entity
		if kind == 4 {
			f.Endpoint = rapid.SampledFrom([]wixsim.Endpoint{wixsim.EndpointBulkReport, wixsim.EndpointBulkCancel}).Draw(w.t, "bulk endpoint")
			f.ItemCode = rapid.SampledFrom([]string{"UNAVAILABLE", "INTERNAL", "RESOURCE_EXHAUSTED"}).Draw(w.t, "item code")
			what = "bulk item of " + entity + " fails with " + f.ItemCode
		} else {
			f.Status = 503
			what = "503 for requests naming " + entity
		}
	}
	if f.Endpoint == "" && f.ItemCode == "" {
		what += " on any endpoint"
	} else {
		what += " on " + string(f.Endpoint)
	}
	if site != "" {
		what += " of " + siteName(site)
	}
	w.sim.Inject(f)
	w.stats.add(func(s *propertyStats) { s.faults += times })
	w.logf("fault: next %d x %s", times, what)
}

// drawEntity picks a known externalEntityId, or "" when there is none.
func (w *propWorld) drawEntity() string {
	var ids []string
	for _, a := range w.appts {
		ids = append(ids, a.id)
	}
	for _, e := range w.enrs {
		ids = append(ids, e.id)
	}
	if len(ids) == 0 {
		return ""
	}
	return ids[rapid.IntRange(0, len(ids)-1).Draw(w.t, "entity")]
}
