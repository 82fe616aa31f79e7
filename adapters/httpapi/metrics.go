package httpapi

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/application/outbox"
	"github.com/bookable/lifecycle/application/relay"
)

// MetricsSource returns a snapshot of the relay's counters (typically
// (*relay.Relay).Metrics). It is called on every scrape of /metrics
// and must be safe for concurrent use.
type MetricsSource func() relay.Metrics

// commandCounter counts commands by name and outcome (ok or a problem
// code). It is safe for concurrent use.
type commandCounter struct {
	mu     sync.Mutex
	counts map[[2]string]uint64
}

func newCommandCounter() *commandCounter { return &commandCounter{counts: map[[2]string]uint64{}} }

func (c *commandCounter) add(command, outcome string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.counts[[2]string{command, outcome}]++
}

func (c *commandCounter) snapshot() map[[2]string]uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[[2]string]uint64, len(c.counts))
	for k, v := range c.counts {
		out[k] = v
	}
	return out
}

// metrics: GET /metrics, in the Prometheus text exposition format.
func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	stats, err := s.outbox.Stats(r.Context(), "")
	if err != nil {
		s.problem(w, r, fmt.Errorf("metrics: outbox stats: %w", err))
		return
	}
	var b bytes.Buffer
	writeCommands(&b, s.commands.snapshot())
	writeOutbox(&b, stats)
	if s.provider != nil {
		writeRefresh(&b, &s.refresh)
	}
	if s.relay != nil {
		writeRelay(&b, s.relay())
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b.Bytes())
}

func writeCommands(w io.Writer, counts map[[2]string]uint64) {
	header(w, "lifecycle_commands_total", "counter", "Commands received by the HTTP API, by command and outcome (ok or the problem code).")
	keys := make([][2]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i][0] != keys[j][0] {
			return keys[i][0] < keys[j][0]
		}
		return keys[i][1] < keys[j][1]
	})
	for _, k := range keys {
		sample(w, "lifecycle_commands_total", labels("command", k[0], "outcome", k[1]), float64(counts[k]))
	}
}

func writeOutbox(w io.Writer, stats map[application.CallState]int) {
	header(w, "lifecycle_outbox_calls", "gauge", "Calls in the outbox, by state, across all sites.")
	for _, st := range outbox.States() {
		sample(w, "lifecycle_outbox_calls", labels("state", string(st)), float64(stats[st]))
	}
	header(w, "lifecycle_outbox_depth", "gauge", "Calls waiting to be delivered (pending), across all sites.")
	sample(w, "lifecycle_outbox_depth", "", float64(stats[application.StatePending]))
}

func writeRefresh(w io.Writer, c *refreshCounter) {
	const name = "lifecycle_refresh_payload_total"
	header(w, name, "counter", "Refresh Payload requests from Wix, by answer: payload, cancel, error (the received payload answered as it was) or refused (401).")
	for _, a := range []struct {
		answer string
		n      uint64
	}{{"payload", c.payload.Load()}, {"cancel", c.cancel.Load()}, {"error", c.errors.Load()}, {"refused", c.refused.Load()}} {
		sample(w, name, labels("answer", a.answer), float64(a.n))
	}
}

func writeRelay(w io.Writer, m relay.Metrics) {
	counters := []struct {
		name, help string
		v          uint64
	}{
		{"lifecycle_relay_delivered_total", "Calls Wix accepted.", m.Delivered},
		{"lifecycle_relay_retries_total", "Delivery attempts that failed retryably; the call stays pending.", m.Retried},
		{"lifecycle_relay_dead_letters_total", "Calls Wix refused for good (dead letters).", m.Dead},
		{"lifecycle_relay_expired_total", "Scheduled reports not sent because their time had passed.", m.Expired},
		{"lifecycle_relay_deferred_total", "Calls handed back because their site's rate limit was reached.", m.Deferred},
		{"lifecycle_relay_requests_total", "Requests sent to Wix (a bulk request counts once).", m.Requests},
		{"lifecycle_relay_failed_requests_total", "Requests to Wix that failed as a whole.", m.FailedRequests},
		{"lifecycle_relay_settle_errors_total", "Failed writes of delivery outcomes to the outbox.", m.SettleErrors},
		{"lifecycle_relay_leases_lost_total", "Held calls handed back unsent because their lease was lost or would not outlive a request.", m.LeasesLost},
	}
	for _, c := range counters {
		header(w, c.name, "counter", c.help)
		sample(w, c.name, "", float64(c.v))
	}
	const name = "lifecycle_relay_delivery_latency_seconds"
	h := m.DeliveryLatency
	header(w, name, "histogram", "Time from a call's commit to Wix accepting it.")
	for i, bound := range h.Bounds {
		var n uint64
		if i < len(h.Counts) {
			n = h.Counts[i]
		}
		sample(w, name+"_bucket", labels("le", formatFloat(bound)), float64(n))
	}
	sample(w, name+"_bucket", labels("le", "+Inf"), float64(h.Count))
	sample(w, name+"_sum", "", h.Sum)
	sample(w, name+"_count", "", float64(h.Count))
}

func header(w io.Writer, name, typ, help string) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
}

func sample(w io.Writer, name, labels string, v float64) {
	fmt.Fprintf(w, "%s%s %s\n", name, labels, formatFloat(v))
}

// labels renders name/value pairs as {a="x",b="y"}, escaped as the text
// format demands.
func labels(pairs ...string) string {
	var b strings.Builder
	b.WriteByte('{')
	for i := 0; i+1 < len(pairs); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(pairs[i])
		b.WriteString(`="`)
		b.WriteString(labelEscaper.Replace(pairs[i+1]))
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

func formatFloat(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}
