package sqlite_test

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/application/storetest"
	"github.com/bookable/lifecycle/domain/appointment"
)

// BenchmarkUpdateParallel is a sanity check of the group commit: 64
// concurrent callers each save a new appointment and enqueue 3 calls per
// Update, with synchronous=FULL. The performance work adds the real suite.
func BenchmarkUpdateParallel(b *testing.B) {
	db := open(b)
	var n atomic.Int64
	b.SetParallelism(64 / max(1, testingProcs()))
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := int(n.Add(1))
			if err := db.Update(context.Background(), func(ctx context.Context, tx application.Tx) error {
				a, err := appointment.Schedule(appointment.New{
					ID: storetest.ID("a1000000", i), SiteID: storetest.SiteA, ContactID: storetest.ID("c0000000", i),
					Title: "bench", Start: storetest.T0.Add(48 * time.Hour), End: storetest.T0.Add(49 * time.Hour),
				}, storetest.T0)
				if err != nil {
					return err
				}
				if err := tx.SaveAppointment(ctx, a); err != nil {
					return err
				}
				calls := make([]application.Call, 3)
				for k := range calls {
					calls[k] = newCall(storetest.SiteA, 3*i+k, a.ID(), application.KindReport, fmt.Sprintf("t%d", k))
				}
				return tx.Enqueue(ctx, calls)
			}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "cmds/s")
	s := db.WriterStats()
	b.ReportMetric(float64(s.Writes)/float64(max(1, s.Batches)), "cmds/batch")
}

func testingProcs() int { return runtime.GOMAXPROCS(0) }
