package appointment

import (
	"time"

	"github.com/bookable/lifecycle/domain"
)

// Header is what every appointment event carries: the appointment as it is
// after the event, and when the event happened.
type Header struct {
	AppointmentID, ContactID domain.ID
	SiteID                   domain.SiteID
	Title                    string
	Start, End               time.Time
	At                       time.Time
}

// OccurredAt returns when the event happened.
func (h Header) OccurredAt() time.Time { return h.At }

// Scheduled is recorded when an appointment is booked.
type Scheduled struct{ Header }

// Rescheduled is recorded when an appointment moves; Start and End in the
// header are the new times.
type Rescheduled struct {
	Header
	PreviousStart, PreviousEnd time.Time
}

// Renamed is recorded when an appointment gets a new title.
type Renamed struct {
	Header
	PreviousTitle string
}

// Canceled is recorded when an appointment is canceled.
type Canceled struct {
	Header
	Reason string
}

// Completed is recorded when an appointment took place.
type Completed struct{ Header }

// MarkedNoShow is recorded when the contact did not come.
type MarkedNoShow struct{ Header }

// EventName implements domain.Event.
func (Scheduled) EventName() string { return "appointment:scheduled" }

// EventName implements domain.Event.
func (Rescheduled) EventName() string { return "appointment:rescheduled" }

// EventName implements domain.Event.
func (Canceled) EventName() string { return "appointment:canceled" }

// EventName implements domain.Event.
func (Completed) EventName() string { return "appointment:completed" }

// EventName implements domain.Event.
func (MarkedNoShow) EventName() string { return "appointment:no_show" }

// EventName implements domain.Event.
func (Renamed) EventName() string { return "appointment:renamed" }
