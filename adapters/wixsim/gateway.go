package wixsim

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bookable/lifecycle/application"
)

// ErrConnectionDropped is the transport error the in-process gateway
// returns where the HTTP server would drop the connection. It is not a
// *application.GatewayError, so the relay classifies it as retryable.
var ErrConnectionDropped = errors.New("wixsim: connection dropped")

var _ application.Gateway = (*Sim)(nil)

// Report reports events of one trigger on a site, in-process, with the same
// rules and faults as POST /automations/v1/events/report (one event) and
// /bulk-report (more). Each event's idempotency key is sent with Wix's
// default TTL of one week.
func (s *Sim) Report(ctx context.Context, siteID, triggerKey string, events []application.ReportEvent) ([]error, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("wixsim: report: %w", err)
	}
	req := request{endpoint: EndpointReport, site: siteID, triggerKey: triggerKey}
	if len(events) != 1 {
		req.endpoint = EndpointBulkReport
	}
	for _, e := range events {
		info := eventInfo{Payload: e.Payload, ExternalEntityID: e.ExternalEntityID}
		if e.IdempotencyKey != "" {
			info.Idempotency = &idempotencyInfo{Key: e.IdempotencyKey}
		}
		req.events = append(req.events, info)
	}
	return gatewayResult(ctx, s.process(ctx, req))
}

// Cancel cancels the events of one trigger for externalEntityIDs on a site,
// in-process, with the same rules and faults as POST
// /automations/v1/events/cancel (one ID) and /bulk-cancel (more).
func (s *Sim) Cancel(ctx context.Context, siteID, triggerKey string, externalEntityIDs []string) ([]error, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("wixsim: cancel: %w", err)
	}
	req := request{endpoint: EndpointCancel, site: siteID, triggerKey: triggerKey,
		entityIDs: append([]string(nil), externalEntityIDs...)}
	if len(externalEntityIDs) != 1 {
		req.endpoint = EndpointBulkCancel
	}
	return gatewayResult(ctx, s.process(ctx, req))
}

// gatewayResult turns an outcome into the port's results.
func gatewayResult(ctx context.Context, out outcome) ([]error, error) {
	switch {
	case out.drop:
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("wixsim: %w", err)
		}
		return nil, ErrConnectionDropped
	case out.err != nil:
		code := out.err.code
		if out.err.field != "" {
			code = "" // Wix's validation errors carry no application error code
		}
		return nil, &application.GatewayError{
			Status:     out.err.status,
			Code:       code,
			Message:    out.err.message,
			Permanent:  application.PermanentStatus(out.err.status),
			RetryAfter: time.Duration(retryAfterSeconds(out.err.retryAfter)) * time.Second,
		}
	}
	errs := make([]error, len(out.items))
	for i, it := range out.items {
		if it.errCode != "" {
			errs[i] = &application.GatewayError{Code: it.errCode, Message: it.errMessage, Permanent: application.PermanentItemCode(it.errCode)}
		}
	}
	return errs, nil
}

// retryAfterSeconds is d in whole seconds, rounded up, as Retry-After
// carries it.
func retryAfterSeconds(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	return int((d + time.Second - 1) / time.Second)
}
