package scenarios

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/bookable/lifecycle/adapters/memory"
	"github.com/bookable/lifecycle/adapters/sqlite"
	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/application/fake"
	"github.com/bookable/lifecycle/domain"
)

// The course and series property: a random script of commands on courses
// (sessions added, moved and canceled, participants enrolling and leaving,
// courses canceled and completed) and appointment series (booked in the
// site's zone, "this", "following" and "all", occurrences moved), with the
// clock moving, in a site whose zone is drawn. After every command the
// outbox, replayed in order as Wix applies it (a report makes an event
// live, a cancel ends every live event of its pair), must leave exactly the
// events that an oracle computes from the script's model: one per seat of
// a session, never a reminder of a canceled session or of a participant
// who left before it; one per occurrence. Every live reminder's payload
// shows its start on the site's wall clock, a series keeps its wall-clock
// time across daylight saving changes, DesiredFor finds every live event's
// subject again, and a reconcile at the end finds nothing to repair.

func TestPropertyCoursesAndSeriesStayTrue(t *testing.T) {
	setPropertyChecks(t)
	rapid.Check(t, runCoursesCase)
}

// pcWorld is one case: the system, the zone and the model.
type pcWorld struct {
	t        *rapid.T
	ctx      context.Context
	clock    *fake.Clock
	store    application.Store
	outbox   application.Outbox
	app      *application.App
	zone     *time.Location
	courses  map[string]*pcCourse
	enrs     []*pcEnrollment
	series   map[string]*pcSeries
	sessions int // sessions created, for their IDs
}

type pcCourse struct {
	id, state string
	sessions  []*pcSession
}

type pcSession struct {
	id         string
	number     int
	start      time.Time
	state      string
	canceledAt time.Time
}

type pcEnrollment struct {
	id, courseID        string
	state               string
	enrolledAt, endedAt time.Time
}

type pcSeries struct {
	id, state string
	occ       []*pcOccurrence
}

type pcOccurrence struct {
	number        int
	appointmentID string
	start         time.Time
	state         string
}

func runCoursesCase(t *rapid.T) {
	ctx := context.Background()
	clock := fake.NewClock(Now)
	w := &pcWorld{t: t, ctx: ctx, clock: clock, courses: map[string]*pcCourse{}, series: map[string]*pcSeries{}}
	if rapid.IntRange(0, 3).Draw(t, "sqlite (0) or memory") == 0 {
		dir, err := os.MkdirTemp("", "lifecycle-courses-")
		if err != nil {
			t.Fatalf("temp dir: %v", err)
		}
		defer os.RemoveAll(dir)
		db, err := sqlite.Open(ctx, filepath.Join(dir, "lifecycle.db"), sqlite.WithClock(clock))
		if err != nil {
			t.Fatalf("open sqlite: %v", err)
		}
		defer db.Close()
		w.store, w.outbox = db, db
	} else {
		m := memory.New()
		w.store, w.outbox = m, m
	}
	catalog := application.DefaultCatalog()
	app, err := application.New(application.Config{Store: w.store, Catalog: catalog, Clock: clock, IDs: fake.NewIDs("0e000000")})
	if err != nil {
		t.Fatalf("app: %v", err)
	}
	w.app = app
	zone := rapid.SampledFrom([]string{"UTC", "Europe/Berlin", "America/New_York", "Australia/Sydney"}).Draw(t, "zone")
	if w.zone, err = time.LoadLocation(zone); err != nil {
		t.Fatalf("zone: %v", err)
	}
	if _, err := app.SetTimeZone.Handle(ctx, application.SetTimeZone{SiteID: Site, TimeZone: zone}); err != nil {
		t.Fatalf("set zone: %v", err)
	}

	steps := rapid.IntRange(1, 40).Draw(t, "steps")
	for range steps {
		name := rapid.SampledFrom(pcCommandNames).Draw(t, "command")
		pcCommands[name](w)
		w.check(name)
	}
	sum, err := app.Reconcile.Handle(ctx, application.Reconcile{SiteID: Site, DryRun: true}, nil)
	if err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	if sum.Repairs != 0 {
		t.Fatalf("reconcile after the script finds %d repairs: the policy and the desired state disagree", sum.Repairs)
	}
}

