package application

import (
	"context"
	"errors"
	"fmt"

	"github.com/bookable/lifecycle/domain"
	"github.com/bookable/lifecycle/domain/appointment"
	"github.com/bookable/lifecycle/domain/class"
	"github.com/bookable/lifecycle/domain/course"
	"github.com/bookable/lifecycle/domain/courseenrollment"
	"github.com/bookable/lifecycle/domain/enrollment"
)

// trackTx is the Tx a command's function sees: the store's, remembering
// every aggregate the function loads or saves, so that the runner can ask
// the policy what changed at Wix (the desired state before and after) without
// handlers listing it. It does no I/O of its own.
type trackTx struct {
	Tx
	order             []aggRef // first touch order: the order of the calls
	appointments      map[domain.ID]*tracked[appointment.Snapshot, *appointment.Appointment]
	classes           map[domain.ID]*tracked[class.Snapshot, *class.Class]
	enrollments       map[domain.ID]*tracked[enrollment.Snapshot, *enrollment.Enrollment]
	courses           map[domain.ID]*tracked[course.Snapshot, *course.Course]
	courseEnrollments map[domain.ID]*tracked[courseenrollment.Snapshot, *courseenrollment.Enrollment]
}

type aggKind int

const (
	kindAppointment aggKind = iota
	kindEnrollment
	kindCourseEnrollment
)

type aggRef struct {
	kind aggKind
	id   domain.ID
}

// tracked is one aggregate as the command found it (before: nil for a new
// one) and the last value it handled (after).
type tracked[S any, A interface{ Snapshot() S }] struct {
	before *S
	after  A
}

func newTrackTx(tx Tx) *trackTx {
	return &trackTx{Tx: tx,
		appointments:      map[domain.ID]*tracked[appointment.Snapshot, *appointment.Appointment]{},
		classes:           map[domain.ID]*tracked[class.Snapshot, *class.Class]{},
		enrollments:       map[domain.ID]*tracked[enrollment.Snapshot, *enrollment.Enrollment]{},
		courses:           map[domain.ID]*tracked[course.Snapshot, *course.Course]{},
		courseEnrollments: map[domain.ID]*tracked[courseenrollment.Snapshot, *courseenrollment.Enrollment]{},
	}
}

// seen records a, loaded (loaded) or saved; the first sight of an aggregate
// fixes its before: its snapshot when loaded, none when saved new.
func seen[S any, A interface{ Snapshot() S }](m map[domain.ID]*tracked[S, A], id domain.ID, a A, loaded bool) bool {
	t, ok := m[id]
	if !ok {
		t = &tracked[S, A]{}
		if loaded {
			s := a.Snapshot()
			t.before = &s
		}
		m[id] = t
	}
	t.after = a
	return !ok
}

func (t *trackTx) appointment(a *appointment.Appointment, loaded bool) {
	if seen(t.appointments, a.ID(), a, loaded) {
		t.order = append(t.order, aggRef{kindAppointment, a.ID()})
	}
}

func (t *trackTx) enrollment(e *enrollment.Enrollment, loaded bool) {
	if seen(t.enrollments, e.ID(), e, loaded) {
		t.order = append(t.order, aggRef{kindEnrollment, e.ID()})
	}
}

// Appointment implements ReadTx.
func (t *trackTx) Appointment(ctx context.Context, siteID domain.SiteID, id domain.ID) (*appointment.Appointment, error) {
	a, err := t.Tx.Appointment(ctx, siteID, id)
	if err == nil {
		t.appointment(a, true)
	}
	return a, err
}

// Class implements ReadTx.
func (t *trackTx) Class(ctx context.Context, siteID domain.SiteID, id domain.ID) (*class.Class, error) {
	c, err := t.Tx.Class(ctx, siteID, id)
	if err == nil {
		seen(t.classes, c.ID(), c, true)
	}
	return c, err
}

// Enrollment implements ReadTx.
func (t *trackTx) Enrollment(ctx context.Context, siteID domain.SiteID, id domain.ID) (*enrollment.Enrollment, error) {
	e, err := t.Tx.Enrollment(ctx, siteID, id)
	if err == nil {
		t.enrollment(e, true)
	}
	return e, err
}

// ActiveEnrollment implements ReadTx.
func (t *trackTx) ActiveEnrollment(ctx context.Context, siteID domain.SiteID, classID, participantID domain.ID) (*enrollment.Enrollment, error) {
	e, err := t.Tx.ActiveEnrollment(ctx, siteID, classID, participantID)
	if err == nil {
		t.enrollment(e, true)
	}
	return e, err
}

// ActiveEnrollments implements ReadTx.
func (t *trackTx) ActiveEnrollments(ctx context.Context, siteID domain.SiteID, classID domain.ID) ([]*enrollment.Enrollment, error) {
	es, err := t.Tx.ActiveEnrollments(ctx, siteID, classID)
	for _, e := range es {
		t.enrollment(e, true)
	}
	return es, err
}

