package application

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bookable/lifecycle/domain"
	"github.com/bookable/lifecycle/domain/course"
	"github.com/bookable/lifecycle/domain/courseenrollment"
)

// NewCourseSession is a session to add to a course.
type NewCourseSession struct {
	ID               domain.ID // optional: a caller-chosen UUID; without it one is minted
	StartsAt, EndsAt time.Time
}

// ScheduleCourse creates a course with its first sessions.
type ScheduleCourse struct {
	SiteID         domain.SiteID
	ID             domain.ID // optional: a caller-chosen UUID makes the command idempotent
	IdempotencyKey string    // optional; see Idempotency
	Title          string
	Capacity       int
	Sessions       []NewCourseSession
}

// ScheduleCourseHandler handles ScheduleCourse.
type ScheduleCourseHandler struct{ r *runner }

// Handle creates the course. It queues no call: participants hear of a
// course through their enrollments. With an ID that already names a course
// it returns that course when its title, capacity and first sessions are
// the command's, and an error wrapping ErrIDTaken otherwise. Invalid input
// is a *domain.ValidationError.
func (h ScheduleCourseHandler) Handle(ctx context.Context, cmd ScheduleCourse) (CourseView, error) {
	o := once{cmd.IdempotencyKey, cmd} // before IDs are minted: a retry mints others
	var err error
	if cmd.ID.IsZero() {
		if cmd.ID, err = h.r.mint(); err != nil {
			return CourseView{}, err
		}
	}
	sessions := make([]course.NewSession, len(cmd.Sessions))
	given := make([]bool, len(cmd.Sessions)) // the caller chose the session's ID
	for i, s := range cmd.Sessions {
		given[i] = !s.ID.IsZero()
		if s.ID.IsZero() {
			if s.ID, err = h.r.mint(); err != nil {
				return CourseView{}, err
			}
		}
		sessions[i] = course.NewSession{ID: s.ID, Start: s.StartsAt, End: s.EndsAt}
	}
	site, id, err := checkRef(cmd.SiteID, "id", cmd.ID)
	if err != nil {
		return CourseView{}, err
	}
	var out CourseView
	err = h.r.runOnce(ctx, "schedule course", site, o, &out, func(ctx context.Context, tx Tx, now time.Time) ([]domain.Event, error) {
		existing, err := tx.Course(ctx, site, id)
		switch {
		case err == nil:
			if !sameCourse(existing, cmd, sessions, given) {
				return nil, fmt.Errorf("course %s: %w", id, ErrIDTaken)
			}
			out = courseView(existing)
			return nil, nil
		case !errors.Is(err, ErrNotFound):
			return nil, err
		}
		c, err := course.Schedule(course.New{ID: id, SiteID: site, Title: cmd.Title, Capacity: cmd.Capacity, Sessions: sessions}, now)
		if err != nil {
			return nil, err
		}
		if err := tx.SaveCourse(ctx, c); err != nil {
			return nil, err
		}
		out = courseView(c)
		return c.Events(), nil
	})
	return out, err
}

// sameCourse reports whether c is what cmd would create: the same title,
// capacity and first sessions (their IDs where the caller chose them, and
// their times).
func sameCourse(c *course.Course, cmd ScheduleCourse, sessions []course.NewSession, given []bool) bool {
	have := c.Sessions()
	if c.Title() != cmd.Title || c.Capacity() != cmd.Capacity || len(have) < len(sessions) {
		return false
	}
	for i, s := range sessions {
		if (given[i] && have[i].ID() != s.ID) || !have[i].Start().Equal(domain.Instant(s.Start)) ||
			!have[i].End().Equal(domain.Instant(s.End)) {
			return false
		}
	}
	return true
}

