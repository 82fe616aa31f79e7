package httpapi_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/adapters/httpapi"
	"github.com/bookable/lifecycle/adapters/sqlite"
	"github.com/bookable/lifecycle/adapters/wixsim/wixsimtest"
	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/domain"
	"github.com/bookable/lifecycle/domain/appointment"
)

// BenchmarkRefreshPayload answers Wix's Refresh Payload over HTTP, JWT
// verification included, on the embedded default with
// LIFECYCLE_BENCH_APPOINTMENTS appointments stored (default 1,000,000; the
// database is built once, in the test's temporary directory), for random
// appointments. It reports the median and the 99th percentile latency:
//
//	go test -run '^$' -bench RefreshPayload -benchtime 5000x ./adapters/httpapi/
func BenchmarkRefreshPayload(b *testing.B) {
	n := 1_000_000
	if v := os.Getenv("LIFECYCLE_BENCH_APPOINTMENTS"); v != "" {
		var err error
		n, err = strconv.Atoi(v)
		require.NoError(b, err, "LIFECYCLE_BENCH_APPOINTMENTS")
	}
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "refresh.db"), sqlite.WithSynchronous(true))
	require.NoError(b, err)
	b.Cleanup(func() { _ = db.Close() })
	start := t0.Add(30 * 24 * time.Hour)
	id := func(i int) string { return fmt.Sprintf("a0000000-0000-4000-8000-%012d", i) }
	const chunk = 5000
	for from := 0; from < n; from += chunk {
		require.NoError(b, db.Update(ctx, func(ctx context.Context, tx application.Tx) error {
			for i := from; i < min(from+chunk, n); i++ {
				a, err := appointment.Schedule(appointment.New{ID: domain.MustID(id(i)), SiteID: domain.MustSiteID(site), ContactID: domain.MustID(contact), Title: "Haircut",
					Start: start, End: start.Add(time.Hour)}, t0)
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
	app, err := application.New(application.Config{Store: db})
	require.NoError(b, err)
	keys := wixsimtest.NewKeyPair(b)
	pub, err := httpapi.ParsePublicKey(keys.PublicPEM)
	require.NoError(b, err)
	api, err := httpapi.New(httpapi.Config{App: app, Outbox: db,
		TriggerProvider: &httpapi.TriggerProvider{PublicKey: pub, AppID: appID}})
	require.NoError(b, err)
	srv := httptest.NewServer(api)
	b.Cleanup(srv.Close)
	payload := fmt.Sprintf(`{"appointmentId":"%%s","contactId":"%s","title":"Haircut","startsAt":"%s","endsAt":"%s"}`,
		contact, start.Format(time.RFC3339), start.Add(time.Hour).Format(time.RFC3339))
	token := func(i int) string {
		now := time.Now()
		s, err := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
			"iss": "wix.com", "aud": appID, "iat": now.Unix(), "exp": now.Add(time.Minute).Unix(),
			"data": map[string]any{
				"request": map[string]any{"triggerKey": "appointment_starting", "externalEntityId": id(i),
					"payload": jsonRaw(fmt.Sprintf(payload, id(i)))},
				"metadata": map[string]any{"instanceId": site},
			},
		}).SignedString(keys.Private)
		require.NoError(b, err)
		return s
	}
	tokens := make([]string, 256)
	for i := range tokens {
		tokens[i] = token((i * 7919) % n)
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t := time.Now()
		resp, err := http.Post(srv.URL+httpapi.RefreshPayloadPath, "text/plain", bytes.NewReader([]byte(tokens[i%len(tokens)])))
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		lat = append(lat, time.Since(t))
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(n), "appointments")
}

type jsonRaw string

func (j jsonRaw) MarshalJSON() ([]byte, error) { return []byte(j), nil }
