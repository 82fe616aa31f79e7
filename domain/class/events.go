package class

import (
	"time"

	"github.com/bookable/lifecycle/domain"
)

// Header is what every class event carries.
type Header struct {
	ClassID    domain.ID
	SiteID     domain.SiteID
	Title      string
	Start, End time.Time
	At         time.Time
}

// OccurredAt returns when the event happened.
func (h Header) OccurredAt() time.Time { return h.At }

// Scheduled is recorded when a class is created.
type Scheduled struct{ Header }

// Rescheduled is recorded when a class moves; the header holds the new times.
type Rescheduled struct {
	Header
	PreviousStart time.Time
}

// Canceled is recorded when a class is canceled.
type Canceled struct {
	Header
	Reason string
}

// Completed is recorded when a class took place.
type Completed struct{ Header }

// EventName implements domain.Event.
func (Scheduled) EventName() string { return "class:scheduled" }

// EventName implements domain.Event.
func (Rescheduled) EventName() string { return "class:rescheduled" }

// EventName implements domain.Event.
func (Canceled) EventName() string { return "class:canceled" }

// EventName implements domain.Event.
func (Completed) EventName() string { return "class:completed" }
