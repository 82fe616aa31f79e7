package course

import (
	"time"

	"github.com/bookable/lifecycle/domain"
)

// Header is what every course event carries.
type Header struct {
	CourseID domain.ID
	SiteID   domain.SiteID
	Title    string
	At       time.Time
}

// OccurredAt returns when the event happened.
func (h Header) OccurredAt() time.Time { return h.At }

// Scheduled is recorded when a course is created, with its first sessions.
type Scheduled struct {
	Header
	Sessions []SessionInfo
}

// SessionAdded is recorded when a session is added to a course.
type SessionAdded struct {
	Header
	Session SessionInfo
}

// SessionRescheduled is recorded when a session moves; Session holds the new
// times.
type SessionRescheduled struct {
	Header
	Session       SessionInfo
	PreviousStart time.Time
}

// SessionCanceled is recorded when one session is canceled.
type SessionCanceled struct {
	Header
	Session SessionInfo
	Reason  string
}

// Canceled is recorded when a course is canceled as a whole.
type Canceled struct {
	Header
	Reason string
}

// Completed is recorded when a course took place.
type Completed struct{ Header }

// EventName implements domain.Event.
func (Scheduled) EventName() string { return "course:scheduled" }

// EventName implements domain.Event.
func (SessionAdded) EventName() string { return "course:session_added" }

// EventName implements domain.Event.
func (SessionRescheduled) EventName() string { return "course:session_rescheduled" }

// EventName implements domain.Event.
func (SessionCanceled) EventName() string { return "course:session_canceled" }

// EventName implements domain.Event.
func (Canceled) EventName() string { return "course:canceled" }

// EventName implements domain.Event.
func (Completed) EventName() string { return "course:completed" }
