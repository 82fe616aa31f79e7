package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/bookable/lifecycle/adapters/sqlite"
	"github.com/bookable/lifecycle/adapters/wix"
	"github.com/bookable/lifecycle/adapters/wixsim"
	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/application/relay"
	"github.com/bookable/lifecycle/domain"
)

// benchCommands are the commands a bench mix may name.
var benchCommands = []string{"schedule", "reschedule", "cancel", "enroll", "leave"}

// benchConfig is what 'lifecycle bench' runs.
type benchConfig struct {
	concurrency  int
	duration     time.Duration
	mix          []mixEntry
	dbPath       string
	syncNormal   bool
	maxBatch     int
	gateway      string
	relayWorkers int
	sites        int
	progress     time.Duration
}

// mixEntry is one command of the mix and its weight.
type mixEntry struct {
	name   string
	weight int
}

func runBench(ctx context.Context, args []string, out, errOut io.Writer, getenv env) error {
	fs := newFlags("bench", "bench [--concurrency N] [--duration D] [--mix schedule=60,cancel=20,enroll=20] [flags]", out)
	var cfg benchConfig
	fs.IntVar(&cfg.concurrency, "concurrency", 64, "commands in flight at once (callers)")
	fs.DurationVar(&cfg.duration, "duration", 10*time.Second, "how long to send commands")
	mix := fs.String("mix", "schedule=60,cancel=20,enroll=20", "commands and their weights: "+strings.Join(benchCommands, ", ")+
		" (cancel, reschedule and leave act on what the caller scheduled or enrolled before; with nothing to act on, they schedule or enroll)")
	fs.StringVar(&cfg.dbPath, "db", "", "SQLite database file (default: a new file in a temp directory, removed afterwards)")
	fs.BoolVar(&cfg.syncNormal, "sync-normal", false, "SQLite synchronous=NORMAL: faster commits that a power loss may undo (default FULL)")
	fs.IntVar(&cfg.maxBatch, "max-batch", 128, "most commands the SQLite writer commits in one transaction")
	fs.StringVar(&cfg.gateway, "gateway", "noop", "where the relay delivers: noop (in process, does nothing), wixsim (the simulator over loopback HTTP), none (no relay)")
	fs.IntVar(&cfg.relayWorkers, "relay-workers", relay.DefaultWorkers, "relay requests in flight at once")
	fs.IntVar(&cfg.sites, "sites", 4, "sites the commands are spread over")
	fs.DurationVar(&cfg.progress, "progress", time.Second, "how often the progress line is redrawn")
	if err := parse(fs, args, getenv); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError("unexpected arguments %v", fs.Args())
	}
	var err error
	if cfg.mix, err = parseMix(*mix); err != nil {
		return usageError("--mix: %v", err)
	}
	switch {
	case cfg.concurrency < 1:
		return usageError("--concurrency must be at least 1")
	case cfg.duration <= 0:
		return usageError("--duration must be positive")
	case cfg.maxBatch < 1:
		return usageError("--max-batch must be at least 1")
	case cfg.relayWorkers < 1:
		return usageError("--relay-workers must be at least 1")
	case cfg.sites < 1:
		return usageError("--sites must be at least 1")
	case cfg.progress <= 0:
		return usageError("--progress must be positive")
	case cfg.gateway != "noop" && cfg.gateway != "wixsim" && cfg.gateway != "none":
		return usageError("--gateway must be noop, wixsim or none")
	}
	return bench(ctx, cfg, out, errOut)
}

// parseMix reads "schedule=60,cancel=20,enroll=20".
func parseMix(s string) ([]mixEntry, error) {
	var mix []mixEntry
	seen := map[string]bool{}
	for _, part := range strings.Split(s, ",") {
		name, w, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return nil, fmt.Errorf("%q is not command=weight", part)
		}
		known := false
		for _, c := range benchCommands {
			known = known || c == name
		}
		if !known {
			return nil, fmt.Errorf("unknown command %q (known: %s)", name, strings.Join(benchCommands, ", "))
		}
		if seen[name] {
			return nil, fmt.Errorf("%s given twice", name)
		}
		seen[name] = true
		weight, err := strconv.Atoi(w)
		if err != nil || weight < 0 {
			return nil, fmt.Errorf("weight of %s must be a whole number, not %q", name, w)
		}
		if weight > 0 {
			mix = append(mix, mixEntry{name, weight})
		}
	}
	if len(mix) == 0 {
		return nil, errors.New("no command has a weight")
	}
	return mix, nil
}

