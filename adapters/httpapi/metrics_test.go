package httpapi_test

import (
	"bufio"
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/adapters/httpapi"
	"github.com/bookable/lifecycle/application/relay"
)

var (
	// sampleLine is one sample of the Prometheus text format: a metric
	// name, optional labels and a value.
	sampleLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*")*\})? (\S+)$`)
	// typeLine declares a metric family's type.
	typeLine = regexp.MustCompile(`^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$`)
	helpLine = regexp.MustCompile(`^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) .+$`)
)

// parseMetrics parses a Prometheus text exposition strictly enough for
// tests: every line is a HELP, a TYPE or a sample of a declared family with
// a float value. It returns the samples by name plus labels.
func parseMetrics(t *testing.T, body []byte) map[string]float64 {
	t.Helper()
	families := map[string]string{}
	samples := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if m := typeLine.FindStringSubmatch(line); m != nil {
			families[m[1]] = m[2]
			continue
		}
		if helpLine.MatchString(line) {
			continue
		}
		m := sampleLine.FindStringSubmatch(line)
		require.NotNil(t, m, "not a Prometheus text line: %q", line)
		family := m[1]
		if families[family] == "" {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if base, ok := strings.CutSuffix(family, suffix); ok && families[base] == "histogram" {
					family = base
				}
			}
		}
		require.NotEmpty(t, families[family], "sample %q before its # TYPE", line)
		v, err := strconv.ParseFloat(m[3], 64)
		require.NoError(t, err, "value of %q", line)
		key := m[1] + m[2]
		_, dup := samples[key]
		require.False(t, dup, "duplicate series %s", key)
		samples[key] = v
	}
	require.NoError(t, sc.Err())
	return samples
}

func TestMetrics(t *testing.T) {
	counters := relay.Metrics{
		Delivered: 7, Retried: 3, Dead: 2, Expired: 1, Deferred: 4, Requests: 9, FailedRequests: 2, SettleErrors: 0, LeasesLost: 1,
		DeliveryLatency: relay.Histogram{Bounds: []float64{0.1, 1, 10}, Counts: []uint64{2, 5, 6}, Count: 7, Sum: 12.5},
	}
	h := newHarness(t, func(o *options) { o.metrics = func() relay.Metrics { return counters } })
	a := ok[httpapi.Appointment](t, h.do("POST", "/v1/sites/"+site+"/appointments", apptBody("", day, day+time.Hour)), 201)
	problem(t, h.do("POST", "/v1/sites/"+site+"/appointments", "{"), 400, httpapi.CodeInvalidArgument)
	ok[httpapi.Appointment](t, h.do("POST", "/v1/sites/"+site+"/appointments/"+a.ID+"/cancel", nil), 200)
	problem(t, h.do("POST", "/v1/sites/"+site+"/appointments/"+a.ID+"/cancel", nil), 409, httpapi.CodeTransitionNotAllowed)
	ok[httpapi.Appointment](t, h.do("GET", "/v1/sites/"+site+"/appointments/"+a.ID, nil), 200)
	h.kill(h.calls()[2].ID) // the cancel's report; the booking's reports were superseded

	r := h.do("GET", "/metrics", nil)
	require.Equal(t, 200, r.status, "body: %s", r.body)
	assert.Equal(t, "text/plain; version=0.0.4; charset=utf-8", r.header.Get("Content-Type"))
	m := parseMetrics(t, r.body)

	want := map[string]float64{
		`lifecycle_commands_total{command="schedule_appointment",outcome="ok"}`:                   1,
		`lifecycle_commands_total{command="schedule_appointment",outcome="invalid_argument"}`:     1,
		`lifecycle_commands_total{command="cancel_appointment",outcome="ok"}`:                     1,
		`lifecycle_commands_total{command="cancel_appointment",outcome="transition_not_allowed"}`: 1,
		`lifecycle_outbox_calls{state="pending"}`:                                                 2,
		`lifecycle_outbox_calls{state="superseded"}`:                                              2,
		`lifecycle_outbox_calls{state="dead"}`:                                                    1,
		`lifecycle_outbox_calls{state="delivered"}`:                                               0,
		`lifecycle_outbox_calls{state="expired"}`:                                                 0,
		`lifecycle_outbox_calls{state="discarded"}`:                                               0,
		`lifecycle_outbox_depth`:                                                                  2,
		`lifecycle_relay_delivered_total`:                                                         7,
		`lifecycle_relay_retries_total`:                                                           3,
		`lifecycle_relay_dead_letters_total`:                                                      2,
		`lifecycle_relay_expired_total`:                                                           1,
		`lifecycle_relay_deferred_total`:                                                          4,
		`lifecycle_relay_requests_total`:                                                          9,
		`lifecycle_relay_failed_requests_total`:                                                   2,
		`lifecycle_relay_settle_errors_total`:                                                     0,
		`lifecycle_relay_leases_lost_total`:                                                       1,
		`lifecycle_relay_delivery_latency_seconds_bucket{le="0.1"}`:                               2,
		`lifecycle_relay_delivery_latency_seconds_bucket{le="1"}`:                                 5,
		`lifecycle_relay_delivery_latency_seconds_bucket{le="10"}`:                                6,
		`lifecycle_relay_delivery_latency_seconds_bucket{le="+Inf"}`:                              7,
		`lifecycle_relay_delivery_latency_seconds_sum`:                                            12.5,
		`lifecycle_relay_delivery_latency_seconds_count`:                                          7,
	}
	assert.Equal(t, want, m, "queries are not commands and are not counted")
}

func TestMetricsWithoutRelay(t *testing.T) {
	h := newHarness(t)
	r := h.do("GET", "/metrics", nil)
	require.Equal(t, 200, r.status)
	m := parseMetrics(t, r.body)
	assert.Equal(t, float64(0), m["lifecycle_outbox_depth"])
	for name := range m {
		assert.False(t, strings.HasPrefix(name, "lifecycle_relay_"), "no relay, no relay series: %s", name)
	}
}
