// Package enrollment is the many-to-many link between a participant and a
// class. Each enrollment has its own generated ID, new every time, and that
// ID is the externalEntityId of the participant's Wix events for the class:
// canceling it cancels exactly this participant's events for this class and
// nothing else (not by participant ID, which would touch their other
// classes; not by class ID, which would touch the other participants).
package enrollment

import (
	"fmt"
	"slices"
	"time"

	"github.com/bookable/lifecycle/domain"
	"github.com/bookable/lifecycle/domain/class"
)

// State is the lifecycle state of an enrollment. It is a closed set.
type State struct{ name string }

// The states of an enrollment. Enrolled and waitlisted are the active ones.
var (
	StateEnrolled      = State{"enrolled"}
	StateWaitlisted    = State{"waitlisted"}
	StateLeft          = State{"left"}
	StateClassCanceled = State{"class_canceled"}
	StateAttended      = State{"attended"}
)

// activeStates are the states of an active enrollment: see ActiveStates.
var activeStates = []State{StateEnrolled, StateWaitlisted}

// String returns the state's stored and wire name.
func (s State) String() string { return s.name }

// Active reports whether the state holds a seat or a waitlist place: it is
// one of ActiveStates.
func (s State) Active() bool { return slices.Contains(activeStates, s) }

// ActiveStates returns the states of an active enrollment (one that holds a
// seat or a waitlist place), enrolled first. It is the one definition of an
// active enrollment: stores build their queries and check their indexes
// from it. At most one active enrollment per participant and class.
func ActiveStates() []State { return slices.Clone(activeStates) }

// ParseState reads a state from its name.
func ParseState(name string) (State, error) { return table.Parse(name) }

const (
	eventLeave           = "leave"
	eventPromote         = "promote"
	eventClassReschedule = "class_reschedule"
	eventClassCancel     = "class_cancel"
	eventClassComplete   = "class_complete"
)

// table is the enrollment's states and transitions; it also renders the
// state diagram in docs/. An enrollment is born enrolled or waitlisted.
// When a class completes, attendees become attended and whoever still waits
// leaves the waitlist.
var table = domain.MustTable("enrollment",
	[]State{StateEnrolled, StateWaitlisted, StateLeft, StateClassCanceled, StateAttended},
	[]domain.Transition[State]{
		{Event: eventPromote, From: []State{StateWaitlisted}, To: StateEnrolled},
		{Event: eventLeave, From: []State{StateEnrolled, StateWaitlisted}, To: StateLeft},
		{Event: eventClassReschedule, From: []State{StateEnrolled}, To: StateEnrolled},
		{Event: eventClassCancel, From: []State{StateEnrolled, StateWaitlisted}, To: StateClassCanceled},
		{Event: eventClassComplete, From: []State{StateEnrolled}, To: StateAttended},
		{Event: eventClassComplete, From: []State{StateWaitlisted}, To: StateLeft},
	})

// Transitions returns a copy of the enrollment's transition table.
func Transitions() []domain.Transition[State] { return table.Transitions() }

// Diagram returns the transition table as a Mermaid state diagram.
func Diagram() string { return table.Mermaid(StateEnrolled) }

// root is the embedded domain.Root: State, Version, SetVersion and Events.
type root = domain.Root[State]

// Enrollment is one participant's place in one class.
type Enrollment struct {
	root
	machine                    *domain.Machine[State]
	id, classID, participantID domain.ID
	siteID                     domain.SiteID
	position                   int64
	enrolledAt                 time.Time
	seatedAt, endedAt          time.Time
	classMovedAt               time.Time
}

// New is what Enroll needs.
type New struct {
	ID            domain.ID // a fresh ID: the externalEntityId at Wix
	SiteID        domain.SiteID
	ParticipantID domain.ID // the Wix contact who attends
}

