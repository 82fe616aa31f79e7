package relay_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/application/relay"
)

// noopGateway accepts everything and records nothing.
type noopGateway struct{}

func (noopGateway) Report(_ context.Context, _, _ string, events []application.ReportEvent) ([]error, error) {
	return make([]error, len(events)), nil
}

func (noopGateway) Cancel(_ context.Context, _, _ string, ids []string) ([]error, error) {
	return make([]error, len(ids)), nil
}

// BenchmarkRelayDrainMemory measures the relay's own overhead: draining
// 10,000 pending calls from the memory outbox to a gateway that does
// nothing, batchable (one trigger) or not (a trigger per call).
func BenchmarkRelayDrainMemory(b *testing.B) {
	for _, triggers := range []int{1, 10_000} {
		b.Run(fmt.Sprintf("triggers=%d", triggers), func(b *testing.B) {
			const n = 10_000
			for b.Loop() {
				b.StopTimer()
				e := newRelayEnv(&testing.T{})
				calls := make([]application.Call, n)
				for i := range calls {
					calls[i] = e.call("site-1", e.entities.NewID(), application.KindReport, fmt.Sprintf("t_%d", i%triggers))
				}
				if err := e.store.Update(context.Background(), func(ctx context.Context, tx application.Tx) error {
					return tx.Enqueue(ctx, calls)
				}); err != nil {
					b.Fatal(err)
				}
				r, err := relay.New(relay.Config{Outbox: e.store, Gateway: noopGateway{},
					Clock: e.clock, RequestsPerMinute: relay.NoRateLimit})
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if err := r.Drain(context.Background()); err != nil {
					b.Fatal(err)
				}
				if got := r.Metrics().Delivered; got != n {
					b.Fatalf("delivered %d of %d", got, n)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "calls/s")
		})
	}
}
