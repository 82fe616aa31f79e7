package application

import (
	"context"
	"errors"
	"fmt"

	"github.com/bookable/lifecycle/domain"
	"github.com/bookable/lifecycle/domain/courseenrollment"
)

// DesiredFor returns what the subject whose externalEntityId is entityID
// calls for at Wix on site under catalog c (its events of every enabled
// trigger, as DesiredAppointment and the others give them), in the site's
// zone: for Refresh Payload, which Wix asks about one (trigger, entity).
//
// The ID is resolved as lifecycle chose it: an appointment's ID (series
// occurrences included), a class enrollment's, a course enrollment's, or a
// seat's (courseenrollment.SessionEntityID), whose lookup key names the
// course enrollment (ReadTx.CourseEnrollmentByKey) and whose last bytes the
// session's number. Should a caller have given two subjects one ID, the
// events of both are returned (their trigger keys differ). It returns an
// error wrapping ErrNotFound when the ID names nothing on the site: then
// nothing is called for.
func DesiredFor(ctx context.Context, tx ReadTx, c *Catalog, site domain.SiteID, entity domain.ID) ([]Live, error) {
	if err := domain.First(site.Require(), entity.Require("externalEntityId")); err != nil {
		return nil, err
	}
	z, err := siteZone(ctx, tx, site)
	if err != nil {
		return nil, err
	}
	var out []Live
	found := false
	for _, find := range []func() ([]Live, error){
		func() ([]Live, error) {
			a, err := tx.Appointment(ctx, site, entity)
			if err != nil {
				return nil, err
			}
			return DesiredAppointment(c, z, a), nil
		},
		func() ([]Live, error) {
			e, err := tx.Enrollment(ctx, site, entity)
			if err != nil {
				return nil, err
			}
			cls, err := tx.Class(ctx, site, e.ClassID())
			if err != nil {
				return nil, fmt.Errorf("class of enrollment %s: %w", e.ID(), errors.Join(err, errBroken))
			}
			return DesiredEnrollment(c, z, e, cls), nil
		},
		func() ([]Live, error) {
			e, err := tx.CourseEnrollment(ctx, site, entity)
			if err != nil {
				return nil, err
			}
			crs, err := tx.Course(ctx, site, e.CourseID())
			if err != nil {
				return nil, fmt.Errorf("course of enrollment %s: %w", e.ID(), errors.Join(err, errBroken))
			}
			var own []Live
			for _, l := range DesiredCourseEnrollment(c, z, e, crs) {
				if l.EntityID == e.ID().String() {
					own = append(own, l)
				}
			}
			return own, nil
		},
		func() ([]Live, error) { return desiredSeat(ctx, tx, c, z, site, entity) },
	} {
		lives, err := find()
		switch {
		case err == nil:
			found = true
			out = append(out, lives...)
		case !errors.Is(err, ErrNotFound) || errors.Is(err, errBroken):
			return nil, err
		}
	}
	if !found {
		return nil, fmt.Errorf("externalEntityId %s: %w", entity, ErrNotFound)
	}
	return out, nil
}

// errBroken marks a subject whose class or course is missing: a broken
// store, not an unknown ID.
var errBroken = errors.New("the store lacks what the subject refers to")

// desiredSeat resolves a seat's ID: its enrollment by the lookup key, its
// session by the number.
func desiredSeat(ctx context.Context, tx ReadTx, c *Catalog, z domain.TimeZone, site domain.SiteID, entity domain.ID) ([]Live, error) {
	key, number, ok := courseenrollment.ParseSessionEntityID(entity.String())
	if !ok {
		return nil, fmt.Errorf("seat %s: %w", entity, ErrNotFound)
	}
	e, err := tx.CourseEnrollmentByKey(ctx, site, key)
	if err != nil {
		return nil, err
	}
	crs, err := tx.Course(ctx, site, e.CourseID())
	if err != nil {
		return nil, fmt.Errorf("course of enrollment %s: %w", e.ID(), errors.Join(err, errBroken))
	}
	s := crs.SessionNumber(number)
	if s == nil || courseenrollment.SessionEntityID(e.ID(), number) != entity {
		return nil, fmt.Errorf("seat %s: %w", entity, ErrNotFound)
	}
	return DesiredSession(c, z, e, crs, s), nil
}