// changeCourse is the body of every command on an existing course: load
// the course and its active enrollments (so that the events of every seat
// are compared before and after), check ifVersion against the course's
// version, apply do to the course, then each to every active enrollment,
// and save what changed. Events come out course first, then enrollments in
// order of admission.
func (r *runner) changeCourse(ctx context.Context, command string, siteID domain.SiteID, id domain.ID, ifVersion *int64, o once,
	do func(c *course.Course, now time.Time) error,
	each func(c *course.Course, e *courseenrollment.Enrollment, now time.Time) error) (CourseView, error) {
	site, id, err := checkRef(siteID, "id", id)
	if err != nil {
		return CourseView{}, err
	}
	var out CourseView
	err = r.runOnce(ctx, command, site, o, &out, func(ctx context.Context, tx Tx, now time.Time) ([]domain.Event, error) {
		c, err := tx.Course(ctx, site, id)
		if err != nil {
			return nil, notFound(err, "course", id)
		}
		if err := checkVersion("course", id, ifVersion, c.Version()); err != nil {
			return nil, err
		}
		active, err := tx.ActiveCourseEnrollments(ctx, site, id)
		if err != nil {
			return nil, err
		}
		if err := do(c, now); err != nil {
			return nil, err
		}
		events := c.Events()
		if len(events) > 0 {
			if err := tx.SaveCourse(ctx, c); err != nil {
				return nil, err
			}
		}
		for _, e := range active {
			if each == nil {
				break // a session change: the enrollments do not change, their seats' events do
			}
			if err := each(c, e, now); err != nil {
				return nil, err
			}
			if err := tx.SaveCourseEnrollment(ctx, e); err != nil {
				return nil, err
			}
			events = append(events, e.Events()...)
		}
		out = courseView(c)
		return events, nil
	})
	return out, err
}

// session returns session id of c, or an error wrapping ErrNotFound.
func session(c *course.Course, id domain.ID) (*course.Session, error) {
	s := c.Session(id)
	if s == nil {
		return nil, fmt.Errorf("session %s of course %s: %w", id, c.ID(), ErrNotFound)
	}
	return s, nil
}

// AddCourseSession adds a session to a course.
type AddCourseSession struct {
	SiteID   domain.SiteID
	CourseID domain.ID
	// SessionID is optional: a caller-chosen UUID makes the command
	// idempotent (the same ID and times again change nothing).
	SessionID        domain.ID
	StartsAt, EndsAt time.Time
	IfVersion        *int64 // optional: the course version the caller last read
	IdempotencyKey   string // optional; see Idempotency
}

// AddCourseSessionHandler handles AddCourseSession.
type AddCourseSessionHandler struct{ r *runner }

// Handle adds the session and queues, for every enrolled participant,
// report course_session_starting at its start (by the seat's ID). Errors:
// ErrNotFound, ErrIDTaken (the session ID names another session),
// *domain.TransitionNotAllowedError, *domain.ValidationError.
func (h AddCourseSessionHandler) Handle(ctx context.Context, cmd AddCourseSession) (CourseView, error) {
	o := once{cmd.IdempotencyKey, cmd}
	if cmd.SessionID.IsZero() {
		var err error
		if cmd.SessionID, err = h.r.mint(); err != nil {
			return CourseView{}, err
		}
	}
	sessionID := cmd.SessionID
	return h.r.changeCourse(ctx, "add course session", cmd.SiteID, cmd.CourseID, cmd.IfVersion, o,
		func(c *course.Course, now time.Time) error {
			if s := c.Session(sessionID); s != nil {
				if !s.Start().Equal(domain.Instant(cmd.StartsAt)) || !s.End().Equal(domain.Instant(cmd.EndsAt)) {
					return fmt.Errorf("session %s: %w", sessionID, ErrIDTaken)
				}
				return nil // added before: nothing to do
			}
			_, err := c.AddSession(course.NewSession{ID: sessionID, Start: cmd.StartsAt, End: cmd.EndsAt}, now)
			return err
		}, nil)
}

// RescheduleCourseSession moves one session of a course.
type RescheduleCourseSession struct {
	SiteID              domain.SiteID
	CourseID, SessionID domain.ID
	StartsAt, EndsAt    time.Time
	IfVersion           *int64 // optional: the course version
	IdempotencyKey      string // optional; see Idempotency
}

// RescheduleCourseSessionHandler handles RescheduleCourseSession.
type RescheduleCourseSessionHandler struct{ r *runner }