// Enroll admits a participant to cls at time at. active is the participant's
// current active enrollment in the class, or nil: when present, Enroll
// refuses with *domain.AlreadyEnrolledError. The class refuses when it is not
// open or full (see class.Class.Admit). It records Enrolled, or Waitlisted
// when the participant only got a waitlist place.
func Enroll(cls *class.Class, n New, active *Enrollment, at time.Time) (*Enrollment, error) {
	if err := domain.First(n.SiteID.Require(), n.ID.Require("id"), n.ParticipantID.Require("participantId")); err != nil {
		return nil, err
	}
	site, id, participant := n.SiteID, n.ID, n.ParticipantID
	if cls.SiteID() != site {
		return nil, domain.Invalid("classId", "belongs to another site")
	}
	if active != nil && active.State().Active() {
		return nil, &domain.AlreadyEnrolledError{ClassID: cls.ID().String(), ParticipantID: participant.String(), EnrollmentID: active.id.String()}
	}
	adm, err := cls.Admit(at)
	if err != nil {
		return nil, err
	}
	state := StateWaitlisted
	if adm.Seated {
		state = StateEnrolled
	}
	e := &Enrollment{
		id: id, siteID: site, classID: cls.ID(), participantID: participant,
		position: adm.Position, enrolledAt: domain.Instant(at),
	}
	e.drive(table.Start(id, state), 0)
	if adm.Seated {
		e.seatedAt = domain.Instant(at)
		e.machine.Record(Enrolled{Header: e.header(cls, at)})
	} else {
		e.machine.Record(Waitlisted{Header: e.header(cls, at)})
	}
	return e, nil
}

// Leave takes the participant out of the class and gives the seat or
// waitlist place back to cls. It records Left and reports whether a seat
// became free for the oldest waitlisted enrollment (see Promote).
func (e *Enrollment) Leave(cls *class.Class, at time.Time) (seatFreed bool, err error) {
	if err := e.sameClass(cls); err != nil {
		return false, err
	}
	wasSeated := e.State() == StateEnrolled
	if err := e.machine.Check(eventLeave); err != nil {
		return false, err
	}
	freed, err := cls.Release(wasSeated)
	if err != nil {
		return false, err
	}
	if err := e.machine.Fire(eventLeave); err != nil {
		return false, err
	}
	e.endedAt = domain.Instant(at)
	e.machine.Record(Left{Header: e.header(cls, at), WasWaitlisted: !wasSeated})
	return freed, nil
}

// Promote gives a waitlisted participant the seat that cls just freed. It
// records Promoted, which reaches Wix exactly as an enrollment does.
func (e *Enrollment) Promote(cls *class.Class, at time.Time) error {
	if err := e.sameClass(cls); err != nil {
		return err
	}
	if err := e.machine.Check(eventPromote); err != nil {
		return err
	}
	if err := cls.Promote(); err != nil {
		return err
	}
	if err := e.machine.Fire(eventPromote); err != nil {
		return err
	}
	e.seatedAt = domain.Instant(at)
	e.machine.Record(Promoted{Header: e.header(cls, at)})
	return nil
}

// ClassRescheduled tells a seated participant that cls moved from
// previousStart. It records ClassMoved. Waitlisted participants are not told.
func (e *Enrollment) ClassRescheduled(cls *class.Class, previousStart, at time.Time) error {
	if err := e.sameClass(cls); err != nil {
		return err
	}
	if err := e.machine.Fire(eventClassReschedule); err != nil {
		return err
	}
	e.classMovedAt = domain.Instant(at)
	e.machine.Record(ClassMoved{Header: e.header(cls, at), PreviousStart: previousStart.UTC()})
	return nil
}

// ClassCanceled ends an active enrollment because cls was canceled. It
// records ClassCanceled.
func (e *Enrollment) ClassCanceled(cls *class.Class, reason string, at time.Time) error {
	if err := e.sameClass(cls); err != nil {
		return err
	}
	wasWaitlisted := e.State() == StateWaitlisted
	if err := e.machine.Fire(eventClassCancel); err != nil {
		return err
	}
	e.endedAt = domain.Instant(at)
	e.machine.Record(ClassCanceled{Header: e.header(cls, at), Reason: reason, WasWaitlisted: wasWaitlisted})
	return nil
}

// ClassCompleted closes an active enrollment because cls took place: the
// table takes a seated participant to attended (records Attended) and a
// waitlisted one out of the waitlist to left (records WaitlistClosed).
func (e *Enrollment) ClassCompleted(cls *class.Class, at time.Time) error {
	if err := e.sameClass(cls); err != nil {
		return err
	}
	if err := e.machine.Fire(eventClassComplete); err != nil {
		return err
	}
	e.endedAt = domain.Instant(at)
	if e.State() == StateAttended {
		e.machine.Record(Attended{Header: e.header(cls, at)})
	} else {
		e.machine.Record(WaitlistClosed{Header: e.header(cls, at)})
	}
	return nil
}

