package enrollment

import (
	"time"

	"github.com/bookable/lifecycle/domain"
	"github.com/bookable/lifecycle/domain/class"
)

// Header is what every enrollment event carries: who, which class (as it is
// after the event) and when.
type Header struct {
	EnrollmentID, ParticipantID domain.ID
	SiteID                      domain.SiteID
	Class                       class.Info
	At                          time.Time
}

// OccurredAt returns when the event happened.
func (h Header) OccurredAt() time.Time { return h.At }

// Enrolled is recorded when a participant takes a seat.
type Enrolled struct{ Header }

// Waitlisted is recorded when a participant of a full class joins its waitlist.
type Waitlisted struct{ Header }

// Promoted is recorded when a waitlisted participant gets a freed seat.
type Promoted struct{ Header }

// Left is recorded when a participant leaves a class or its waitlist.
type Left struct {
	Header
	WasWaitlisted bool
}

// ClassMoved is recorded on each seated enrollment when its class is rescheduled.
type ClassMoved struct {
	Header
	PreviousStart time.Time
}

// ClassCanceled is recorded on each active enrollment when its class is canceled.
type ClassCanceled struct {
	Header
	Reason        string
	WasWaitlisted bool
}

// Attended is recorded on each seated enrollment when its class completes.
type Attended struct{ Header }

// WaitlistClosed is recorded on each waitlisted enrollment when its class completes.
type WaitlistClosed struct{ Header }

// EventName implements domain.Event.
func (Enrolled) EventName() string { return "enrollment:enrolled" }

// EventName implements domain.Event.
func (Waitlisted) EventName() string { return "enrollment:waitlisted" }

// EventName implements domain.Event.
func (Promoted) EventName() string { return "enrollment:promoted" }

// EventName implements domain.Event.
func (Left) EventName() string { return "enrollment:left" }

// EventName implements domain.Event.
func (ClassMoved) EventName() string { return "enrollment:class_rescheduled" }

// EventName implements domain.Event.
func (ClassCanceled) EventName() string { return "enrollment:class_canceled" }

// EventName implements domain.Event.
func (Attended) EventName() string { return "enrollment:attended" }

// EventName implements domain.Event.
func (WaitlistClosed) EventName() string { return "enrollment:waitlist_closed" }