var pcCommands, pcCommandNames = pcWeighted(
	2, "schedule course", (*pcWorld).scheduleCourse,
	2, "add session", (*pcWorld).addSession,
	2, "reschedule session", (*pcWorld).rescheduleSession,
	2, "cancel session", (*pcWorld).cancelSession,
	5, "enroll in course", (*pcWorld).enroll,
	2, "leave course", (*pcWorld).leave,
	1, "cancel course", (*pcWorld).cancelCourse,
	1, "complete course", (*pcWorld).completeCourse,
	2, "schedule series", (*pcWorld).scheduleSeries,
	3, "cancel series", (*pcWorld).cancelSeries,
	2, "reschedule occurrence", (*pcWorld).rescheduleOccurrence,
	2, "move clock", (*pcWorld).moveClock,
)

func pcWeighted(args ...any) (map[string]func(*pcWorld), []string) {
	byName := map[string]func(*pcWorld){}
	var names []string
	for i := 0; i < len(args); i += 3 {
		name := args[i+1].(string)
		byName[name] = args[i+2].(func(*pcWorld))
		for range args[i].(int) {
			names = append(names, name)
		}
	}
	return byName, names
}

// drawStart is an hour-aligned start from now to three weeks ahead.
func (w *pcWorld) drawStart() time.Time {
	return w.clock.Now().Truncate(time.Hour).Add(time.Duration(rapid.IntRange(1, 21*24).Draw(w.t, "start in hours")) * time.Hour)
}

// refused fails the case when a refusal is not one a caller can be given
// (an internal error); a refused command must queue nothing.
func (w *pcWorld) refused(what string, err error, before int) bool {
	if err == nil {
		return false
	}
	if application.ErrorCode(err) == application.CodeInternal {
		w.t.Fatalf("%s: internal error %v", what, err)
	}
	if n := len(w.calls()); n != before {
		w.t.Fatalf("%s was refused (%v) but queued %d calls", what, err, n-before)
	}
	return true
}

func (w *pcWorld) calls() []application.Call {
	var out []application.Call
	for after := int64(0); ; {
		page, err := w.outbox.List(w.ctx, application.Filter{SiteID: Site.String(), After: after, Limit: 1000})
		if err != nil {
			w.t.Fatalf("list calls: %v", err)
		}
		if len(page) == 0 {
			return out
		}
		out = append(out, page...)
		after = page[len(page)-1].Seq
	}
}

