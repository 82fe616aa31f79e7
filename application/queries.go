package application

import (
	"context"

	"github.com/bookable/lifecycle/domain"
)

// GetAppointment asks for one appointment of a site.
type GetAppointment struct {
	SiteID domain.SiteID
	ID     domain.ID
}

// GetAppointmentHandler handles GetAppointment.
type GetAppointmentHandler struct{ r *runner }

// Handle returns the appointment, or an error wrapping ErrNotFound (also
// when it belongs to another site).
func (h GetAppointmentHandler) Handle(ctx context.Context, q GetAppointment) (AppointmentView, error) {
	site, id, err := checkRef(q.SiteID, "id", q.ID)
	if err != nil {
		return AppointmentView{}, err
	}
	var out AppointmentView
	err = h.r.view(ctx, func(ctx context.Context, tx ReadTx) error {
		a, err := tx.Appointment(ctx, site, id)
		if err != nil {
			return notFound(err, "appointment", id)
		}
		out = appointmentView(a)
		return nil
	})
	return out, err
}

// GetClass asks for one class of a site.
type GetClass struct {
	SiteID domain.SiteID
	ID     domain.ID
}

// GetClassHandler handles GetClass.
type GetClassHandler struct{ r *runner }

// Handle returns the class, or an error wrapping ErrNotFound.
func (h GetClassHandler) Handle(ctx context.Context, q GetClass) (ClassView, error) {
	site, id, err := checkRef(q.SiteID, "id", q.ID)
	if err != nil {
		return ClassView{}, err
	}
	var out ClassView
	err = h.r.view(ctx, func(ctx context.Context, tx ReadTx) error {
		c, err := tx.Class(ctx, site, id)
		if err != nil {
			return notFound(err, "class", id)
		}
		out = classView(c)
		return nil
	})
	return out, err
}

// GetEnrollment asks for one enrollment of a site.
type GetEnrollment struct {
	SiteID domain.SiteID
	ID     domain.ID
}

// GetEnrollmentHandler handles GetEnrollment.
type GetEnrollmentHandler struct{ r *runner }

// Handle returns the enrollment, or an error wrapping ErrNotFound.
func (h GetEnrollmentHandler) Handle(ctx context.Context, q GetEnrollment) (EnrollmentView, error) {
	site, id, err := checkRef(q.SiteID, "id", q.ID)
	if err != nil {
		return EnrollmentView{}, err
	}
	var out EnrollmentView
	err = h.r.view(ctx, func(ctx context.Context, tx ReadTx) error {
		e, err := tx.Enrollment(ctx, site, id)
		if err != nil {
			return notFound(err, "enrollment", id)
		}
		out = enrollmentView(e)
		return nil
	})
	return out, err
}
