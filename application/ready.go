package application

import (
	"context"
	"errors"
	"fmt"

	"github.com/bookable/lifecycle/domain"
)

// readyProbeSite and readyProbeID name an appointment that no site has: a
// readiness read that must come back ErrNotFound.
var (
	readyProbeSite = domain.MustSiteID("00000000-0000-4000-8000-000000000000")
	readyProbeID   = domain.MustID("00000000-0000-4000-8000-000000000000")
)

// Ready reports whether the store answers a read: one lookup in a read
// transaction, which finds nothing. For readiness probes.
func (a *App) Ready(ctx context.Context) error {
	err := a.r.view(ctx, func(ctx context.Context, tx ReadTx) error {
		_, err := tx.Appointment(ctx, readyProbeSite, readyProbeID)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("store not ready: %w", err)
	}
	return nil
}
