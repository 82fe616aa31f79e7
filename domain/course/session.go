package course

import (
	"time"

	"github.com/bookable/lifecycle/domain"
)

// SessionState is the lifecycle state of one session of a course. It is a
// closed set.
type SessionState struct{ name string }

// The states of a session.
var (
	SessionStateScheduled = SessionState{"scheduled"}
	SessionStateCanceled  = SessionState{"canceled"}
)

// String returns the state's stored and wire name.
func (s SessionState) String() string { return s.name }

// ParseSessionState reads a session state from its name.
func ParseSessionState(name string) (SessionState, error) { return sessionTable.Parse(name) }

const (
	sessionEventReschedule = "reschedule"
	sessionEventCancel     = "cancel"
)

// sessionTable is a session's states and transitions; it also renders the
// state diagram in docs/. A session is added scheduled, and is rescheduled or
// canceled one by one; the course decides everything else (see table).
var sessionTable = domain.MustTable("session",
	[]SessionState{SessionStateScheduled, SessionStateCanceled},
	[]domain.Transition[SessionState]{
		{Event: sessionEventReschedule, From: []SessionState{SessionStateScheduled}, To: SessionStateScheduled},
		{Event: sessionEventCancel, From: []SessionState{SessionStateScheduled}, To: SessionStateCanceled},
	})

// SessionTransitions returns a copy of a session's transition table.
func SessionTransitions() []domain.Transition[SessionState] { return sessionTable.Transitions() }

// SessionDiagram returns a session's transition table as a Mermaid state
// diagram.
func SessionDiagram() string { return sessionTable.Mermaid(SessionStateScheduled) }

// Session is one meeting of a course. It belongs to its course: only the
// course changes it, and callers read it.
type Session struct {
	machine       *domain.Machine[SessionState]
	id            domain.ID
	number        int
	start, end    time.Time
	addedAt       time.Time
	previousStart time.Time
	rescheduledAt time.Time
	canceledAt    time.Time
	cancelReason  string
}

// ID returns the session's ID.
func (s *Session) ID() domain.ID { return s.id }

// Number returns the session's number in its course: 1 for the first added,
// then 2, 3 ... in order of addition, never reused. With the enrollment it
// names a participant's place in the session at Wix (see
// courseenrollment.SessionEntityID).
func (s *Session) Number() int { return s.number }

// State returns the session's state.
func (s *Session) State() SessionState { return s.machine.State() }

// Start returns the start, in UTC.
func (s *Session) Start() time.Time { return s.start }

// End returns the end, in UTC.
func (s *Session) End() time.Time { return s.end }

// AddedAt returns when the session was added to its course.
func (s *Session) AddedAt() time.Time { return s.addedAt }

// PreviousStart returns the start before the last reschedule; zero if never.
func (s *Session) PreviousStart() time.Time { return s.previousStart }

// RescheduledAt returns when the session was last rescheduled; zero if never.
func (s *Session) RescheduledAt() time.Time { return s.rescheduledAt }

// CanceledAt returns when the session was canceled; zero if it was not.
func (s *Session) CanceledAt() time.Time { return s.canceledAt }

// CancelReason returns the reason given when the session was canceled.
func (s *Session) CancelReason() string { return s.cancelReason }

// Info is what events say about a session.
func (s *Session) Info() SessionInfo {
	return SessionInfo{SessionID: s.id, Number: s.number, Start: s.start, End: s.end}
}

// SessionInfo is the view of a session that events carry.
type SessionInfo struct {
	SessionID  domain.ID
	Number     int
	Start, End time.Time
}

// SessionSnapshot is the stored form of a session, inside its course's.
type SessionSnapshot struct {
	ID            string
	Number        int
	Start, End    time.Time
	State         string
	AddedAt       time.Time
	PreviousStart time.Time
	RescheduledAt time.Time
	CanceledAt    time.Time
	CancelReason  string
}

func (s *Session) snapshot() SessionSnapshot {
	return SessionSnapshot{
		ID: s.id.String(), Number: s.number, Start: s.start, End: s.end, State: s.State().String(),
		AddedAt: s.addedAt, PreviousStart: s.previousStart, RescheduledAt: s.rescheduledAt,
		CanceledAt: s.canceledAt, CancelReason: s.cancelReason,
	}
}

func restoreSession(s SessionSnapshot) (*Session, error) {
	state, err := sessionTable.Parse(s.State)
	if err != nil {
		return nil, err
	}
	id, err := domain.ParseID("sessions.id", s.ID)
	if err != nil {
		return nil, err
	}
	if s.Number < 1 {
		return nil, domain.Invalid("sessions.number", "must be at least 1")
	}
	return &Session{
		machine: sessionTable.Start(id, state), id: id, number: s.Number,
		start: s.Start.UTC(), end: s.End.UTC(), addedAt: s.AddedAt.UTC(),
		previousStart: s.PreviousStart.UTC(), rescheduledAt: s.RescheduledAt.UTC(),
		canceledAt: s.CanceledAt.UTC(), cancelReason: s.CancelReason,
	}, nil
}
