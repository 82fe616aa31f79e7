package wixsim_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bookable/lifecycle/adapters/wixsim"
	"github.com/bookable/lifecycle/application"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// chromiumPath finds Debian's Chromium, or skips the test saying so.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	t.Skip("chromium not found: install Debian's chromium package (apt-get install -y chromium)")
	return ""
}

// browser starts a headless Chromium with a fresh profile, for at most a
// minute, and returns its tab's context.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := chromiumPath(t)
	profile, err := os.MkdirTemp("", "wixsim-chromium-")
	require.NoError(t, err)
	t.Cleanup(func() {
		// Chromium's children may still write there for a moment after it stops.
		for range 50 {
			if os.RemoveAll(profile) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(profile),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-features", "Translate,OptimizationHints,MediaRouter"),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.WindowSize(1280, 900),
	)
	t.Cleanup(cancelAlloc)
	tab, cancelTab := chromedp.NewContext(alloc)
	t.Cleanup(cancelTab)
	return tab
}

type pageRow struct {
	ID         string `json:"id"`
	Automation string `json:"automation"`
	Entity     string `json:"entity"`
	State      string `json:"state"`
	CanceledBy string `json:"canceledBy"`
	Outcome    string `json:"outcome"`
	Refresh    string `json:"refresh"`
}

const readRows = `[...document.querySelectorAll("tr.activation")].map(r => ({
	id: r.dataset.id, automation: r.dataset.automation, entity: r.dataset.entity, state: r.dataset.state,
	canceledBy: r.dataset.canceledBy, outcome: r.querySelector("td.state").textContent,
	refresh: r.querySelector("td.refresh").textContent}))`

func byEntity(rows []pageRow) map[string]pageRow {
	out := map[string]pageRow{}
	for _, r := range rows {
		out[r.Entity] = r
	}
	return out
}

// TestPageInABrowser loads the page in headless Chromium: each site's
// automations as a timeline, with what ran, what is pending and what was
// canceled by a cancel call or by Refresh Payload; then advances the
// clock with the page's own form. WIXSIM_SHOT=/tmp/page.png saves a
// screenshot of the page at the end, to look at it.
func TestPageInABrowser(t *testing.T) {
	tab := browser(t)

	app := newFakeApp(t, &appKey().PublicKey, func(w http.ResponseWriter, _ *http.Request, c refreshCall) {
		switch c.entityID {
		case id(2):
			_, _ = w.Write([]byte(`{"cancelActivation": true}`))
		case id(3):
			c.payload["title"] = "Intro session (room 2)"
			_ = json.NewEncoder(w).Encode(map[string]any{"payload": c.payload})
		default:
			_, _ = w.Write([]byte(`{}`))
		}
	})
	sim, _ := refreshSimClock(t, app, nil, "appointment_starting")
	for n := 1; n <= 3; n++ {
		reportReminder(t, sim, id(n))
	}
	later := apptPayload(id(4), t0.Add(30*24*time.Hour))
	mustReport(t, sim, siteA, "appointment_starting", application.ReportEvent{ExternalEntityID: id(4), Payload: later})
	mustCancel(t, sim, siteA, "appointment_starting", id(1))
	sim.Advance(48 * time.Hour)

	emu, err := wixsim.NewEmulator(sim, nil)
	require.NoError(t, err)
	srv := httptest.NewServer(emu.Handler())
	defer srv.Close()

	var mu sync.Mutex
	var requested, exceptions []string
	require.NoError(t, chromedp.Listen(tab, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *network.EventRequestWillBeSent:
			requested = append(requested, ev.Request.URL)
		case *runtime.EventExceptionThrown:
			exceptions = append(exceptions, ev.ExceptionDetails.Text)
		}
	}))

	started := time.Now()
	require.NoError(t, chromedp.Do(tab,
		chromedp.Navigate(srv.URL+"/_wixsim/?poll=200"),
		chromedp.WaitVisible(`section.site[data-site="`+siteA+`"] tr.activation`),
	))
	rows, err := chromedp.Run(tab, chromedp.Evaluate[[]pageRow](readRows))
	require.NoError(t, err)
	require.Len(t, rows, 4)
	got := byEntity(rows)
	assert.Equal(t, "canceled by a cancel call", got[id(1)].Outcome)
	assert.Equal(t, "EVENT_CANCELLED", got[id(1)].CanceledBy)
	assert.Equal(t, "canceled by Refresh Payload", got[id(2)].Outcome)
	assert.Equal(t, "CANCELLED_BY_REFRESH_PAYLOAD", got[id(2)].CanceledBy)
	assert.Contains(t, got[id(2)].Refresh, "cancel (HTTP 200)")
	assert.Equal(t, "ran (refreshed payload)", got[id(3)].Outcome)
	assert.Contains(t, got[id(3)].Refresh, "payload (HTTP 200)")
	assert.Equal(t, "pending", got[id(4)].Outcome)

	marks, err := chromedp.Run(tab, chromedp.Evaluate[[]string](
		`[...document.querySelectorAll('.lane[data-automation="reminder 1 day before"] .mark')].map(m => m.className)`))
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"mark canceled", "mark canceled by-refresh", "mark ran refreshed", "mark pending"}, marks,
		"one mark per activation on the automation's lane")
	lanes, err := chromedp.Run(tab, chromedp.Evaluate[[]string](`[...document.querySelectorAll(".lane")].map(l => l.dataset.automation)`))
	require.NoError(t, err)
	assert.Equal(t, []string{"reminder 1 day before", "follow-up", "confirmation"}, lanes, "every automation has a lane")
	clock, err := chromedp.Run(tab, chromedp.Evaluate[string](`document.getElementById("clock").textContent`))
	require.NoError(t, err)
	assert.Equal(t, "2026-11-29 09:00:00Z (frozen)", clock)

	// The page's own form moves the clock; the last reminder's Refresh
	// Payload call is made and the page shows it ran.
	require.NoError(t, chromedp.Do(tab,
		chromedp.SetValue(`#advance`, "720h"),
		chromedp.Click(`#advance-button`),
		chromedp.WaitNotPresent(`tr.activation[data-state="pending"]`),
	))
	rows, err = chromedp.Run(tab, chromedp.Evaluate[[]pageRow](readRows))
	require.NoError(t, err)
	assert.Equal(t, "ran", byEntity(rows)[id(4)].Outcome)
	assert.Contains(t, byEntity(rows)[id(4)].Refresh, "empty (HTTP 200)")
	assert.Equal(t, t0.Add(48*time.Hour+720*time.Hour), sim.Now())
	if shot := os.Getenv("WIXSIM_SHOT"); shot != "" {
		png, err := chromedp.Run(tab, chromedp.FullScreenshot(100))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(shot, png, 0o644))
	}
	t.Logf("page checks took %v after the browser started", time.Since(started).Round(time.Millisecond))

	mu.Lock()
	defer mu.Unlock()
	assert.Empty(t, exceptions, "no script errors")
	require.NotEmpty(t, requested)
	for _, u := range requested {
		assert.True(t, strings.HasPrefix(u, srv.URL+"/_wixsim/"), "the page loads only from the emulator: %s", u)
	}
}
