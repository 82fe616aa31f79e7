package scenarios

import (
	"context"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/adapters/sqlite"
	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/application/fake"
	"github.com/bookable/lifecycle/domain/appointment"
)

// bigReconcileSize is the site of TestReconcileTenThousandAppointments.
const bigReconcileSize = 10_000

// TestReconcileTenThousandAppointments adopts a site of 10,000 appointments
// booked without lifecycle (no call in the outbox) and reconciles it on
// SQLite: every booking gets its confirmation and reminder, a second run
// queues nothing. It logs the time of each run and the peak heap in use,
// which stays flat because reconcile reads a page at a time (run with -v;
// figures in docs/reliability.md).
func TestReconcileTenThousandAppointments(t *testing.T) {
	ctx := context.Background()
	clock := fake.NewClock(Now)
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "big.db"), sqlite.WithClock(clock))
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	app, err := application.New(application.Config{Store: db, Clock: clock})
	require.NoError(t, err)
	start := time.Now()
	for chunk := 0; chunk < bigReconcileSize; chunk += 1000 {
		require.NoError(t, db.Update(ctx, func(ctx context.Context, tx application.Tx) error {
			for i := chunk; i < chunk+1000; i++ {
				a, err := appointment.Schedule(appointment.New{ID: appointmentID(i),
					SiteID: Site, ContactID: contactID(i % 500), Title: "Haircut",
					Start: at(2*day + time.Duration(i)*time.Minute), End: at(2*day + time.Duration(i)*time.Minute + time.Hour)}, Now)
				if err != nil {
					return err
				}
				if err := tx.SaveAppointment(ctx, a); err != nil {
					return err
				}
			}
			return nil
		}))
	}
	t.Logf("adopted %d appointments in %s", bigReconcileSize, time.Since(start).Round(time.Millisecond))

	run := func() (application.ReconcileSummary, time.Duration, uint64) {
		runtime.GC()
		var base runtime.MemStats
		runtime.ReadMemStats(&base)
		var peak atomic.Uint64
		done := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			var m runtime.MemStats
			for {
				runtime.ReadMemStats(&m)
				if m.HeapInuse > peak.Load() {
					peak.Store(m.HeapInuse)
				}
				select {
				case <-done:
					return
				case <-time.After(5 * time.Millisecond):
				}
			}
		})
		t0 := time.Now()
		sum, err := app.Reconcile.Handle(ctx, application.Reconcile{SiteID: Site}, nil)
		took := time.Since(t0)
		close(done)
		wg.Wait()
		require.NoError(t, err)
		grew := uint64(0)
		if p := peak.Load(); p > base.HeapInuse {
			grew = p - base.HeapInuse
		}
		return sum, took, grew
	}
	sum, took, grew := run()
	assert.Equal(t, bigReconcileSize, sum.Entities)
	assert.Equal(t, 2*bigReconcileSize, sum.Repairs, "a confirmation and a reminder each")
	t.Logf("first reconcile: %d repairs in %s, peak heap in use %.1f MiB above the start", sum.Repairs,
		took.Round(time.Millisecond), float64(grew)/(1<<20))
	stats, err := db.Stats(ctx, Site.String())
	require.NoError(t, err)
	assert.Equal(t, 2*bigReconcileSize, stats[application.StatePending])

	sum, took, grew = run()
	assert.Zero(t, sum.Repairs, "a second run queues nothing")
	t.Logf("second reconcile: %d entities, %d repairs in %s, peak heap in use %.1f MiB above the start",
		sum.Entities, sum.Repairs, took.Round(time.Millisecond), float64(grew)/(1<<20))
}