func (w *pcWorld) drawCourse() *pcCourse {
	if len(w.courses) == 0 {
		return nil
	}
	ids := make([]string, 0, len(w.courses))
	for id := range w.courses {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return w.courses[rapid.SampledFrom(ids).Draw(w.t, "course")]
}

func (w *pcWorld) drawSession(c *pcCourse) *pcSession {
	if c == nil || len(c.sessions) == 0 {
		return nil
	}
	return c.sessions[rapid.IntRange(0, len(c.sessions)-1).Draw(w.t, "session")]
}

// sync reads a course's sessions from its view: their numbers, times and
// states.
func (w *pcWorld) sync(c *pcCourse, v application.CourseView) {
	c.state = v.State
	known := map[string]*pcSession{}
	for _, s := range c.sessions {
		known[s.id] = s
	}
	for _, s := range v.Sessions {
		m, ok := known[s.ID.String()]
		if !ok {
			m = &pcSession{id: s.ID.String()}
			c.sessions = append(c.sessions, m)
		}
		if m.state == "scheduled" && s.State == "canceled" {
			m.canceledAt = w.clock.Now()
		}
		m.number, m.start, m.state = s.Number, s.StartsAt, s.State
	}
}

func (w *pcWorld) newSessions(n int) []application.NewCourseSession {
	var out []application.NewCourseSession
	for range n {
		w.sessions++
		start := w.drawStart()
		out = append(out, application.NewCourseSession{ID: domain.MustID(fmt.Sprintf("5e550000-0000-4000-8000-%012d", w.sessions)),
			StartsAt: start, EndsAt: start.Add(time.Hour)})
	}
	return out
}

func (w *pcWorld) scheduleCourse() {
	if len(w.courses) >= 2 {
		return
	}
	id := courseID(len(w.courses) + 1)
	before := len(w.calls())
	v, err := w.app.ScheduleCourse.Handle(w.ctx, application.ScheduleCourse{SiteID: Site, ID: id, Title: "Pottery",
		Capacity: rapid.IntRange(1, 4).Draw(w.t, "capacity"), Sessions: w.newSessions(rapid.IntRange(0, 3).Draw(w.t, "sessions"))})
	if w.refused("schedule course", err, before) {
		return
	}
	c := &pcCourse{id: id.String()}
	w.courses[id.String()] = c
	w.sync(c, v)
}

func (w *pcWorld) addSession() {
	c := w.drawCourse()
	if c == nil {
		return
	}
	s := w.newSessions(1)[0]
	before := len(w.calls())
	v, err := w.app.AddCourseSession.Handle(w.ctx, application.AddCourseSession{SiteID: Site, CourseID: domain.MustID(c.id), SessionID: s.ID,
		StartsAt: s.StartsAt, EndsAt: s.EndsAt})
	if !w.refused("add session", err, before) {
		w.sync(c, v)
	}
}

func (w *pcWorld) rescheduleSession() {
	c := w.drawCourse()
	s := w.drawSession(c)
	if s == nil {
		return
	}
	start := w.drawStart()
	before := len(w.calls())
	v, err := w.app.RescheduleCourseSession.Handle(w.ctx, application.RescheduleCourseSession{SiteID: Site, CourseID: domain.MustID(c.id),
		SessionID: domain.MustID(s.id), StartsAt: start, EndsAt: start.Add(time.Hour)})
	if !w.refused("reschedule session", err, before) {
		w.sync(c, v)
	}
}

func (w *pcWorld) cancelSession() {
	c := w.drawCourse()
	s := w.drawSession(c)
	if s == nil {
		return
	}
	before := len(w.calls())
	v, err := w.app.CancelCourseSession.Handle(w.ctx, application.CancelCourseSession{SiteID: Site, CourseID: domain.MustID(c.id), SessionID: domain.MustID(s.id)})
	if !w.refused("cancel session", err, before) {
		w.sync(c, v)
	}
}

func (w *pcWorld) enroll() {
	c := w.drawCourse()
	if c == nil {
		return
	}
	p := rapid.IntRange(1, 5).Draw(w.t, "participant")
	before := len(w.calls())
	v, err := w.app.EnrollInCourse.Handle(w.ctx, application.EnrollInCourse{SiteID: Site, CourseID: domain.MustID(c.id), ParticipantID: participantID(p)})
	if w.refused("enroll in course", err, before) {
		return
	}
	w.enrs = append(w.enrs, &pcEnrollment{id: v.ID.String(), courseID: c.id, state: v.State, enrolledAt: w.clock.Now()})
}

func (w *pcWorld) leave() {
	if len(w.enrs) == 0 {
		return
	}
	e := w.enrs[rapid.IntRange(0, len(w.enrs)-1).Draw(w.t, "enrollment")]
	before := len(w.calls())
	v, err := w.app.LeaveCourse.Handle(w.ctx, application.LeaveCourse{SiteID: Site, EnrollmentID: domain.MustID(e.id)})
	if !w.refused("leave course", err, before) {
		e.state, e.endedAt = v.State, w.clock.Now()
	}
}

// ended moves a course's active enrollments to state, as its cancel or
// completion does.
func (w *pcWorld) ended(c *pcCourse, state string) {
	for _, e := range w.enrs {
		if e.courseID == c.id && e.state == "enrolled" {
			e.state, e.endedAt = state, w.clock.Now()
		}
	}
}

func (w *pcWorld) cancelCourse() {
	c := w.drawCourse()
	if c == nil {
		return
	}
	before := len(w.calls())
	v, err := w.app.CancelCourse.Handle(w.ctx, application.CancelCourse{SiteID: Site, ID: domain.MustID(c.id)})
	if !w.refused("cancel course", err, before) {
		w.sync(c, v)
		w.ended(c, "course_canceled")
	}
}

func (w *pcWorld) completeCourse() {
	c := w.drawCourse()
	if c == nil {
		return
	}
	before := len(w.calls())
	v, err := w.app.CompleteCourse.Handle(w.ctx, application.CompleteCourse{SiteID: Site, ID: domain.MustID(c.id)})
	if !w.refused("complete course", err, before) {
		w.sync(c, v)
		w.ended(c, "completed")
	}
}

func (w *pcWorld) scheduleSeries() {
	if len(w.series) >= 2 {
		return
	}
	id := seriesID(len(w.series) + 1)
	start := w.drawStart()
	every := rapid.SampledFrom([]string{"day", "week"}).Draw(w.t, "every")
	before := len(w.calls())
	v, err := w.app.ScheduleSeries.Handle(w.ctx, application.ScheduleSeries{SiteID: Site, ID: id, ContactID: contactID(1),
		Title: "Physio", StartsAt: start, EndsAt: start.Add(45 * time.Minute), Every: every,
		Count: rapid.IntRange(1, 8).Draw(w.t, "count")})
	if w.refused("schedule series", err, before) {
		return
	}
	s := &pcSeries{id: id.String(), state: v.State}
	first := start.In(w.zone)
	step := 1
	if every == "week" {
		step = 7
	}
	for i, o := range v.Occurrences {
		// The wall clock is kept: every occurrence is at the first's local
		// time, step days later on the calendar of the site's zone.
		local := o.StartsAt.In(w.zone)
		want := first.AddDate(0, 0, i*step)
		if want.Hour() == local.Hour() && want.Minute() == local.Minute() && local.YearDay() != want.YearDay() {
			w.t.Fatalf("occurrence %d of series %s is on %s, want %s", o.Number, id, local, want)
		}
		if local.Format("15:04") != first.Format("15:04") && !dstGap(w.zone, want) {
			w.t.Fatalf("occurrence %d of series %s starts at %s local, the first at %s", o.Number, id, local.Format("15:04"), first.Format("15:04"))
		}
		s.occ = append(s.occ, &pcOccurrence{number: o.Number, appointmentID: o.AppointmentID.String(), start: o.StartsAt, state: o.State})
	}
	w.series[id.String()] = s
}

// dstGap reports whether a wall-clock time does not exist in loc (it falls
// in a daylight saving change's gap): Go moves it, so its hour differs.
func dstGap(loc *time.Location, t time.Time) bool {
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), 0, 0, loc).Hour() != t.Hour()
}

