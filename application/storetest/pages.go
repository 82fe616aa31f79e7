package storetest

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/domain"
	"github.com/bookable/lifecycle/domain/enrollment"
)

// testPages walks a site's appointments and enrollments a page at a time,
// in ID order, and the sites that have any, in a read view and inside a
// read-write transaction.
func testPages(t *testing.T, h Harness) {
	ctx := context.Background()
	save(t, h.Store, func(ctx context.Context, tx application.Tx) error {
		for _, n := range []int{3, 1, 5, 2, 4} {
			if err := tx.SaveAppointment(ctx, NewAppointment(t, SiteA, n)); err != nil {
				return err
			}
		}
		if err := tx.SaveAppointment(ctx, NewAppointment(t, SiteB, 9)); err != nil {
			return err
		}
		c := NewClass(t, SiteA, 1, 5, false)
		for _, n := range []int{2, 1} {
			e, err := enrollment.Enroll(c, enrollment.New{ID: ID("e1000000", n), SiteID: SiteA, ParticipantID: ID("b0000000", n)}, nil, T0)
			if err != nil {
				return err
			}
			if err := tx.SaveEnrollment(ctx, e); err != nil {
				return err
			}
		}
		return tx.SaveClass(ctx, c)
	})
	walk := func(tx application.ReadTx) {
		var ids []string
		for after := (domain.ID{}); ; {
			page, err := tx.AppointmentsAfter(ctx, SiteA, after, 2)
			require.NoError(t, err)
			if len(page) == 0 {
				break
			}
			require.LessOrEqual(t, len(page), 2)
			for _, a := range page {
				assert.Equal(t, SiteA, a.SiteID())
				ids = append(ids, a.ID().String())
			}
			after = page[len(page)-1].ID()
		}
		assert.Equal(t, []string{ID("a1000000", 1).String(), ID("a1000000", 2).String(), ID("a1000000", 3).String(), ID("a1000000", 4).String(), ID("a1000000", 5).String()}, ids)
		es, err := tx.EnrollmentsAfter(ctx, SiteA, domain.ID{}, 10)
		require.NoError(t, err)
		require.Len(t, es, 2)
		assert.Equal(t, ID("e1000000", 1), es[0].ID())
		none, err := tx.EnrollmentsAfter(ctx, SiteB, domain.ID{}, 10)
		require.NoError(t, err)
		assert.Empty(t, none, "another site's enrollments are not listed")
		first, err := tx.SiteAfter(ctx, domain.SiteID{})
		require.NoError(t, err)
		second, err := tx.SiteAfter(ctx, first)
		require.NoError(t, err)
		assert.ElementsMatch(t, []string{SiteA.String(), SiteB.String()}, []string{first.String(), second.String()})
		assert.Less(t, first.String(), second.String())
		_, err = tx.SiteAfter(ctx, second)
		assert.ErrorIs(t, err, application.ErrNotFound)
	}
	require.NoError(t, h.Store.View(ctx, func(ctx context.Context, tx application.ReadTx) error { walk(tx); return nil }))
	require.NoError(t, h.Store.Update(ctx, func(ctx context.Context, tx application.Tx) error { walk(tx); return nil }))
}
