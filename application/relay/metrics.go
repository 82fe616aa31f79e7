package relay

import (
	"sync"
	"sync/atomic"
	"time"
)

// LatencyBuckets are the upper bounds, in seconds, of the delivery latency
// histogram: from a call's commit to Wix accepting it.
var LatencyBuckets = []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600}

// Metrics is a snapshot of a relay's cumulative counters since it was
// made, for /metrics. Counts are of calls unless named otherwise.
type Metrics struct {
	Delivered uint64 // accepted by Wix
	Retried   uint64 // failed retryably (or cut off by a stop) and left pending
	Dead      uint64 // refused for good
	Expired   uint64 // scheduled reports whose time passed, not sent
	// Deferred counts calls of a throttled site handed back to the outbox,
	// due when the site's rate limit allows.
	Deferred uint64
	// Requests counts gateway requests (a bulk request counts once);
	// FailedRequests those that failed as a whole.
	Requests       uint64
	FailedRequests uint64
	// SettleErrors counts outbox writes of outcomes that failed; those
	// calls are sent again after their lease.
	SettleErrors uint64
	// LeasesLost counts held calls the relay let go unsent because their
	// lease was lost (a renewal refused it) or would not outlive a request;
	// they are claimed again once the lease ends, by this relay or another.
	LeasesLost uint64
	// DeliveryLatency observes, per delivered call, the time from its
	// commit (CreatedAt) to the outcome, on the relay's clock.
	DeliveryLatency Histogram
}

// Histogram is a snapshot of a histogram with fixed buckets, in the shape
// Prometheus exposes: Counts[i] is the number of observations at most
// Bounds[i] seconds (cumulative); Count and Sum (seconds) cover all of them,
// including those above the last bound.
type Histogram struct {
	Bounds []float64
	Counts []uint64
	Count  uint64
	Sum    float64
}

// Metrics returns a snapshot of the relay's counters. It is safe to call
// while the relay runs.
func (r *Relay) Metrics() Metrics {
	m := &r.metrics
	return Metrics{
		Delivered:       m.delivered.Load(),
		Retried:         m.retried.Load(),
		Dead:            m.dead.Load(),
		Expired:         m.expired.Load(),
		Deferred:        m.deferred.Load(),
		Requests:        m.requests.Load(),
		FailedRequests:  m.failedRequests.Load(),
		SettleErrors:    m.settleErrors.Load(),
		LeasesLost:      m.leasesLost.Load(),
		DeliveryLatency: m.latency.snapshot(),
	}
}

type counters struct {
	delivered, retried, dead, expired, deferred atomic.Uint64
	requests, failedRequests, settleErrors      atomic.Uint64
	leasesLost                                  atomic.Uint64
	latency                                     histogram
}

func (m *counters) init() { m.latency.counts = make([]uint64, len(LatencyBuckets)) }

type histogram struct {
	mu     sync.Mutex
	counts []uint64 // per bucket, not cumulative
	count  uint64
	sum    float64
}

func (h *histogram) observe(d time.Duration) {
	v := max(d, 0).Seconds()
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, b := range LatencyBuckets {
		if v <= b {
			h.counts[i]++
			break
		}
	}
	h.count++
	h.sum += v
}

func (h *histogram) snapshot() Histogram {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := Histogram{
		Bounds: append([]float64(nil), LatencyBuckets...),
		Counts: make([]uint64, len(h.counts)),
		Count:  h.count,
		Sum:    h.sum,
	}
	var acc uint64
	for i, n := range h.counts {
		acc += n
		out.Counts[i] = acc
	}
	return out
}
