// Package course is a course: sessions that the same participants attend,
// booked as one unit. Sessions are added, rescheduled and canceled one by
// one; the course is canceled or completed as a whole. The course owns its
// seats, as a class does: every enrollment takes its seat through the
// course, so the course's version is where concurrent enrollments and
// session changes meet.
//
// A course has no Wix events of its own. What participants hear travels on
// their enrollments (package courseenrollment): the enrollment's ID for what
// concerns the course, and an ID derived from the enrollment and a session's
// number for each session's reminder, so that canceling one session cancels
// exactly that session's reminders and nobody else's.
package course

import (
	"fmt"
	"slices"
	"time"

	"github.com/bookable/lifecycle/domain"
)

// State is the lifecycle state of a course. It is a closed set.
type State struct{ name string }

// The states of a course.
var (
	StateScheduled = State{"scheduled"}
	StateCanceled  = State{"canceled"}
	StateCompleted = State{"completed"}
)

// String returns the state's stored and wire name.
func (s State) String() string { return s.name }

// ParseState reads a state from its name.
func ParseState(name string) (State, error) { return table.Parse(name) }

const (
	eventAddSession        = "add_session"
	eventRescheduleSession = "reschedule_session"
	eventCancelSession     = "cancel_session"
	eventAdmit             = "admit"
	eventRelease           = "release"
	eventCancel            = "cancel"
	eventComplete          = "complete"
)

// table is the course's states and transitions; it also renders the state
// diagram in docs/. Session changes and seats keep the state; each session
// has its own table (sessionTable) beside it.
var table = domain.MustTable("course",
	[]State{StateScheduled, StateCanceled, StateCompleted},
	[]domain.Transition[State]{
		{Event: eventAddSession, From: []State{StateScheduled}, To: StateScheduled},
		{Event: eventRescheduleSession, From: []State{StateScheduled}, To: StateScheduled},
		{Event: eventCancelSession, From: []State{StateScheduled}, To: StateScheduled},
		{Event: eventAdmit, From: []State{StateScheduled}, To: StateScheduled},
		{Event: eventRelease, From: []State{StateScheduled}, To: StateScheduled},
		{Event: eventCancel, From: []State{StateScheduled}, To: StateCanceled},
		{Event: eventComplete, From: []State{StateScheduled}, To: StateCompleted},
	})

// Transitions returns a copy of the course's transition table.
func Transitions() []domain.Transition[State] { return table.Transitions() }

// Diagram returns the transition table as a Mermaid state diagram.
func Diagram() string { return table.Mermaid(StateScheduled) }

// Limits on input.
const (
	MaxTitleLen  = 200
	MaxReasonLen = 500
	MaxCapacity  = 100000
	// MaxSessions bounds a course's sessions, canceled ones included: every
	// enrolled participant has one Wix reminder per session.
	MaxSessions = 200
)

// root is the embedded domain.Root: State, Version, SetVersion and Events.
type root = domain.Root[State]

// Course is a course on one site: its seats and its sessions.
type Course struct {
	root
	machine      *domain.Machine[State]
	id           domain.ID
	siteID       domain.SiteID
	title        string
	capacity     int
	seated       int
	admissions   int64
	sessions     []*Session // in order of number
	cancelReason string
	scheduledAt  time.Time
	changedAt    time.Time
}

// New is what Schedule needs to create a course.
type New struct {
	ID       domain.ID
	SiteID   domain.SiteID
	Title    string
	Capacity int          // seats, at least 1
	Sessions []NewSession // the sessions known at creation; more can be added
}

// NewSession is a session to add: its ID and times.
type NewSession struct {
	ID         domain.ID
	Start, End time.Time
}

// Schedule creates a course at time at, with its first sessions (which must
// lie in the future). It records Scheduled.
func Schedule(n New, at time.Time) (*Course, error) {
	if err := domain.First(n.SiteID.Require(), n.ID.Require("id"),
		domain.CheckText("title", n.Title, MaxTitleLen)); err != nil {
		return nil, err
	}
	if n.Capacity < 1 {
		return nil, domain.Invalid("capacity", "must be at least 1")
	}
	if n.Capacity > MaxCapacity {
		return nil, domain.Invalid("capacity", fmt.Sprintf("must be at most %d", MaxCapacity))
	}
	c := &Course{id: n.ID, siteID: n.SiteID, title: n.Title, capacity: n.Capacity,
		scheduledAt: domain.Instant(at), changedAt: domain.Instant(at)}
	c.drive(table.Start(n.ID, StateScheduled), 0)
	for _, s := range n.Sessions {
		if _, err := c.add(s, at); err != nil {
			return nil, err
		}
	}
	c.machine.Record(Scheduled{Header: c.header(at), Sessions: c.infos()})
	return c, nil
}

