package domain

import (
	"errors"
	"fmt"
)

// Sentinel errors that every typed domain error unwraps to, so callers can
// classify an error with errors.Is without knowing its concrete type.
var (
	// ErrInvalid marks input that breaks a validation rule.
	ErrInvalid = errors.New("invalid argument")
	// ErrTransitionNotAllowed marks a command that the aggregate's current
	// state does not permit.
	ErrTransitionNotAllowed = errors.New("transition not allowed")
	// ErrClassFull marks an enrollment refused because every seat is taken
	// and the class has no waitlist.
	ErrClassFull = errors.New("class full")
	// ErrAlreadyEnrolled marks an enrollment refused because the participant
	// already holds an active (enrolled or waitlisted) enrollment in the class.
	ErrAlreadyEnrolled = errors.New("already enrolled")
	// ErrClassNotOpen marks an enrollment refused because the class is
	// canceled, completed or has already started.
	ErrClassNotOpen = errors.New("class not open for enrollment")
)

// ValidationError reports one field whose value breaks a rule. It unwraps to
// ErrInvalid.
type ValidationError struct {
	Field  string // the input field, as a caller names it (e.g. "startsAt")
	Reason string // what is wrong, in words fit for an API response
}

// Error implements error.
func (e *ValidationError) Error() string {
	return fmt.Sprintf("invalid %s: %s", e.Field, e.Reason)
}

// Unwrap lets errors.Is(err, ErrInvalid) match.
func (e *ValidationError) Unwrap() error { return ErrInvalid }

// Invalid returns a *ValidationError for field.
func Invalid(field, reason string) error {
	return &ValidationError{Field: field, Reason: reason}
}

// TransitionNotAllowedError reports an event that the aggregate's state
// machine refuses in its current state. It unwraps to ErrTransitionNotAllowed.
type TransitionNotAllowedError struct {
	Aggregate string // "appointment", "class" or "enrollment"
	ID        string
	State     string // the current state
	Event     string // the refused event, e.g. "cancel"
}

// Error implements error.
func (e *TransitionNotAllowedError) Error() string {
	return fmt.Sprintf("%s %s: cannot %s when %s", e.Aggregate, e.ID, e.Event, e.State)
}

// Unwrap lets errors.Is(err, ErrTransitionNotAllowed) match.
func (e *TransitionNotAllowedError) Unwrap() error { return ErrTransitionNotAllowed }

// ClassFullError reports that a class without waitlist has no free seat.
// It unwraps to ErrClassFull.
type ClassFullError struct {
	ClassID  string
	Capacity int
}

// Error implements error.
func (e *ClassFullError) Error() string {
	return fmt.Sprintf("class %s is full (capacity %d)", e.ClassID, e.Capacity)
}

// Unwrap lets errors.Is(err, ErrClassFull) match.
func (e *ClassFullError) Unwrap() error { return ErrClassFull }

// AlreadyEnrolledError reports that a participant already holds an active
// enrollment in a class (or a course). It unwraps to ErrAlreadyEnrolled.
type AlreadyEnrolledError struct {
	ClassID       string
	ParticipantID string
	EnrollmentID  string // the active enrollment
	CourseID      string // set instead of ClassID for an enrollment in a course
}

// Error implements error.
func (e *AlreadyEnrolledError) Error() string {
	if e.CourseID != "" {
		return fmt.Sprintf("participant %s already holds enrollment %s in course %s", e.ParticipantID, e.EnrollmentID, e.CourseID)
	}
	return fmt.Sprintf("participant %s already holds enrollment %s in class %s", e.ParticipantID, e.EnrollmentID, e.ClassID)
}

// Unwrap lets errors.Is(err, ErrAlreadyEnrolled) match.
func (e *AlreadyEnrolledError) Unwrap() error { return ErrAlreadyEnrolled }

// ClassNotOpenError reports that a class does not take enrollments: it is
// canceled or completed, or its start has passed. It unwraps to ErrClassNotOpen.
type ClassNotOpenError struct {
	ClassID string
	State   string
	Started bool
}

// Error implements error.
func (e *ClassNotOpenError) Error() string {
	if e.Started {
		return fmt.Sprintf("class %s has already started", e.ClassID)
	}
	return fmt.Sprintf("class %s is %s", e.ClassID, e.State)
}

// Unwrap lets errors.Is(err, ErrClassNotOpen) match.
func (e *ClassNotOpenError) Unwrap() error { return ErrClassNotOpen }

// CourseFullError reports that a course has no free seat. It unwraps to
// ErrClassFull: a full course is refused as a full class is.
type CourseFullError struct {
	CourseID string
	Capacity int
}

// Error implements error.
func (e *CourseFullError) Error() string {
	return fmt.Sprintf("course %s is full (capacity %d)", e.CourseID, e.Capacity)
}

// Unwrap lets errors.Is(err, ErrClassFull) match.
func (e *CourseFullError) Unwrap() error { return ErrClassFull }

// CourseNotOpenError reports that a course takes no enrollment because one
// of its sessions has started. It unwraps to ErrClassNotOpen.
type CourseNotOpenError struct {
	CourseID string
}

// Error implements error.
func (e *CourseNotOpenError) Error() string {
	return fmt.Sprintf("course %s has already started", e.CourseID)
}

// Unwrap lets errors.Is(err, ErrClassNotOpen) match.
func (e *CourseNotOpenError) Unwrap() error { return ErrClassNotOpen }