func (e *Enrollment) sameClass(cls *class.Class) error {
	if cls.ID() != e.classID || cls.SiteID() != e.siteID {
		return domain.Invalid("classId", fmt.Sprintf("enrollment %s is not in class %s", e.id, cls.ID()))
	}
	return nil
}

func (e *Enrollment) header(cls *class.Class, at time.Time) Header {
	return Header{
		EnrollmentID: e.id, SiteID: e.siteID, ParticipantID: e.participantID,
		Class: cls.Info(), At: at.UTC(),
	}
}

// drive gives the enrollment its machine and the root that reads it.
func (e *Enrollment) drive(m *domain.Machine[State], version int64) {
	e.machine, e.root = m, domain.NewRoot(m, version)
}

// ID returns the enrollment ID, also its externalEntityId at Wix.
func (e *Enrollment) ID() domain.ID { return e.id }

// SiteID returns the site.
func (e *Enrollment) SiteID() domain.SiteID { return e.siteID }

// ClassID returns the class.
func (e *Enrollment) ClassID() domain.ID { return e.classID }

// ParticipantID returns the participant (a Wix contact ID).
func (e *Enrollment) ParticipantID() domain.ID { return e.participantID }

// Position returns the order of admission within the class; the lowest
// waitlisted position is promoted first.
func (e *Enrollment) Position() int64 { return e.position }

// EnrolledAt returns when the participant enrolled (or joined the waitlist).
func (e *Enrollment) EnrolledAt() time.Time { return e.enrolledAt }

// SeatedAt returns when the enrollment got its seat: when it enrolled, if it
// was seated then, or when it was promoted from the waitlist. It is zero if
// it never had a seat, and for an enrollment stored before lifecycle kept it.
func (e *Enrollment) SeatedAt() time.Time { return e.seatedAt }

// EndedAt returns when the enrollment left the active states: it left, its
// class was canceled, it attended, or its waitlist closed. It is zero while
// the enrollment is active, and for one stored before lifecycle kept it.
func (e *Enrollment) EndedAt() time.Time { return e.endedAt }

// ClassMovedAt returns when the enrollment's class last moved while it held
// a seat (ClassRescheduled), or zero if it never did: the participant was
// told of that move.
func (e *Enrollment) ClassMovedAt() time.Time { return e.classMovedAt }

// Snapshot is the stored form of an enrollment, for store adapters. A zero
// time is unset.
type Snapshot struct {
	ID, SiteID, ClassID, ParticipantID string
	Position                           int64
	EnrolledAt                         time.Time
	SeatedAt, EndedAt                  time.Time
	ClassMovedAt                       time.Time
	State                              string
	Version                            int64
}

// Active reports whether the stored enrollment is active (its state is one
// of ActiveStates), for store adapters that filter snapshots.
func (s Snapshot) Active() bool {
	state, err := ParseState(s.State)
	return err == nil && state.Active()
}

// Snapshot returns the enrollment's stored form.
func (e *Enrollment) Snapshot() Snapshot {
	return Snapshot{
		ID: e.id.String(), SiteID: e.siteID.String(), ClassID: e.classID.String(), ParticipantID: e.participantID.String(),
		Position: e.position, EnrolledAt: e.enrolledAt, SeatedAt: e.seatedAt, EndedAt: e.endedAt,
		ClassMovedAt: e.classMovedAt, State: e.State().String(), Version: e.Version(),
	}
}

// Restore rebuilds an enrollment from its stored form. It is the door for
// store adapters only, never a constructor. Zero times are accepted: rows
// stored before lifecycle kept them have none.
func Restore(s Snapshot) (*Enrollment, error) {
	m, id, site, err := table.Restore(s.ID, s.SiteID, s.State)
	if err != nil {
		return nil, err
	}
	classID, err := domain.ParseID("classId", s.ClassID)
	if err != nil {
		return nil, err
	}
	participant, err := domain.ParseID("participantId", s.ParticipantID)
	if err != nil {
		return nil, err
	}
	e := &Enrollment{
		id: id, siteID: site, classID: classID, participantID: participant,
		position: s.Position, enrolledAt: s.EnrolledAt.UTC(),
		seatedAt: s.SeatedAt.UTC(), endedAt: s.EndedAt.UTC(), classMovedAt: s.ClassMovedAt.UTC(),
	}
	e.drive(m, s.Version)
	return e, nil
}