// add validates and appends a new session.
func (c *Course) add(n NewSession, at time.Time) (*Session, error) {
	if err := n.ID.Require("sessionId"); err != nil {
		return nil, err
	}
	id := n.ID
	if c.Session(id) != nil {
		return nil, domain.Invalid("sessionId", fmt.Sprintf("%s is already a session of course %s", id, c.id))
	}
	if len(c.sessions) >= MaxSessions {
		return nil, domain.Invalid("sessions", fmt.Sprintf("a course has at most %d sessions", MaxSessions))
	}
	start, end := domain.Instant(n.Start), domain.Instant(n.End)
	if err := domain.CheckSpan(start, end, at); err != nil {
		return nil, err
	}
	s := &Session{machine: sessionTable.Start(id, SessionStateScheduled), id: id, number: c.nextNumber(),
		start: start, end: end, addedAt: domain.Instant(at)}
	c.sessions = append(c.sessions, s)
	return s, nil
}

func (c *Course) nextNumber() int {
	if len(c.sessions) == 0 {
		return 1
	}
	return c.sessions[len(c.sessions)-1].number + 1
}

// AddSession adds a session to a scheduled course. It records SessionAdded;
// every enrolled participant then has a reminder for it.
func (c *Course) AddSession(n NewSession, at time.Time) (*Session, error) {
	if err := c.machine.Check(eventAddSession); err != nil {
		return nil, err
	}
	s, err := c.add(n, at)
	if err != nil {
		return nil, err
	}
	if err := c.machine.Fire(eventAddSession); err != nil {
		c.sessions = c.sessions[:len(c.sessions)-1]
		return nil, err
	}
	c.changedAt = domain.Instant(at)
	c.machine.Record(SessionAdded{Header: c.header(at), Session: s.Info()})
	return s, nil
}

// changeable returns the session id of a scheduled course that may change
// through event (the course's table) and sessionEvent (the session's), and
// has not started at time at.
func (c *Course) changeable(id domain.ID, event, sessionEvent string, at time.Time) (*Session, error) {
	if err := c.machine.Check(event); err != nil {
		return nil, err
	}
	s := c.Session(id)
	if s == nil {
		return nil, domain.Invalid("sessionId", fmt.Sprintf("%s is not a session of course %s", id, c.id))
	}
	if err := s.machine.Check(sessionEvent); err != nil {
		return nil, err
	}
	if !at.Before(s.start) {
		return nil, domain.Invalid("at", "the session has already started")
	}
	return s, nil
}

// RescheduleSession moves a scheduled session that has not started to a new
// start and end in the future. It records SessionRescheduled.
func (c *Course) RescheduleSession(id domain.ID, start, end, at time.Time) error {
	s, err := c.changeable(id, eventRescheduleSession, sessionEventReschedule, at)
	if err != nil {
		return err
	}
	start, end = domain.Instant(start), domain.Instant(end)
	if err := domain.CheckSpan(start, end, at); err != nil {
		return err
	}
	if err := c.machine.Fire(eventRescheduleSession); err != nil {
		return err
	}
	if err := s.machine.Fire(sessionEventReschedule); err != nil {
		return err
	}
	prev := s.start
	s.start, s.end = start, end
	s.previousStart, s.rescheduledAt, c.changedAt = prev, domain.Instant(at), domain.Instant(at)
	c.machine.Record(SessionRescheduled{Header: c.header(at), Session: s.Info(), PreviousStart: prev})
	return nil
}

// CancelSession cancels one scheduled session that has not started, for
// every participant. It records SessionCanceled.
func (c *Course) CancelSession(id domain.ID, reason string, at time.Time) error {
	s, err := c.changeable(id, eventCancelSession, sessionEventCancel, at)
	if err != nil {
		return err
	}
	if err := domain.CheckText("reason", reason, MaxReasonLen); err != nil {
		return err
	}
	if err := c.machine.Fire(eventCancelSession); err != nil {
		return err
	}
	if err := s.machine.Fire(sessionEventCancel); err != nil {
		return err
	}
	s.canceledAt, s.cancelReason, c.changedAt = domain.Instant(at), reason, domain.Instant(at)
	c.machine.Record(SessionCanceled{Header: c.header(at), Session: s.Info(), Reason: reason})
	return nil
}

// Cancel cancels a scheduled course as a whole. It records Canceled; every
// active enrollment must then be told through
// courseenrollment.Enrollment.CourseCanceled.
func (c *Course) Cancel(reason string, at time.Time) error {
	if err := domain.CheckText("reason", reason, MaxReasonLen); err != nil {
		return err
	}
	if err := c.machine.Fire(eventCancel); err != nil {
		return err
	}
	c.cancelReason, c.changedAt, c.seated = reason, domain.Instant(at), 0
	c.machine.Record(Canceled{Header: c.header(at), Reason: reason})
	return nil
}

