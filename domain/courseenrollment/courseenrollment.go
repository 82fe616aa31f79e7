// Package courseenrollment is the many-to-many link between a participant
// and a course. Each enrollment has its own generated ID, new every time:
// the externalEntityId of what the participant hears about the course as a
// whole (enrolled, left, course canceled). Each session's reminder has an ID
// of its own, derived from the enrollment and the session (SessionEntityID),
// so that the seed's many-to-many rule holds one level down: canceling one
// session cancels that session's reminders for every participant and no
// other, and leaving the course cancels this participant's and nobody else's.
package courseenrollment

import (
	"fmt"
	"slices"
	"time"

	"github.com/bookable/lifecycle/domain"
	"github.com/bookable/lifecycle/domain/course"
)

// State is the lifecycle state of a course enrollment. It is a closed set.
type State struct{ name string }

// The states of a course enrollment. Enrolled is the only active one.
var (
	StateEnrolled       = State{"enrolled"}
	StateLeft           = State{"left"}
	StateCourseCanceled = State{"course_canceled"}
	StateCompleted      = State{"completed"}
)

// activeStates are the states of an active enrollment: see ActiveStates.
var activeStates = []State{StateEnrolled}

// String returns the state's stored and wire name.
func (s State) String() string { return s.name }

// Active reports whether the state holds a seat: it is one of ActiveStates.
func (s State) Active() bool { return slices.Contains(activeStates, s) }

// ActiveStates returns the states of an active enrollment (one that holds a
// seat). It is the one definition of an active course enrollment: stores
// build their queries and check their indexes from it. At most one active
// enrollment per participant and course.
func ActiveStates() []State { return slices.Clone(activeStates) }

// ParseState reads a state from its name.
func ParseState(name string) (State, error) { return table.Parse(name) }

const (
	eventLeave          = "leave"
	eventCourseCancel   = "course_cancel"
	eventCourseComplete = "course_complete"
)

// table is the course enrollment's states and transitions; it also renders
// the state diagram in docs/. Sessions added, moved or canceled do not
// change an enrollment: what they mean for the participant is read from the
// course (see application.DesiredCourseEnrollment).
var table = domain.MustTable("course enrollment",
	[]State{StateEnrolled, StateLeft, StateCourseCanceled, StateCompleted},
	[]domain.Transition[State]{
		{Event: eventLeave, From: []State{StateEnrolled}, To: StateLeft},
		{Event: eventCourseCancel, From: []State{StateEnrolled}, To: StateCourseCanceled},
		{Event: eventCourseComplete, From: []State{StateEnrolled}, To: StateCompleted},
	})

// Transitions returns a copy of the course enrollment's transition table.
func Transitions() []domain.Transition[State] { return table.Transitions() }

// Diagram returns the transition table as a Mermaid state diagram.
func Diagram() string { return table.Mermaid(StateEnrolled) }

// root is the embedded domain.Root: State, Version, SetVersion and Events.
type root = domain.Root[State]

// Enrollment is one participant's seat in one course.
type Enrollment struct {
	root
	machine                     *domain.Machine[State]
	id, courseID, participantID domain.ID
	siteID                      domain.SiteID
	position                    int64
	enrolledAt, endedAt         time.Time
}

// New is what Enroll needs.
type New struct {
	ID            domain.ID // a fresh ID: the externalEntityId at Wix
	SiteID        domain.SiteID
	ParticipantID domain.ID // the Wix contact who attends
}

// Enroll admits a participant to c at time at. active is the participant's
// current active enrollment in the course, or nil: when present, Enroll
// refuses with *domain.AlreadyEnrolledError. The course refuses when it is
// not open or full (see course.Course.Admit). It records Enrolled.
func Enroll(c *course.Course, n New, active *Enrollment, at time.Time) (*Enrollment, error) {
	if err := domain.First(n.SiteID.Require(), n.ID.Require("id"), n.ParticipantID.Require("participantId")); err != nil {
		return nil, err
	}
	site, id, participant := n.SiteID, n.ID, n.ParticipantID
	if c.SiteID() != site {
		return nil, domain.Invalid("courseId", "belongs to another site")
	}
	if active != nil && active.State().Active() {
		return nil, &domain.AlreadyEnrolledError{CourseID: c.ID().String(), ParticipantID: participant.String(), EnrollmentID: active.id.String()}
	}
	position, err := c.Admit(at)
	if err != nil {
		return nil, err
	}
	e := &Enrollment{id: id, siteID: site, courseID: c.ID(), participantID: participant,
		position: position, enrolledAt: domain.Instant(at)}
	e.drive(table.Start(id, StateEnrolled), 0)
	e.machine.Record(Enrolled{e.header(c, at)})
	return e, nil
}

// Leave takes the participant out of the course and gives the seat back to
// c. It records Left.
func (e *Enrollment) Leave(c *course.Course, at time.Time) error {
	if err := e.sameCourse(c); err != nil {
		return err
	}
	if err := e.machine.Check(eventLeave); err != nil {
		return err
	}
	if err := c.Release(); err != nil {
		return err
	}
	if err := e.machine.Fire(eventLeave); err != nil {
		return err
	}
	e.endedAt = domain.Instant(at)
	e.machine.Record(Left{e.header(c, at)})
	return nil
}