// OldestWaitlisted implements ReadTx.
func (t *trackTx) OldestWaitlisted(ctx context.Context, siteID domain.SiteID, classID domain.ID) (*enrollment.Enrollment, error) {
	e, err := t.Tx.OldestWaitlisted(ctx, siteID, classID)
	if err == nil {
		t.enrollment(e, true)
	}
	return e, err
}

// SaveAppointment implements Tx.
func (t *trackTx) SaveAppointment(ctx context.Context, a *appointment.Appointment) error {
	isNew := a.Version() == 0
	if err := t.Tx.SaveAppointment(ctx, a); err != nil {
		return err
	}
	t.appointment(a, !isNew)
	return nil
}

// SaveClass implements Tx.
func (t *trackTx) SaveClass(ctx context.Context, c *class.Class) error {
	isNew := c.Version() == 0
	if err := t.Tx.SaveClass(ctx, c); err != nil {
		return err
	}
	seen(t.classes, c.ID(), c, !isNew)
	return nil
}

// SaveEnrollment implements Tx.
func (t *trackTx) SaveEnrollment(ctx context.Context, e *enrollment.Enrollment) error {
	isNew := e.Version() == 0
	if err := t.Tx.SaveEnrollment(ctx, e); err != nil {
		return err
	}
	t.enrollment(e, !isNew)
	return nil
}

// changes returns what the command did at Wix, aggregate by aggregate in
// the order it touched them (and within a course enrollment, entity by
// entity: its own events, then each session's): for each, the desired
// state before and after, with payloads in the site's zone. An
// enrollment's events depend on its class or course, as it was before and
// is after; a class or course the command did not load is read once.
func (t *trackTx) changes(ctx context.Context, c *Catalog, site domain.SiteID) ([]Change, error) {
	if len(t.order) == 0 {
		return nil, nil
	}
	z, err := siteZone(ctx, t.Tx, site)
	if err != nil {
		return nil, err
	}
	var out []Change
	for _, ref := range t.order {
		switch ref.kind {
		case kindAppointment:
			tr := t.appointments[ref.id]
			ch := Change{After: DesiredAppointment(c, z, tr.after), Cause: cause(tr.after.Events(), "appointment")}
			if tr.before != nil {
				a, err := appointment.Restore(*tr.before)
				if err != nil {
					return nil, err
				}
				ch.Before = DesiredAppointment(c, z, a)
			}
			out = append(out, ch)
		case kindEnrollment:
			tr := t.enrollments[ref.id]
			e := tr.after
			ct, err := trackedOwner(ctx, t.classes, e.SiteID(), e.ClassID(), t.Tx.Class)
			if err != nil {
				return nil, err
			}
			ch := Change{After: DesiredEnrollment(c, z, e, ct.after), Cause: cause(e.Events(), "enrollment")}
			if tr.before != nil {
				old, err := enrollment.Restore(*tr.before)
				if err != nil {
					return nil, err
				}
				cls, err := ct.was(class.Restore)
				if err != nil {
					return nil, err
				}
				ch.Before = DesiredEnrollment(c, z, old, cls)
			}
			out = append(out, ch)
		case kindCourseEnrollment:
			chs, err := t.courseChanges(ctx, c, z, ref.id)
			if err != nil {
				return nil, err
			}
			out = append(out, chs...)
		}
	}
	return out, nil
}

// trackedOwner returns the tracked class or course id, reading it (as it
// is, before and after) when the command did not load it.
func trackedOwner[S any, A interface{ Snapshot() S }](ctx context.Context, m map[domain.ID]*tracked[S, A], site domain.SiteID, id domain.ID,
	read func(ctx context.Context, site domain.SiteID, id domain.ID) (A, error)) (*tracked[S, A], error) {
	if tr, ok := m[id]; ok {
		return tr, nil
	}
	a, err := read(ctx, site, id)
	if err != nil {
		return nil, err
	}
	s := a.Snapshot()
	tr := &tracked[S, A]{before: &s, after: a}
	m[id] = tr
	return tr, nil
}

// was returns the aggregate as the command found it: restored from before,
// or the one it handled when it created it.
func (tr *tracked[S, A]) was(restore func(S) (A, error)) (A, error) {
	if tr.before == nil {
		return tr.after, nil
	}
	return restore(*tr.before)
}

// siteZone returns the site's time zone: UTC for a site without settings.
func siteZone(ctx context.Context, tx ReadTx, site domain.SiteID) (domain.TimeZone, error) {
	s, err := tx.SiteSettings(ctx, site)
	switch {
	case err == nil:
		return s.TimeZone(), nil
	case errors.Is(err, ErrNotFound):
		return domain.UTC(), nil
	}
	return domain.TimeZone{}, fmt.Errorf("settings of site %s: %w", site, err)
}

// cause names the first event an aggregate recorded in the command, or the
// aggregate when it recorded none (an enrollment whose class changed).
func cause(events []domain.Event, fallback string) string {
	if len(events) > 0 {
		return events[0].EventName()
	}
	return fallback
}