// Complete marks a course whose last scheduled session has started as held.
// It records Completed. A course without a scheduled session cannot be
// completed.
func (c *Course) Complete(at time.Time) error {
	if err := c.machine.Check(eventComplete); err != nil {
		return err
	}
	last, ok := c.lastStart()
	switch {
	case !ok:
		return domain.Invalid("sessions", "the course has no scheduled session")
	case at.Before(last):
		return domain.Invalid("at", "the last session has not started yet")
	}
	if err := c.machine.Fire(eventComplete); err != nil {
		return err
	}
	c.changedAt = domain.Instant(at)
	c.machine.Record(Completed{c.header(at)})
	return nil
}

// Admit takes a seat for a new participant and returns its position (the
// order of admission). The table refuses a course that is not scheduled; a
// started course is a *domain.CourseNotOpenError and a full one a
// *domain.CourseFullError.
func (c *Course) Admit(at time.Time) (int64, error) {
	if err := c.machine.Check(eventAdmit); err != nil {
		return 0, err
	}
	if c.Started(at) {
		return 0, &domain.CourseNotOpenError{CourseID: c.id.String()}
	}
	if c.seated >= c.capacity {
		return 0, &domain.CourseFullError{CourseID: c.id.String(), Capacity: c.capacity}
	}
	if err := c.machine.Fire(eventAdmit); err != nil {
		return 0, err
	}
	c.admissions++
	c.seated++
	return c.admissions, nil
}

// Release gives back the seat of a participant who leaves.
func (c *Course) Release() error {
	if err := c.machine.Fire(eventRelease); err != nil {
		return err
	}
	if c.seated > 0 {
		c.seated--
	}
	return nil
}

// Started reports whether a scheduled session of the course has started at
// time at: from then on the course takes no enrollment.
func (c *Course) Started(at time.Time) bool {
	for _, s := range c.sessions {
		if s.State() == SessionStateScheduled && !at.Before(s.start) {
			return true
		}
	}
	return false
}

// IsOpen reports whether the course takes enrollments at time at.
func (c *Course) IsOpen(at time.Time) bool { return c.machine.Can(eventAdmit) && !c.Started(at) }

func (c *Course) lastStart() (time.Time, bool) {
	var last time.Time
	ok := false
	for _, s := range c.sessions {
		if s.State() == SessionStateScheduled && (!ok || s.start.After(last)) {
			last, ok = s.start, true
		}
	}
	return last, ok
}

func (c *Course) header(at time.Time) Header {
	return Header{CourseID: c.id, SiteID: c.siteID, Title: c.title, At: at.UTC()}
}

func (c *Course) infos() []SessionInfo {
	out := make([]SessionInfo, len(c.sessions))
	for i, s := range c.sessions {
		out[i] = s.Info()
	}
	return out
}

// drive gives the course its machine and the root that reads it.
func (c *Course) drive(m *domain.Machine[State], version int64) {
	c.machine, c.root = m, domain.NewRoot(m, version)
}

// ID returns the course ID.
func (c *Course) ID() domain.ID { return c.id }

// SiteID returns the site the course belongs to.
func (c *Course) SiteID() domain.SiteID { return c.siteID }

// Title returns the title.
func (c *Course) Title() string { return c.title }

// Capacity returns the number of seats.
func (c *Course) Capacity() int { return c.capacity }

// Enrolled returns the number of seated participants.
func (c *Course) Enrolled() int { return c.seated }

// CancelReason returns the reason given when the course was canceled.
func (c *Course) CancelReason() string { return c.cancelReason }

// ScheduledAt returns when the course was created.
func (c *Course) ScheduledAt() time.Time { return c.scheduledAt }

// ChangedAt returns the time of the last change of the course or one of its
// sessions (seats are not changes of the course).
func (c *Course) ChangedAt() time.Time { return c.changedAt }

// Sessions returns the sessions, canceled ones included, by number.
func (c *Course) Sessions() []*Session { return slices.Clone(c.sessions) }

// Session returns the session id, or nil.
func (c *Course) Session(id domain.ID) *Session {
	for _, s := range c.sessions {
		if s.id == id {
			return s
		}
	}
	return nil
}

// SessionNumber returns the session numbered n, or nil.
func (c *Course) SessionNumber(n int) *Session {
	for _, s := range c.sessions {
		if s.number == n {
			return s
		}
	}
	return nil
}

// Info is the view of a course that enrollment events carry.
func (c *Course) Info() Info { return Info{CourseID: c.id, Title: c.title} }

// Info is what a participant's events say about their course.
type Info struct {
	CourseID domain.ID
	Title    string
}