// CourseCanceled ends an active enrollment because c was canceled. It
// records CourseCanceled.
func (e *Enrollment) CourseCanceled(c *course.Course, reason string, at time.Time) error {
	if err := e.sameCourse(c); err != nil {
		return err
	}
	if err := e.machine.Fire(eventCourseCancel); err != nil {
		return err
	}
	e.endedAt = domain.Instant(at)
	e.machine.Record(CourseCanceled{Header: e.header(c, at), Reason: reason})
	return nil
}

// CourseCompleted closes an active enrollment because c took place. It
// records Completed.
func (e *Enrollment) CourseCompleted(c *course.Course, at time.Time) error {
	if err := e.sameCourse(c); err != nil {
		return err
	}
	if err := e.machine.Fire(eventCourseComplete); err != nil {
		return err
	}
	e.endedAt = domain.Instant(at)
	e.machine.Record(Completed{e.header(c, at)})
	return nil
}

func (e *Enrollment) sameCourse(c *course.Course) error {
	if c.ID() != e.courseID || c.SiteID() != e.siteID {
		return domain.Invalid("courseId", fmt.Sprintf("enrollment %s is not in course %s", e.id, c.ID()))
	}
	return nil
}

func (e *Enrollment) header(c *course.Course, at time.Time) Header {
	return Header{EnrollmentID: e.id, SiteID: e.siteID, ParticipantID: e.participantID, Course: c.Info(), At: at.UTC()}
}

// drive gives the enrollment its machine and the root that reads it.
func (e *Enrollment) drive(m *domain.Machine[State], version int64) {
	e.machine, e.root = m, domain.NewRoot(m, version)
}

// ID returns the enrollment ID, also the externalEntityId of its
// course-wide events at Wix.
func (e *Enrollment) ID() domain.ID { return e.id }

// SiteID returns the site.
func (e *Enrollment) SiteID() domain.SiteID { return e.siteID }

// CourseID returns the course.
func (e *Enrollment) CourseID() domain.ID { return e.courseID }

// ParticipantID returns the participant (a Wix contact ID).
func (e *Enrollment) ParticipantID() domain.ID { return e.participantID }

// Position returns the order of admission within the course.
func (e *Enrollment) Position() int64 { return e.position }

// EnrolledAt returns when the participant enrolled.
func (e *Enrollment) EnrolledAt() time.Time { return e.enrolledAt }

// EndedAt returns when the enrollment stopped being active (left, course
// canceled or completed); zero while it is active.
func (e *Enrollment) EndedAt() time.Time { return e.endedAt }

// Held reports whether the participant held the seat when s started: the
// session took place, or would have, while they were enrolled. A session's
// reminder stays live for a participant who left or whose course was
// canceled after it started (automations after it still run); for the
// sessions after, it ends with the seat.
func (e *Enrollment) Held(s *course.Session) bool {
	if e.State().Active() || e.State() == StateCompleted {
		return true
	}
	return !e.endedAt.IsZero() && s.Start().Before(e.endedAt)
}

// Snapshot is the stored form of a course enrollment, for store adapters. A
// zero time is unset.
type Snapshot struct {
	ID, SiteID, CourseID, ParticipantID string
	// LookupKey is what the enrollment's session entity IDs begin with
	// (LookupKey): stores index it so that a session entity ID finds its
	// enrollment. Snapshot fills it in; Restore ignores it.
	LookupKey           string
	Position            int64
	EnrolledAt, EndedAt time.Time
	State               string
	Version             int64
}

// Active reports whether the stored enrollment is active, for store adapters
// that filter snapshots.
func (s Snapshot) Active() bool {
	state, err := ParseState(s.State)
	return err == nil && state.Active()
}

// Snapshot returns the enrollment's stored form.
func (e *Enrollment) Snapshot() Snapshot {
	return Snapshot{
		ID: e.id.String(), SiteID: e.siteID.String(), CourseID: e.courseID.String(), ParticipantID: e.participantID.String(),
		LookupKey: LookupKey(e.id), Position: e.position, EnrolledAt: e.enrolledAt, EndedAt: e.endedAt,
		State: e.State().String(), Version: e.Version(),
	}
}

// Restore rebuilds an enrollment from its stored form. It is the door for
// store adapters only, never a constructor.
func Restore(s Snapshot) (*Enrollment, error) {
	m, id, site, err := table.Restore(s.ID, s.SiteID, s.State)
	if err != nil {
		return nil, err
	}
	courseID, err := domain.ParseID("courseId", s.CourseID)
	if err != nil {
		return nil, err
	}
	participant, err := domain.ParseID("participantId", s.ParticipantID)
	if err != nil {
		return nil, err
	}
	e := &Enrollment{
		id: id, siteID: site, courseID: courseID, participantID: participant,
		position: s.Position, enrolledAt: s.EnrolledAt.UTC(), endedAt: s.EndedAt.UTC(),
	}
	e.drive(m, s.Version)
	return e, nil
}
