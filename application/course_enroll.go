package application

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bookable/lifecycle/domain"
	"github.com/bookable/lifecycle/domain/courseenrollment"
)

// EnrollInCourse signs a participant up for a course.
type EnrollInCourse struct {
	SiteID                  domain.SiteID
	CourseID, ParticipantID domain.ID
	// EnrollmentID is optional: a caller-chosen UUID makes the command
	// idempotent. Either way a participant who left and enrolls again gets a
	// new enrollment, with a new ID (and new seat IDs).
	EnrollmentID   domain.ID
	IfVersion      *int64 // optional: the course version the caller last read
	IdempotencyKey string // optional; see Idempotency
}

// EnrollInCourseHandler handles EnrollInCourse.
type EnrollInCourseHandler struct{ r *runner }

// Handle takes a seat for the participant and queues report
// participant_enrolled_in_course (by the new enrollment's ID) and, for
// every scheduled session, report course_session_starting at its start (by
// the seat's ID). Errors: ErrNotFound for the course, ErrIDTaken,
// *domain.CourseFullError, *domain.AlreadyEnrolledError,
// *domain.CourseNotOpenError, *domain.TransitionNotAllowedError,
// *domain.ValidationError.
func (h EnrollInCourseHandler) Handle(ctx context.Context, cmd EnrollInCourse) (CourseEnrollmentView, error) {
	site, courseID, err := checkRef(cmd.SiteID, "courseId", cmd.CourseID)
	if err != nil {
		return CourseEnrollmentView{}, err
	}
	participant := cmd.ParticipantID
	if err := participant.Require("participantId"); err != nil {
		return CourseEnrollmentView{}, err
	}
	o := once{cmd.IdempotencyKey, cmd}
	id := cmd.EnrollmentID
	if id.IsZero() {
		if id, err = h.r.mint(); err != nil {
			return CourseEnrollmentView{}, err
		}
	}
	var out CourseEnrollmentView
	err = h.r.runOnce(ctx, "enroll in course", site, o, &out, func(ctx context.Context, tx Tx, now time.Time) ([]domain.Event, error) {
		if existing, err := tx.CourseEnrollment(ctx, site, id); err == nil {
			if existing.CourseID() != courseID || existing.ParticipantID() != participant {
				return nil, fmt.Errorf("course enrollment %s is for another course or participant: %w", id, ErrIDTaken)
			}
			out = courseEnrollmentView(existing)
			return nil, nil
		} else if !errors.Is(err, ErrNotFound) {
			return nil, err
		}
		c, err := tx.Course(ctx, site, courseID)
		if err != nil {
			return nil, notFound(err, "course", courseID)
		}
		if err := checkVersion("course", courseID, cmd.IfVersion, c.Version()); err != nil {
			return nil, err
		}
		active, err := tx.ActiveCourseEnrollment(ctx, site, courseID, participant)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return nil, err
		}
		e, err := courseenrollment.Enroll(c, courseenrollment.New{ID: id, SiteID: site, ParticipantID: participant}, active, now)
		if err != nil {
			return nil, err
		}
		if err := tx.SaveCourse(ctx, c); err != nil {
			return nil, err
		}
		if err := tx.SaveCourseEnrollment(ctx, e); err != nil {
			return nil, err
		}
		out = courseEnrollmentView(e)
		return e.Events(), nil
	})
	return out, err
}

// LeaveCourse takes a participant out of a course.
type LeaveCourse struct {
	SiteID         domain.SiteID
	EnrollmentID   domain.ID
	IfVersion      *int64 // optional: the enrollment version the caller last read
	IdempotencyKey string // optional; see Idempotency
}

// LeaveCourseHandler handles LeaveCourse.
type LeaveCourseHandler struct{ r *runner }

// Handle ends the enrollment and queues report participant_left_course and
// cancel participant_enrolled_in_course (by its ID), and cancel
// course_session_starting for every session that has not started (by each
// seat's ID): all of this participant's reminders, nobody else's. Errors:
// ErrNotFound, *domain.TransitionNotAllowedError.
func (h LeaveCourseHandler) Handle(ctx context.Context, cmd LeaveCourse) (CourseEnrollmentView, error) {
	site, id, err := checkRef(cmd.SiteID, "id", cmd.EnrollmentID)
	if err != nil {
		return CourseEnrollmentView{}, err
	}
	var out CourseEnrollmentView
	err = h.r.runOnce(ctx, "leave course", site, once{cmd.IdempotencyKey, cmd}, &out, func(ctx context.Context, tx Tx, now time.Time) ([]domain.Event, error) {
		e, err := tx.CourseEnrollment(ctx, site, id)
		if err != nil {
			return nil, notFound(err, "course enrollment", id)
		}
		if err := checkVersion("course enrollment", id, cmd.IfVersion, e.Version()); err != nil {
			return nil, err
		}
		c, err := tx.Course(ctx, site, e.CourseID())
		if err != nil {
			return nil, notFound(err, "course", e.CourseID())
		}
		if err := e.Leave(c, now); err != nil {
			return nil, err
		}
		if err := tx.SaveCourseEnrollment(ctx, e); err != nil {
			return nil, err
		}
		if err := tx.SaveCourse(ctx, c); err != nil {
			return nil, err
		}
		out = courseEnrollmentView(e)
		return e.Events(), nil
	})
	return out, err
}

// GetCourse asks for one course of a site.
type GetCourse struct {
	SiteID domain.SiteID
	ID     domain.ID
}

// GetCourseHandler handles GetCourse.
type GetCourseHandler struct{ r *runner }

// Handle returns the course with its sessions, or an error wrapping
// ErrNotFound.
func (h GetCourseHandler) Handle(ctx context.Context, q GetCourse) (CourseView, error) {
	site, id, err := checkRef(q.SiteID, "id", q.ID)
	if err != nil {
		return CourseView{}, err
	}
	var out CourseView
	err = h.r.view(ctx, func(ctx context.Context, tx ReadTx) error {
		c, err := tx.Course(ctx, site, id)
		if err != nil {
			return notFound(err, "course", id)
		}
		out = courseView(c)
		return nil
	})
	return out, err
}

// GetCourseEnrollment asks for one course enrollment of a site.
type GetCourseEnrollment struct {
	SiteID domain.SiteID
	ID     domain.ID
}

// GetCourseEnrollmentHandler handles GetCourseEnrollment.
type GetCourseEnrollmentHandler struct{ r *runner }

// Handle returns the course enrollment, or an error wrapping ErrNotFound.
func (h GetCourseEnrollmentHandler) Handle(ctx context.Context, q GetCourseEnrollment) (CourseEnrollmentView, error) {
	site, id, err := checkRef(q.SiteID, "id", q.ID)
	if err != nil {
		return CourseEnrollmentView{}, err
	}
	var out CourseEnrollmentView
	err = h.r.view(ctx, func(ctx context.Context, tx ReadTx) error {
		e, err := tx.CourseEnrollment(ctx, site, id)
		if err != nil {
			return notFound(err, "course enrollment", id)
		}
		out = courseEnrollmentView(e)
		return nil
	})
	return out, err
}