func (w *pcWorld) drawSeries() *pcSeries {
	if len(w.series) == 0 {
		return nil
	}
	return w.series[seriesID(rapid.IntRange(1, len(w.series)).Draw(w.t, "series")).String()]
}

// syncSeries reads a series' occurrences from its view.
func (s *pcSeries) sync(v application.SeriesView) {
	s.state = v.State
	for i, o := range v.Occurrences {
		s.occ[i].start, s.occ[i].state = o.StartsAt, o.State
	}
}

func (w *pcWorld) cancelSeries() {
	s := w.drawSeries()
	if s == nil {
		return
	}
	scope := rapid.SampledFrom([]string{application.SeriesThis, application.SeriesFollowing, application.SeriesAll}).Draw(w.t, "scope")
	n := rapid.IntRange(1, len(s.occ)).Draw(w.t, "occurrence")
	before := len(w.calls())
	v, err := w.app.CancelSeries.Handle(w.ctx, application.CancelSeries{SiteID: Site, ID: domain.MustID(s.id), Scope: scope, Occurrence: n})
	if !w.refused("cancel series", err, before) {
		s.sync(v)
	}
}

func (w *pcWorld) rescheduleOccurrence() {
	s := w.drawSeries()
	if s == nil {
		return
	}
	n := rapid.IntRange(1, len(s.occ)).Draw(w.t, "occurrence")
	start := w.drawStart()
	before := len(w.calls())
	v, err := w.app.RescheduleOccurrence.Handle(w.ctx, application.RescheduleOccurrence{SiteID: Site, SeriesID: domain.MustID(s.id),
		Occurrence: n, StartsAt: start, EndsAt: start.Add(45 * time.Minute)})
	if !w.refused("reschedule occurrence", err, before) {
		s.sync(v)
	}
}

func (w *pcWorld) moveClock() {
	w.clock.Advance(time.Duration(rapid.IntRange(1, 5*24).Draw(w.t, "advance hours")) * time.Hour)
}
