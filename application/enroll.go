package application

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bookable/lifecycle/domain"
	"github.com/bookable/lifecycle/domain/enrollment"
)

// Enroll signs a participant up for a class.
type Enroll struct {
	SiteID                 domain.SiteID
	ClassID, ParticipantID domain.ID
	// EnrollmentID is optional: a caller-chosen UUID makes the command
	// idempotent. Without it a new ID is minted. Either way a participant who
	// left and enrolls again gets a new enrollment, with a new ID.
	EnrollmentID domain.ID
	// IfVersion, when set, is the class version the caller last read: the
	// enrollment is refused with a *VersionMismatchError unless it is still
	// current (an enrollment changes the class's counts).
	IfVersion      *int64
	IdempotencyKey string // optional; see Idempotency
}

// EnrollHandler handles Enroll.
type EnrollHandler struct{ r *runner }

// Handle takes a seat for the participant and queues report
// participant_enrolled_in_class and report class_starting (at the class
// start), both by the new enrollment's ID. When the class is full and has a
// waitlist the participant is waitlisted instead, and nothing reaches Wix
// but the optional participant_waitlisted. Errors: ErrNotFound for the class,
// *domain.ClassFullError, *domain.AlreadyEnrolledError,
// *domain.ClassNotOpenError, *domain.ValidationError.
func (h EnrollHandler) Handle(ctx context.Context, cmd Enroll) (EnrollmentView, error) {
	site, classID, err := checkRef(cmd.SiteID, "classId", cmd.ClassID)
	if err != nil {
		return EnrollmentView{}, err
	}
	participant := cmd.ParticipantID
	if err := participant.Require("participantId"); err != nil {
		return EnrollmentView{}, err
	}
	o := once{cmd.IdempotencyKey, cmd}
	id := cmd.EnrollmentID
	if id.IsZero() {
		if id, err = h.r.mint(); err != nil {
			return EnrollmentView{}, err
		}
	}
	var out EnrollmentView
	err = h.r.runOnce(ctx, "enroll", site, o, &out, func(ctx context.Context, tx Tx, now time.Time) ([]domain.Event, error) {
		if existing, err := tx.Enrollment(ctx, site, id); err == nil {
			if existing.ClassID() != classID || existing.ParticipantID() != participant {
				return nil, fmt.Errorf("enrollment %s is for another class or participant: %w", id, ErrIDTaken)
			}
			out = enrollmentView(existing)
			return nil, nil
		} else if !errors.Is(err, ErrNotFound) {
			return nil, err
		}
		c, err := tx.Class(ctx, site, classID)
		if err != nil {
			return nil, notFound(err, "class", classID)
		}
		if err := checkVersion("class", classID, cmd.IfVersion, c.Version()); err != nil {
			return nil, err
		}
		active, err := tx.ActiveEnrollment(ctx, site, classID, participant)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return nil, err
		}
		e, err := enrollment.Enroll(c, enrollment.New{ID: id, SiteID: site, ParticipantID: participant}, active, now)
		if err != nil {
			return nil, err
		}
		if err := tx.SaveClass(ctx, c); err != nil {
			return nil, err
		}
		if err := tx.SaveEnrollment(ctx, e); err != nil {
			return nil, err
		}
		out = enrollmentView(e)
		return e.Events(), nil
	})
	return out, err
}
