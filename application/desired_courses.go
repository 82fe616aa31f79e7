package application

import (
	"slices"
	"time"

	"github.com/bookable/lifecycle/domain"
	"github.com/bookable/lifecycle/domain/course"
	"github.com/bookable/lifecycle/domain/courseenrollment"
)

// inCourse is a course enrollment with its course: the subject of the
// course-wide triggers, keyed by the enrollment ID.
type inCourse struct {
	e *courseenrollment.Enrollment
	c *course.Course
}

// courseEnrollmentRules are the course-wide triggers' lives, per
// enrollment: the seed's class rules for a course booked as one unit.
var courseEnrollmentRules = []lifeRule[courseenrollment.State, inCourse]{
	{RoleParticipantEnrolledInCourse, []courseenrollment.State{courseenrollment.StateEnrolled, courseenrollment.StateCompleted},
		func(x inCourse) (time.Time, bool) { return x.e.EnrolledAt(), true }, nil},
	{RoleParticipantLeftCourse, []courseenrollment.State{courseenrollment.StateLeft},
		func(x inCourse) (time.Time, bool) { return x.e.EndedAt(), true }, nil},
	{RoleCourseCanceled, []courseenrollment.State{courseenrollment.StateCourseCanceled},
		func(x inCourse) (time.Time, bool) { return x.e.EndedAt(), true }, nil},
	{RoleCourseCompleted, []courseenrollment.State{courseenrollment.StateCompleted},
		func(x inCourse) (time.Time, bool) { return x.e.EndedAt(), true }, nil},
}

// seat is a course enrollment's place in one session: the subject of the
// session triggers, keyed by courseenrollment.SessionEntityID.
type seat struct {
	e *courseenrollment.Enrollment
	c *course.Course
	s *course.Session
}

// sessionRule is when one session trigger's events are live for a seat:
// while the enrollment is in one of the rule's states and the session in
// one of sessions (and since says so); and, when afterEnd is set, also for
// an enrollment that ended when afterEnd says so.
type sessionRule struct {
	lifeRule[courseenrollment.State, seat]
	sessions []course.SessionState
	afterEnd func(seat) bool
}

// live reports whether the rule calls for an event of x, and since when.
func (r sessionRule) live(x seat) (time.Time, bool) {
	if !slices.Contains(r.sessions, x.s.State()) {
		return time.Time{}, false
	}
	if !slices.Contains(r.states, x.e.State()) && (r.afterEnd == nil || !r.afterEnd(x)) {
		return time.Time{}, false
	}
	return r.since(x)
}

// held is an enrollment's state while it holds its seat.
var held = []courseenrollment.State{courseenrollment.StateEnrolled, courseenrollment.StateCompleted}

// sessionRules are the session triggers' lives, per seat. A session's
// reminder is live while the participant holds the seat and the session is
// scheduled; canceling the session ends it for every participant, leaving
// the course (or its cancel) ends it for the sessions that had not started
// (a session that took place keeps its automations after it). A cancel or
// reschedule notice is for those who were enrolled when it happened.
var sessionRules = []sessionRule{
	{lifeRule[courseenrollment.State, seat]{RoleCourseSessionStarting, held,
		func(x seat) (time.Time, bool) {
			return latest(latest(x.e.EnrolledAt(), x.s.AddedAt()), x.s.RescheduledAt()), true
		}, nil},
		[]course.SessionState{course.SessionStateScheduled},
		func(x seat) bool { return x.e.Held(x.s) }},
	{lifeRule[courseenrollment.State, seat]{RoleCourseSessionCanceled, held,
		func(x seat) (time.Time, bool) { return x.s.CanceledAt(), !x.s.CanceledAt().Before(x.e.EnrolledAt()) }, nil},
		[]course.SessionState{course.SessionStateCanceled}, nil},
	{lifeRule[courseenrollment.State, seat]{RoleCourseSessionRescheduled, held,
		func(x seat) (time.Time, bool) {
			return x.s.RescheduledAt(), !x.s.RescheduledAt().IsZero() && !x.s.RescheduledAt().Before(x.e.EnrolledAt())
		},
		func(x seat) string { return domain.FormatInstant(x.s.PreviousStart()) }},
		[]course.SessionState{course.SessionStateScheduled}, nil},
}

// DesiredCourseEnrollment returns the events e's state in course c calls
// for at Wix under catalog cat in zone z: first the enrollment's own
// (keyed by its ID), then each session's, by number, keyed by
// courseenrollment.SessionEntityID of e and the session.
func DesiredCourseEnrollment(cat *Catalog, z domain.TimeZone, e *courseenrollment.Enrollment, c *course.Course) []Live {
	out := desired(cat, courseEnrollmentRules, e.State(), inCourse{e, c}, e.SiteID().String(), e.ID().String(),
		courseEnrollmentFacts(z, e, c, nil), time.Time{})
	for _, s := range c.Sessions() {
		out = append(out, DesiredSession(cat, z, e, c, s)...)
	}
	return out
}

// DesiredSession returns the events of e's place in session s of course c,
// in catalog order, keyed by courseenrollment.SessionEntityID.
func DesiredSession(cat *Catalog, z domain.TimeZone, e *courseenrollment.Enrollment, c *course.Course, s *course.Session) []Live {
	x := seat{e, c, s}
	entity := courseenrollment.SessionEntityID(e.ID(), s.Number())
	f := courseEnrollmentFacts(z, e, c, s)
	var out []Live
	for _, t := range cat.Enabled() {
		for _, r := range sessionRules {
			if r.role != t.Role {
				continue
			}
			since, ok := r.live(x)
			if !ok {
				continue
			}
			l := Live{Role: t.Role, TriggerKey: t.Key, Timing: t.Timing, SiteID: e.SiteID().String(), EntityID: entity.String(),
				Payload: t.payload(f), Since: since}
			if r.occurrence != nil {
				l.Occurrence = r.occurrence(x)
			}
			if t.Timing == Scheduled {
				l.ScheduledAt = s.Start()
			}
			out = append(out, l)
		}
	}
	return out
}