// benchStats is what the callers count, read live by the progress line.
type benchStats struct {
	done    atomic.Int64
	refused atomic.Int64 // commands the domain refused (a full class)
	byName  sync.Map     // command name -> *atomic.Int64
	peak    peakMemory
}

func (s *benchStats) count(name string) {
	v, _ := s.byName.LoadOrStore(name, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}

func bench(ctx context.Context, cfg benchConfig, out, errOut io.Writer) error {
	dbPath := cfg.dbPath
	if dbPath == "" {
		dir, err := os.MkdirTemp("", "lifecycle-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		dbPath = filepath.Join(dir, "bench.db")
	}
	db, err := sqlite.Open(ctx, dbPath, sqlite.WithSynchronous(cfg.syncNormal), sqlite.WithMaxBatch(cfg.maxBatch))
	if err != nil {
		return err
	}
	defer db.Close()
	wake := application.NewSignal()
	app, err := application.New(application.Config{Store: db, Wake: wake})
	if err != nil {
		return err
	}
	var rl *relay.Relay
	if cfg.gateway != "none" {
		gw, stopGateway, err := benchGateway(cfg.gateway, app.Catalog())
		if err != nil {
			return err
		}
		defer stopGateway()
		rl, err = relay.New(relay.Config{Outbox: db, Gateway: gw, Wake: wake,
			Workers: cfg.relayWorkers, RequestsPerMinute: relay.NoRateLimit})
		if err != nil {
			return err
		}
	}
	syncMode := "FULL"
	if cfg.syncNormal {
		syncMode = "NORMAL"
	}
	fmt.Fprintf(out, "lifecycle bench: %d callers for %s, mix %s, synchronous=%s, max batch %d, relay to %s, db %s\n",
		cfg.concurrency, cfg.duration, mixString(cfg.mix), syncMode, cfg.maxBatch, cfg.gateway, dbPath)

	stats := &benchStats{}
	stats.peak.sample()
	relayCtx, stopRelay := context.WithCancel(context.Background())
	defer stopRelay()
	relayDone := make(chan error, 1)
	if rl != nil {
		go func() { relayDone <- rl.Run(relayCtx) }()
	} else {
		relayDone <- nil
	}

	runCtx, stop := context.WithTimeout(ctx, cfg.duration)
	defer stop()
	sites := make([]domain.SiteID, cfg.sites)
	for i := range sites {
		sites[i] = domain.MustSiteID(uuid.NewString())
	}
	start := time.Now()
	hists := make([]*latencyHistogram, cfg.concurrency)
	errs := make(chan error, cfg.concurrency)
	var wg sync.WaitGroup
	for i := range cfg.concurrency {
		hists[i] = &latencyHistogram{}
		c := &benchCaller{app: app, mix: cfg.mix, site: sites[i%len(sites)], stats: stats, hist: hists[i],
			rnd: rand.New(rand.NewPCG(uint64(i), uint64(start.UnixNano())))}
		wg.Go(func() {
			if err := c.run(runCtx); err != nil {
				errs <- err
				stop()
			}
		})
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	ticker := time.NewTicker(cfg.progress)
	defer ticker.Stop()
	progress := func() {
		elapsed := time.Since(start)
		line := fmt.Sprintf("%6.1fs  %9d commands  %8.0f commands/s", elapsed.Seconds(), stats.done.Load(),
			float64(stats.done.Load())/elapsed.Seconds())
		if rl != nil {
			line += fmt.Sprintf("  relay %9d delivered", rl.Metrics().Delivered)
		}
		fmt.Fprintf(errOut, "\r%s  heap %6.1f MiB", line, mib(stats.peak.heapNow()))
	}
wait:
	for {
		select {
		case <-finished:
			break wait
		case <-ticker.C:
			stats.peak.sample()
			progress()
		}
	}
	elapsed := time.Since(start)
	stats.peak.sample()
	progress()
	fmt.Fprintln(errOut)
	var delivered uint64
	var pending int
	if rl != nil {
		delivered = rl.Metrics().Delivered
		counts, err := db.Stats(context.Background(), "")
		if err != nil {
			return err
		}
		pending = counts[application.StatePending]
	}
	stopRelay()
	if err := <-relayDone; err != nil {
		return fmt.Errorf("relay: %w", err)
	}
	select {
	case err := <-errs:
		return err
	default:
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}

	var all latencyHistogram
	for _, h := range hists {
		all.merge(h)
	}
	n := stats.done.Load()
	var parts []string
	for _, m := range cfg.mix {
		if v, ok := stats.byName.Load(m.name); ok {
			parts = append(parts, fmt.Sprintf("%s %d", m.name, v.(*atomic.Int64).Load()))
		}
	}
	fmt.Fprintf(out, "commands   %d in %s: %.0f commands/s (%s; refused %d)\n", n, elapsed.Round(time.Millisecond),
		float64(n)/elapsed.Seconds(), strings.Join(parts, ", "), stats.refused.Load())
	fmt.Fprintf(out, "latency    p50 %s  p99 %s  max %s\n", all.quantile(0.50), all.quantile(0.99), all.max.Round(time.Microsecond))
	ws := db.WriterStats()
	fmt.Fprintf(out, "writer     %d transactions, %.1f writes per transaction, largest %d\n", ws.Batches,
		float64(ws.Writes)/float64(max(1, ws.Batches)), ws.MaxBatch)
	if rl != nil {
		fmt.Fprintf(out, "relay      %d calls delivered: %.0f calls/s to %s, %d pending at the end\n", delivered,
			float64(delivered)/elapsed.Seconds(), cfg.gateway, pending)
	}
	line := fmt.Sprintf("memory     peak Go heap %.1f MiB, Go runtime %.1f MiB", mib(stats.peak.heap), mib(stats.peak.sys))
	if rss, ok := peakRSS(); ok {
		line += fmt.Sprintf(", peak RSS %.1f MiB", mib(rss))
	}
	fmt.Fprintln(out, line)
	return nil
}

func mixString(mix []mixEntry) string {
	parts := make([]string, len(mix))
	for i, m := range mix {
		parts[i] = fmt.Sprintf("%s=%d", m.name, m.weight)
	}
	return strings.Join(parts, ",")
}

// benchGateway returns the gateway the relay delivers to, and how to stop it.
func benchGateway(name string, catalog *application.Catalog) (application.Gateway, func(), error) {
	if name == "noop" {
		return noopGateway{}, func() {}, nil
	}
	sim := wixsim.New(nil)
	if err := sim.RegisterTriggers(catalog); err != nil {
		return nil, nil, err
	}
	srv := sim.NewServer()
	gw, err := wix.New(wix.Config{BaseURL: srv.URL, AppID: "wixsim-app", AppSecret: "wixsim-secret", Version: version})
	if err != nil {
		srv.Close()
		return nil, nil, err
	}
	return gw, srv.Close, nil
}

// noopGateway accepts every item and does nothing: the relay's and the
// outbox's own cost.
type noopGateway struct{}

func (noopGateway) Report(_ context.Context, _, _ string, events []application.ReportEvent) ([]error, error) {
	return make([]error, len(events)), nil
}

func (noopGateway) Cancel(_ context.Context, _, _ string, ids []string) ([]error, error) {
	return make([]error, len(ids)), nil
}

// benchCaller sends commands one after another.
type benchCaller struct {
	app          *application.App
	mix          []mixEntry
	site         domain.SiteID
	stats        *benchStats
	hist         *latencyHistogram
	rnd          *rand.Rand
	appointments []domain.ID // scheduled, not canceled
	enrollments  []domain.ID // active
	class        domain.ID   // the class this caller enrolls in
}

func (c *benchCaller) pick() string {
	total := 0
	for _, m := range c.mix {
		total += m.weight
	}
	n := c.rnd.IntN(total)
	for _, m := range c.mix {
		if n < m.weight {
			return m.name
		}
		n -= m.weight
	}
	return c.mix[len(c.mix)-1].name
}

func (c *benchCaller) run(ctx context.Context) error {
	for ctx.Err() == nil {
		name := c.pick()
		begin := time.Now()
		name, err := c.do(ctx, name)
		if ctx.Err() != nil {
			return nil // cut off by the end of the run: not counted
		}
		var full *domain.ClassFullError
		switch {
		case errors.As(err, &full):
			c.class = domain.ID{} // the next enroll opens a new class
			c.stats.refused.Add(1)
		case err != nil:
			return fmt.Errorf("%s: %w", name, err)
		}
		c.hist.observe(time.Since(begin))
		c.stats.done.Add(1)
		c.stats.count(name)
	}
	return nil
}

// do runs one command and returns the name of the one it ran (cancel with
// nothing to cancel schedules instead).
func (c *benchCaller) do(ctx context.Context, name string) (string, error) {
	app := c.app
	start := time.Now().UTC().Add(48*time.Hour + time.Duration(c.rnd.IntN(10_000))*time.Minute).Truncate(time.Minute)
	switch name {
	case "reschedule", "cancel":
		if len(c.appointments) == 0 {
			break
		}
		id := c.appointments[c.rnd.IntN(len(c.appointments))]
		if name == "reschedule" {
			_, err := app.RescheduleAppointment.Handle(ctx, application.RescheduleAppointment{SiteID: c.site, ID: id,
				StartsAt: start, EndsAt: start.Add(time.Hour)})
			return name, err
		}
		c.appointments = remove(c.appointments, id)
		_, err := app.CancelAppointment.Handle(ctx, application.CancelAppointment{SiteID: c.site, ID: id, Reason: "bench"})
		return name, err
	case "leave":
		if len(c.enrollments) == 0 {
			return c.enroll(ctx)
		}
		id := c.enrollments[c.rnd.IntN(len(c.enrollments))]
		c.enrollments = remove(c.enrollments, id)
		_, err := app.Leave.Handle(ctx, application.Leave{SiteID: c.site, EnrollmentID: id})
		return name, err
	case "enroll":
		return c.enroll(ctx)
	}
	v, err := app.ScheduleAppointment.Handle(ctx, application.ScheduleAppointment{SiteID: c.site,
		ContactID: domain.MustID(uuid.NewString()), Title: "Haircut", StartsAt: start, EndsAt: start.Add(time.Hour)})
	if err == nil && len(c.appointments) < 10_000 {
		c.appointments = append(c.appointments, v.ID)
	}
	return "schedule", err
}

func (c *benchCaller) enroll(ctx context.Context) (string, error) {
	if c.class.IsZero() {
		start := time.Now().UTC().Add(72 * time.Hour).Truncate(time.Minute)
		v, err := c.app.ScheduleClass.Handle(ctx, application.ScheduleClass{SiteID: c.site, Title: "Yoga",
			StartsAt: start, EndsAt: start.Add(time.Hour), Capacity: 10_000})
		if err != nil {
			return "enroll", err
		}
		c.class, c.enrollments = v.ID, nil
	}
	v, err := c.app.Enroll.Handle(ctx, application.Enroll{SiteID: c.site, ClassID: c.class, ParticipantID: domain.MustID(uuid.NewString())})
	if err == nil && len(c.enrollments) < 10_000 {
		c.enrollments = append(c.enrollments, v.ID)
	}
	return "enroll", err
}

func remove(ids []domain.ID, id domain.ID) []domain.ID {
	for i, x := range ids {
		if x == id {
			ids[i] = ids[len(ids)-1]
			return ids[:len(ids)-1]
		}
	}
	return ids
}

// latencyHistogram counts durations in buckets of about 6% width (16 per
// power of two), so that quantiles need no list of every sample.
type latencyHistogram struct {
	counts [64 * 16]int64
	n      int64
	max    time.Duration
}

func (h *latencyHistogram) observe(d time.Duration) {
	h.counts[bucketOf(d)]++
	h.n++
	h.max = max(h.max, d)
}

func (h *latencyHistogram) merge(o *latencyHistogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

// quantile returns the upper bound of the bucket holding quantile q.
func (h *latencyHistogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := int64(math.Ceil(q * float64(h.n)))
	var seen int64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(bucketTop(i), h.max).Round(time.Microsecond)
		}
	}
	return h.max
}

// bucketOf maps a duration to its bucket: the position of its highest bit,
// then the next 4 bits.
func bucketOf(d time.Duration) int {
	ns := uint64(max(d, 1))
	hi := bits.Len64(ns) - 1
	if hi < 4 {
		return int(ns) // exact below 16ns
	}
	sub := (ns >> (hi - 4)) & 15
	return hi*16 + int(sub)
}

// bucketTop is the largest duration of bucket i.
func bucketTop(i int) time.Duration {
	hi, sub := i/16, uint64(i%16)
	if hi < 4 {
		return time.Duration(i)
	}
	lo := (uint64(1) << hi) | (sub << (hi - 4))
	return time.Duration(lo + (uint64(1) << (hi - 4)) - 1)
}

// peakMemory tracks the Go heap's high-water mark as sampled.
type peakMemory struct {
	mu        sync.Mutex
	heap, sys uint64
	now       uint64
}

func (p *peakMemory) sample() {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.now = ms.HeapAlloc
	p.heap = max(p.heap, ms.HeapAlloc)
	p.sys = max(p.sys, ms.Sys)
}

func (p *peakMemory) heapNow() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.now
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// peakRSS reads the process's peak resident set size (VmHWM) where the
// system tells it (Linux).
func peakRSS() (uint64, bool) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				return 0, false
			}
			return kb << 10, true
		}
	}
	return 0, false
}
