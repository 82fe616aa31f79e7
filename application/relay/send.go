package relay

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bookable/lifecycle/application"
)

// The fate of a sent call, decided in one place: delivered, retried with
// backoff, dead, or expired.

// deliver sends one batch as one request, decides each call's outcome from
// its own result, and settles them all in one write.
func (r *Relay) deliver(ctx context.Context, b *batch) batchResult {
	now := r.cfg.Clock.Now()
	outcomes := make([]application.Outcome, 0, len(b.calls))
	of := make([]application.Call, 0, len(b.calls)) // of[i] is the call of outcomes[i]
	send := make([]application.Call, 0, len(b.calls))
	for _, c := range b.calls {
		if isExpired(c, now) {
			outcomes, of = append(outcomes, expiredOutcome(c, now)), append(of, c)
		} else {
			send = append(send, c)
		}
	}
	if len(send) > 0 {
		rctx, cancel := context.WithDeadline(ctx, b.deadline)
		results, err := r.send(rctx, b, send)
		cancel()
		r.metrics.requests.Add(1)
		at := r.cfg.Clock.Now()
		stopped := err != nil && ctx.Err() != nil
		if err != nil {
			r.metrics.failedRequests.Add(1)
			r.log.Warn("relay: request failed", "site", b.site, "kind", b.kind, "trigger", b.trigger,
				"items", len(send), "err", err)
			if abandoned(err) {
				// Cut off before Wix answered: Wix may still act on the
				// request. Its keys stay held for LeaseMargin more, as a
				// lease running out would hold them, so that the next call
				// of a key cannot overtake it.
				time.Sleep(r.cfg.LeaseMargin)
			}
		}
		for i, c := range send {
			itemErr := err
			if itemErr == nil {
				itemErr = results[i]
			}
			outcomes, of = append(outcomes, r.outcome(c, itemErr, stopped, at)), append(of, c)
		}
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
	defer cancel()
	res := batchResult{calls: b.calls}
	if err := r.cfg.Outbox.Settle(sctx, outcomes); err != nil {
		// The calls stay leased; after the lease they are claimed and sent
		// again (a report with its same idempotency key).
		r.metrics.settleErrors.Add(1)
		res.err = fmt.Errorf("relay: settle %d calls of %s %s %s: %w", len(outcomes), b.site, b.kind, b.trigger, err)
		return res
	}
	for i, o := range outcomes {
		c := of[i]
		switch o.State {
		case application.StateDelivered:
			r.metrics.delivered.Add(1)
			r.metrics.latency.observe(o.At.Sub(c.CreatedAt))
		case application.StateDead:
			r.metrics.dead.Add(1)
			r.log.Warn("relay: dead letter", "site", c.SiteID, "call", c.ID, "kind", c.Kind,
				"trigger", c.TriggerKey, "entity", c.ExternalEntityID, "err", o.Err)
		case application.StateExpired:
			r.metrics.expired.Add(1)
		case application.StatePending:
			r.metrics.retried.Add(1)
			if res.retryAt.IsZero() || o.NextAttemptAt.Before(res.retryAt) {
				res.retryAt = o.NextAttemptAt
			}
		}
	}
	return res
}

// send makes the gateway request for calls of one group and returns one
// result per call.
func (r *Relay) send(ctx context.Context, g *batch, calls []application.Call) ([]error, error) {
	var (
		results []error
		err     error
	)
	switch g.kind {
	case application.KindReport:
		events := make([]application.ReportEvent, len(calls))
		for i, c := range calls {
			events[i] = application.ReportEvent{ExternalEntityID: c.ExternalEntityID, Payload: c.Payload, IdempotencyKey: c.ID}
		}
		results, err = r.cfg.Gateway.Report(ctx, g.site, g.trigger, events)
	case application.KindCancel:
		ids := make([]string, len(calls))
		for i, c := range calls {
			ids[i] = c.ExternalEntityID
		}
		results, err = r.cfg.Gateway.Cancel(ctx, g.site, g.trigger, ids)
	default:
		return nil, &application.GatewayError{Message: fmt.Sprintf("unknown call kind %q", g.kind), Permanent: true}
	}
	if err == nil && len(results) != len(calls) {
		// A broken adapter: nothing is known to have succeeded. Retrying is
		// harmless (reports carry their idempotency key, cancels repeat).
		err = fmt.Errorf("gateway returned %d results for %d items", len(results), len(calls))
	}
	return results, err
}

// outcome decides a sent call's fate from its result.
func (r *Relay) outcome(c application.Call, err error, stopped bool, at time.Time) application.Outcome {
	o := application.Outcome{ID: c.ID, Seq: c.Seq, Token: c.Lease.Token, Attempted: true, At: at}
	if err == nil {
		o.State = application.StateDelivered
		return o
	}
	ce, permanent, retryAfter := application.Classify(err)
	o.Err = ce
	switch {
	case stopped:
		// Cut off by the relay's own stop: due again at once.
		o.State = application.StatePending
		o.NextAttemptAt = at
		o.Err = &application.CallError{Message: "relay stopped during the request: " + ce.Message}
	case permanent:
		o.State = application.StateDead
	default:
		o.State = application.StatePending
		o.NextAttemptAt = at.Add(max(r.backoff(c.Attempts), retryAfter))
	}
	return o
}

// backoff returns the wait after a call's attempt number failed+1: a random
// time in [d/2, d), d = min(BackoffMax, BackoffBase*2^failed).
func (r *Relay) backoff(failed int) time.Duration {
	d := r.cfg.BackoffMax
	if failed < 62 {
		if x := r.cfg.BackoffBase << failed; x > 0 && x < d {
			d = x
		}
	}
	j := min(max(r.cfg.Jitter(), 0), 1)
	return d/2 + time.Duration(j*float64(d/2))
}

// isExpired: a scheduled report whose date-time is not after now. Wix takes
// only future date-times, and an automation for a passed moment must not run.
func isExpired(c application.Call, now time.Time) bool {
	return c.Kind == application.KindReport && !c.ScheduledAt.IsZero() && !c.ScheduledAt.After(now)
}

func expiredOutcome(c application.Call, now time.Time) application.Outcome {
	return application.Outcome{ID: c.ID, Seq: c.Seq, Token: c.Lease.Token, State: application.StateExpired, At: now, Err: &application.CallError{
		Message: fmt.Sprintf("scheduled for %s, which had passed when the report came due", c.ScheduledAt.UTC().Format(time.RFC3339)),
	}}
}

// abandoned: a request failed because lifecycle gave up waiting (a timeout,
// or its own stop), not because Wix answered or closed the connection, so
// Wix may still be processing it.
func abandoned(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return true
	}
	// A transport timeout (net.Error), told by its method alone: the
	// application layer does no network I/O of its own.
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}