// Handle moves the session and, for every enrolled participant, queues
// (report course_session_rescheduled), cancel course_session_starting,
// report course_session_starting at the new start, by the seat's ID; the
// other sessions' reminders are untouched. Errors: ErrNotFound,
// *domain.TransitionNotAllowedError, *domain.ValidationError.
func (h RescheduleCourseSessionHandler) Handle(ctx context.Context, cmd RescheduleCourseSession) (CourseView, error) {
	return h.r.changeCourse(ctx, "reschedule course session", cmd.SiteID, cmd.CourseID, cmd.IfVersion, once{cmd.IdempotencyKey, cmd},
		func(c *course.Course, now time.Time) error {
			s, err := session(c, cmd.SessionID)
			if err != nil {
				return err
			}
			return c.RescheduleSession(s.ID(), cmd.StartsAt, cmd.EndsAt, now)
		}, nil)
}

// CancelCourseSession cancels one session of a course for everyone.
type CancelCourseSession struct {
	SiteID              domain.SiteID
	CourseID, SessionID domain.ID
	Reason              string
	IfVersion           *int64 // optional: the course version
	IdempotencyKey      string // optional; see Idempotency
}

// CancelCourseSessionHandler handles CancelCourseSession.
type CancelCourseSessionHandler struct{ r *runner }

// Handle cancels the session and, for every enrolled participant, queues
// report course_session_canceled and cancel course_session_starting, by the
// seat's ID: that session's reminders and no other. With N participants
// the relay sends them in ceil(N/100) bulk requests per trigger. Errors:
// ErrNotFound, *domain.TransitionNotAllowedError, *domain.ValidationError.
func (h CancelCourseSessionHandler) Handle(ctx context.Context, cmd CancelCourseSession) (CourseView, error) {
	return h.r.changeCourse(ctx, "cancel course session", cmd.SiteID, cmd.CourseID, cmd.IfVersion, once{cmd.IdempotencyKey, cmd},
		func(c *course.Course, now time.Time) error {
			s, err := session(c, cmd.SessionID)
			if err != nil {
				return err
			}
			return c.CancelSession(s.ID(), cmd.Reason, now)
		}, nil)
}

// CancelCourse cancels a course as a whole.
type CancelCourse struct {
	SiteID         domain.SiteID
	ID             domain.ID
	Reason         string
	IfVersion      *int64 // optional: the course version
	IdempotencyKey string // optional; see Idempotency
}

// CancelCourseHandler handles CancelCourse.
type CancelCourseHandler struct{ r *runner }

// Handle cancels the course and, for every enrolled participant, queues
// report course_canceled and cancel participant_enrolled_in_course (by the
// enrollment ID), and cancel course_session_starting for every session that
// has not started (by the seat's ID). Errors: ErrNotFound,
// *domain.TransitionNotAllowedError.
func (h CancelCourseHandler) Handle(ctx context.Context, cmd CancelCourse) (CourseView, error) {
	return h.r.changeCourse(ctx, "cancel course", cmd.SiteID, cmd.ID, cmd.IfVersion, once{cmd.IdempotencyKey, cmd},
		func(c *course.Course, now time.Time) error { return c.Cancel(cmd.Reason, now) },
		func(c *course.Course, e *courseenrollment.Enrollment, now time.Time) error {
			return e.CourseCanceled(c, cmd.Reason, now)
		})
}

// CompleteCourse records that a course took place.
type CompleteCourse struct {
	SiteID         domain.SiteID
	ID             domain.ID
	IfVersion      *int64 // optional: the course version
	IdempotencyKey string // optional; see Idempotency
}

// CompleteCourseHandler handles CompleteCourse.
type CompleteCourseHandler struct{ r *runner }

// Handle completes a course whose last session started: its participants'
// enrollments complete (queues (report course_completed) each); their
// session reminders stay. Errors: ErrNotFound,
// *domain.TransitionNotAllowedError, *domain.ValidationError.
func (h CompleteCourseHandler) Handle(ctx context.Context, cmd CompleteCourse) (CourseView, error) {
	return h.r.changeCourse(ctx, "complete course", cmd.SiteID, cmd.ID, cmd.IfVersion, once{cmd.IdempotencyKey, cmd},
		func(c *course.Course, now time.Time) error { return c.Complete(now) },
		func(c *course.Course, e *courseenrollment.Enrollment, now time.Time) error {
			return e.CourseCompleted(c, now)
		})
}
