package application

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bookable/lifecycle/domain"
	"github.com/bookable/lifecycle/domain/appointment"
)

// ScheduleAppointment books an appointment for a contact.
type ScheduleAppointment struct {
	SiteID         domain.SiteID
	ID             domain.ID // optional: a caller-chosen UUID makes the command idempotent
	IdempotencyKey string    // optional; see Idempotency
	ContactID      domain.ID
	Title          string
	StartsAt       time.Time
	EndsAt         time.Time
}

// ScheduleAppointmentHandler handles ScheduleAppointment.
type ScheduleAppointmentHandler struct{ r *runner }

// Handle books the appointment and queues report appointment_scheduled and
// report appointment_starting (at the start). With an ID that already names
// an identical appointment it returns that appointment and queues nothing;
// with an ID already used otherwise it returns an error wrapping ErrConflict.
// Invalid input is a *domain.ValidationError.
func (h ScheduleAppointmentHandler) Handle(ctx context.Context, cmd ScheduleAppointment) (AppointmentView, error) {
	o := once{cmd.IdempotencyKey, cmd} // before an ID is minted: a retry mints another
	// A minted ID names nothing yet: no read looks for it (a save of a new
	// aggregate whose ID exists is a conflict in every store anyway).
	minted := cmd.ID.IsZero()
	if minted {
		var err error
		if cmd.ID, err = h.r.mint(); err != nil {
			return AppointmentView{}, err
		}
	}
	site, id, err := checkRef(cmd.SiteID, "id", cmd.ID) // once, outside the retried function
	if err != nil {
		return AppointmentView{}, err
	}
	var out AppointmentView
	err = h.r.runOnce(ctx, "schedule appointment", site, o, &out, func(ctx context.Context, tx Tx, now time.Time) ([]domain.Event, error) {
		var existing *appointment.Appointment
		err := ErrNotFound
		if !minted {
			existing, err = tx.Appointment(ctx, site, id)
		}
		switch {
		case err == nil:
			if !sameAppointment(existing, cmd) {
				return nil, fmt.Errorf("appointment %s: %w", id, ErrIDTaken)
			}
			out = appointmentView(existing)
			return nil, nil
		case !errors.Is(err, ErrNotFound):
			return nil, err
		}
		a, err := appointment.Schedule(appointment.New{
			ID: id, SiteID: site, ContactID: cmd.ContactID, Title: cmd.Title,
			Start: cmd.StartsAt, End: cmd.EndsAt,
		}, now)
		if err != nil {
			return nil, err
		}
		if err := tx.SaveAppointment(ctx, a); err != nil {
			return nil, err
		}
		out = appointmentView(a)
		return a.Events(), nil
	})
	return out, err
}

func sameAppointment(a *appointment.Appointment, cmd ScheduleAppointment) bool {
	return a.ContactID() == cmd.ContactID && a.Title() == cmd.Title &&
		a.Start().Equal(domain.Instant(cmd.StartsAt)) && a.End().Equal(domain.Instant(cmd.EndsAt))
}
