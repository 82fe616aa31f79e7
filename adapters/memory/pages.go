package memory

import (
	"context"
	"sort"

	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/domain"
	"github.com/bookable/lifecycle/domain/appointment"
	"github.com/bookable/lifecycle/domain/enrollment"
)

// page returns the IDs of a site's aggregates in m (and the overlay) after
// after, in ID order, at most limit.
func page[T any](overlay, base map[key]T, siteID, after string, limit int) []key {
	seen := map[key]bool{}
	var keys []key
	for _, m := range []map[key]T{overlay, base} {
		for k := range m {
			if k.site == siteID && k.id > after && !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].id < keys[j].id })
	if len(keys) > limit {
		keys = keys[:limit]
	}
	return keys
}

// AppointmentsAfter implements application.Pages.
func (r *readTx) AppointmentsAfter(ctx context.Context, siteID domain.SiteID, after domain.ID, limit int) ([]*appointment.Appointment, error) {
	out := []*appointment.Appointment{}
	for _, k := range page(r.appointments(), r.s.data.appointments, siteID.String(), after.String(), limit) {
		snap, _ := lookup(r.appointments(), r.s.data.appointments, k)
		a, err := appointment.Restore(snap)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// EnrollmentsAfter implements application.Pages.
func (r *readTx) EnrollmentsAfter(ctx context.Context, siteID domain.SiteID, after domain.ID, limit int) ([]*enrollment.Enrollment, error) {
	out := []*enrollment.Enrollment{}
	for _, k := range page(r.enrollmentsOverlay(), r.s.data.enrollments, siteID.String(), after.String(), limit) {
		snap, _ := lookup(r.enrollmentsOverlay(), r.s.data.enrollments, k)
		e, err := enrollment.Restore(snap)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// SiteAfter implements application.Pages.
func (r *readTx) SiteAfter(ctx context.Context, after domain.SiteID) (domain.SiteID, error) {
	best := ""
	consider := func(site string) {
		if site > after.String() && (best == "" || site < best) {
			best = site
		}
	}
	for k := range r.s.data.appointments {
		consider(k.site)
	}
	for k := range r.s.data.enrollments {
		consider(k.site)
	}
	for k := range r.s.data.courseEnrollments {
		consider(k.site)
	}
	for k := range r.appointments() {
		consider(k.site)
	}
	for k := range r.enrollmentsOverlay() {
		consider(k.site)
	}
	for k := range staged(r, courseEnrollmentsOf) {
		consider(k.site)
	}
	if best == "" {
		return domain.SiteID{}, application.ErrNotFound
	}
	return domain.ParseSiteID(best)
}
