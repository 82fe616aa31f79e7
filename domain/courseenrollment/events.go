package courseenrollment

import (
	"time"

	"github.com/bookable/lifecycle/domain"
	"github.com/bookable/lifecycle/domain/course"
)

// Header is what every course enrollment event carries: who, which course,
// and when.
type Header struct {
	EnrollmentID, ParticipantID domain.ID
	SiteID                      domain.SiteID
	Course                      course.Info
	At                          time.Time
}

// OccurredAt returns when the event happened.
func (h Header) OccurredAt() time.Time { return h.At }

// Enrolled is recorded when a participant takes a seat in a course.
type Enrolled struct{ Header }

// Left is recorded when a participant leaves a course.
type Left struct{ Header }

// CourseCanceled is recorded on each active enrollment when its course is
// canceled.
type CourseCanceled struct {
	Header
	Reason string
}

// Completed is recorded on each active enrollment when its course completes.
type Completed struct{ Header }

// EventName implements domain.Event.
func (Enrolled) EventName() string { return "course_enrollment:enrolled" }

// EventName implements domain.Event.
func (Left) EventName() string { return "course_enrollment:left" }

// EventName implements domain.Event.
func (CourseCanceled) EventName() string { return "course_enrollment:course_canceled" }

// EventName implements domain.Event.
func (Completed) EventName() string { return "course_enrollment:completed" }
