// Package wix is the REST client for Wix Automations' triggered events: the
// adapter of application.Gateway that talks to Wix (or to the simulator in
// adapters/wixsim, which speaks the same wire format).
//
// One event goes through POST {base}/automations/v1/events/report (or
// /cancel), more through /bulk-report (or /bulk-cancel), whose results are
// read per item. Requests authenticate with an app-instance access token per
// site, minted by OAuth client credentials and cached until shortly before it
// expires, or with one static token for a single site.
//
// Errors. A non-200 answer is a *application.GatewayError with Wix's status,
// application error code and message; Permanent follows
// application.PermanentStatus (429 and 5xx are retryable) and RetryAfter
// comes from the Retry-After header (seconds or an HTTP date). A 401 re-mints
// the token once and retries; a second 401 is permanent. Transport errors
// and timeouts are returned wrapped, not as GatewayError, so
// application.Classify treats them as retryable.
//
// Per-item failures of bulk calls are *application.GatewayError with Status
// 0 and the item's error code. Rule for their permanence: an item is
// retryable when its code is empty or one of the transient codes UNKNOWN,
// INTERNAL, UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED and ABORTED
// (gRPC's retryable set, which Wix's codes follow), and permanent for any
// other code: an unrecognised refusal goes to the dead letters where an
// operator sees it, instead of blocking its entity with endless retries. An
// item missing from the results is retryable.
//
// Secrets (the app secret, access tokens) never appear in errors or in
// String output; the client logs nothing.
package wix

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/bookable/lifecycle/application"
)

// Defaults of Config.
const (
	DefaultBaseURL        = "https://www.wixapis.com"
	DefaultTimeout        = 30 * time.Second
	DefaultTokenMargin    = 5 * time.Minute
	DefaultIdempotencyTTL = 7 * 24 * time.Hour
)

// maxResponse is the most of a response body the client reads.
const maxResponse = 1 << 20

// ErrConfig marks an invalid Config.
var ErrConfig = errors.New("wix: invalid config")

// Config configures a Client. Either AppID and AppSecret (OAuth client
// credentials, any site) or StaticToken and StaticSiteID (one site) must be
// set, not both.
type Config struct {
	// BaseURL is Wix's API host; DefaultBaseURL when empty. Tests point it
	// at the simulator.
	BaseURL string
	// AppID and AppSecret are the app's OAuth client credentials.
	AppID     string
	AppSecret string
	// StaticToken is a ready access token for StaticSiteID; no token is
	// minted, and a 401 is permanent.
	StaticToken  string
	StaticSiteID string
	// BearerPrefix sends "Authorization: Bearer <token>" instead of the raw
	// token that Wix documents.
	BearerPrefix bool
	// Timeout bounds every HTTP request, token requests included;
	// DefaultTimeout when zero.
	Timeout time.Duration
	// TokenMargin is how long before its expiry a cached token is replaced;
	// DefaultTokenMargin when zero.
	TokenMargin time.Duration
	// IdempotencyTTL is sent as each report's idempotency.ttlInMilliseconds;
	// DefaultIdempotencyTTL (Wix's one week) when zero.
	IdempotencyTTL time.Duration
	// Version goes into the User-Agent "lifecycle/<version>"; "dev" when empty.
	Version string
	// HTTPClient sends the requests; a plain &http.Client{} when nil. Its
	// own Timeout, if any, applies on top of Timeout.
	HTTPClient *http.Client
	// Clock tells token expiry and Retry-After dates; the wall clock when nil.
	Clock application.Clock
}

// String describes the configuration with its secrets redacted, so that a
// Config can be printed or logged.
func (c Config) String() string {
	mode := "oauth app " + c.AppID
	if c.StaticToken != "" {
		mode = "static token for site " + c.StaticSiteID
	}
	return fmt.Sprintf("wix.Config{BaseURL: %q, %s, secret: %s, timeout: %s}", c.BaseURL, mode, redacted(c.AppSecret+c.StaticToken), c.Timeout)
}

// GoString is String, so that %#v does not print secrets either.
func (c Config) GoString() string { return c.String() }

func redacted(s string) string {
	if s == "" {
		return "none"
	}
	return "[redacted]"
}

// Client is the Wix REST gateway. Build one with New; it is safe for
// concurrent use.
type Client struct {
	cfg    Config
	http   *http.Client
	clock  application.Clock
	agent  string
	tokens *tokenCache
}

var _ application.Gateway = (*Client)(nil)

// New returns a client for cfg, or an error wrapping ErrConfig.
func New(cfg Config) (*Client, error) {
	oauth := cfg.AppID != "" || cfg.AppSecret != ""
	static := cfg.StaticToken != "" || cfg.StaticSiteID != ""
	switch {
	case oauth && static:
		return nil, fmt.Errorf("%w: set either app credentials or a static token, not both", ErrConfig)
	case oauth && (cfg.AppID == "" || cfg.AppSecret == ""):
		return nil, fmt.Errorf("%w: OAuth needs both an app ID and an app secret", ErrConfig)
	case static && (cfg.StaticToken == "" || cfg.StaticSiteID == ""):
		return nil, fmt.Errorf("%w: static-token mode needs both the token and its site ID", ErrConfig)
	case !oauth && !static:
		return nil, fmt.Errorf("%w: no credentials", ErrConfig)
	case cfg.Timeout < 0 || cfg.TokenMargin < 0 || cfg.IdempotencyTTL < 0:
		return nil, fmt.Errorf("%w: negative duration", ErrConfig)
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.TokenMargin == 0 {
		cfg.TokenMargin = DefaultTokenMargin
	}
	if cfg.IdempotencyTTL == 0 {
		cfg.IdempotencyTTL = DefaultIdempotencyTTL
	}
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	c := &Client{cfg: cfg, http: cfg.HTTPClient, clock: cfg.Clock, agent: "lifecycle/" + cfg.Version}
	if c.http == nil {
		c.http = &http.Client{}
	}
	if c.clock == nil {
		c.clock = application.SystemClock{}
	}
	c.tokens = newTokenCache()
	return c, nil
}

// String describes the client without its secrets.
func (c *Client) String() string { return "wix.Client(" + c.cfg.String() + ")" }

// Wire bodies.
type (
	idempotency struct {
		Key string `json:"key"`
		TTL string `json:"ttlInMilliseconds"`
	}
	eventInfo struct {
		Payload          json.RawMessage `json:"payload,omitempty"`
		ExternalEntityID string          `json:"externalEntityId,omitempty"`
		Idempotency      *idempotency    `json:"idempotency,omitempty"`
	}
	reportRequest struct {
		TriggerKey string `json:"triggerKey"`
		eventInfo
	}
	bulkReportRequest struct {
		TriggerKey string      `json:"triggerKey"`
		EventsInfo []eventInfo `json:"eventsInfo"`
	}
	cancelRequest struct {
		TriggerKey       string `json:"triggerKey"`
		ExternalEntityID string `json:"externalEntityId"`
	}
	bulkCancelRequest struct {
		TriggerKey        string   `json:"triggerKey"`
		ExternalEntityIDs []string `json:"externalEntityIds"`
	}
	// bulkResponse is the part of a bulk answer the client reads.
	bulkResponse struct {
		Results []struct {
			ItemMetadata struct {
				OriginalIndex *int `json:"originalIndex"`
				Success       bool `json:"success"`
				Error         *struct {
					Code        string `json:"code"`
					Description string `json:"description"`
				} `json:"error"`
			} `json:"itemMetadata"`
		} `json:"results"`
		BulkActionMetadata struct {
			TotalSuccesses     int `json:"totalSuccesses"`
			TotalFailures      int `json:"totalFailures"`
			UndetailedFailures int `json:"undetailedFailures"`
		} `json:"bulkActionMetadata"`
	}
)

// Report reports events of one trigger on a site: one through
// /events/report, 2 to application.MaxBatch through /events/bulk-report.
// Every event carries its idempotency key with Config.IdempotencyTTL. See the
// package doc for the errors.
func (c *Client) Report(ctx context.Context, siteID, triggerKey string, events []application.ReportEvent) ([]error, error) {
	if err := batchSize(len(events)); err != nil {
		return nil, err
	}
	infos := make([]eventInfo, len(events))
	ttl := strconv.FormatInt(c.cfg.IdempotencyTTL.Milliseconds(), 10)
	for i, e := range events {
		infos[i] = eventInfo{Payload: e.Payload, ExternalEntityID: e.ExternalEntityID}
		if e.IdempotencyKey != "" {
			infos[i].Idempotency = &idempotency{Key: e.IdempotencyKey, TTL: ttl}
		}
	}
	if len(events) == 1 {
		if err := c.do(ctx, siteID, "/automations/v1/events/report", reportRequest{TriggerKey: triggerKey, eventInfo: infos[0]}, nil); err != nil {
			return nil, wrap("report", triggerKey, err)
		}
		return []error{nil}, nil
	}
	var resp bulkResponse
	if err := c.do(ctx, siteID, "/automations/v1/events/bulk-report", bulkReportRequest{TriggerKey: triggerKey, EventsInfo: infos}, &resp); err != nil {
		return nil, wrap("bulk report", triggerKey, err)
	}
	return itemErrors(resp, len(events)), nil
}

// Cancel cancels the events of one trigger for externalEntityIDs on a site:
// one through /events/cancel, 2 to application.MaxBatch through
// /events/bulk-cancel. See the package doc for the errors.
func (c *Client) Cancel(ctx context.Context, siteID, triggerKey string, externalEntityIDs []string) ([]error, error) {
	if err := batchSize(len(externalEntityIDs)); err != nil {
		return nil, err
	}
	if len(externalEntityIDs) == 1 {
		if err := c.do(ctx, siteID, "/automations/v1/events/cancel", cancelRequest{TriggerKey: triggerKey, ExternalEntityID: externalEntityIDs[0]}, nil); err != nil {
			return nil, wrap("cancel", triggerKey, err)
		}
		return []error{nil}, nil
	}
	var resp bulkResponse
	if err := c.do(ctx, siteID, "/automations/v1/events/bulk-cancel", bulkCancelRequest{TriggerKey: triggerKey, ExternalEntityIDs: externalEntityIDs}, &resp); err != nil {
		return nil, wrap("bulk cancel", triggerKey, err)
	}
	return itemErrors(resp, len(externalEntityIDs)), nil
}

// wrap adds the operation to a transport error; a GatewayError, which
// describes itself, is returned as it is.
func wrap(op, triggerKey string, err error) error {
	var ge *application.GatewayError
	if errors.As(err, &ge) {
		return err
	}
	return fmt.Errorf("wix: %s %s: %w", op, triggerKey, err)
}

func batchSize(n int) error {
	if n < 1 || n > application.MaxBatch {
		return &application.GatewayError{Permanent: true,
			Message: fmt.Sprintf("a call takes 1 to %d items, not %d", application.MaxBatch, n)}
	}
	return nil
}

// itemErrors maps a bulk answer to one error per item, by originalIndex
// (or, when Wix leaves it out, by position). An item without a result is a
// retryable failure.
func itemErrors(resp bulkResponse, n int) []error {
	errs := make([]error, n)
	seen := make([]bool, n)
	for pos, r := range resp.Results {
		i := pos
		if r.ItemMetadata.OriginalIndex != nil {
			i = *r.ItemMetadata.OriginalIndex
		}
		if i < 0 || i >= n || seen[i] {
			continue
		}
		seen[i] = true
		if r.ItemMetadata.Success {
			continue
		}
		ge := &application.GatewayError{Message: "item failed"}
		if e := r.ItemMetadata.Error; e != nil {
			ge.Code = e.Code
			if e.Description != "" {
				ge.Message = truncate(e.Description)
			}
		}
		ge.Permanent = application.PermanentItemCode(ge.Code)
		errs[i] = ge
	}
	for i := range errs {
		if !seen[i] {
			errs[i] = &application.GatewayError{Message: "Wix returned no result for this item"}
		}
	}
	return errs
}

// do sends body to path for a site, with one re-minted token after a 401,
// and decodes a 200 answer into out (when not nil).
func (c *Client) do(ctx context.Context, siteID, path string, body, out any) error {
	payload, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("encode request: %w", err)
	}
	tok, err := c.token(ctx, siteID)
	if err != nil {
		return err
	}
	resp, err := c.post(ctx, path, tok, payload)
	if err != nil {
		return err
	}
	if resp.status == http.StatusUnauthorized && c.cfg.StaticToken == "" {
		if err := c.tokens.invalidate(ctx, siteID, tok); err != nil {
			return err
		}
		if tok, err = c.token(ctx, siteID); err != nil {
			return err
		}
		if resp, err = c.post(ctx, path, tok, payload); err != nil {
			return err
		}
	}
	if resp.status != http.StatusOK {
		ge := c.gatewayError(resp, tok)
		if resp.status == http.StatusUnauthorized {
			ge.Permanent = true
			if c.cfg.StaticToken == "" {
				ge.Message = "refused a freshly minted token: " + ge.Message
			}
		}
		return ge
	}
	if out != nil && len(bytes.TrimSpace(resp.body)) > 0 {
		if err := json.Unmarshal(resp.body, out); err != nil {
			// Wix accepted the request, but an answer we cannot read tells
			// nothing per item: every item is left without a result, hence
			// retryable (reports are idempotent, cancels repeatable).
			if r, ok := out.(*bulkResponse); ok {
				*r = bulkResponse{}
			}
		}
	}
	return nil
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// post sends one request within the configured timeout. Transport failures
// come back as errors; any HTTP answer as a response.
func (c *Client) post(ctx context.Context, path, token string, payload []byte) (response, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.cfg.BaseURL+path, bytes.NewReader(payload))
	if err != nil {
		return response{}, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.agent)
	if token != "" {
		if c.cfg.BearerPrefix {
			token = "Bearer " + token
		}
		req.Header.Set("Authorization", token)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return response{}, fmt.Errorf("POST %s: %w", path, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, maxResponse))
	if err != nil {
		return response{}, fmt.Errorf("POST %s: read answer: %w", path, err)
	}
	return response{status: res.StatusCode, header: res.Header, body: body}, nil
}

// errorBody is Wix's error body, read leniently: 5xx bodies may be empty.
type errorBody struct {
	Message string `json:"message"`
	Details struct {
		ApplicationError *struct {
			Code        string `json:"code"`
			Description string `json:"description"`
		} `json:"applicationError"`
		ValidationError *struct {
			FieldViolations []struct {
				Field       string `json:"field"`
				Description string `json:"description"`
			} `json:"fieldViolations"`
		} `json:"validationError"`
	} `json:"details"`
}

// gatewayError turns a non-200 answer into a GatewayError, scrubbed of the
// secret and the token in case Wix ever echoed them.
func (c *Client) gatewayError(resp response, token string) *application.GatewayError {
	var b errorBody
	_ = json.Unmarshal(resp.body, &b) // lenient: an unreadable body leaves b empty
	ge := &application.GatewayError{
		Status:     resp.status,
		Permanent:  application.PermanentStatus(resp.status),
		RetryAfter: RetryAfter(resp.header.Get("Retry-After"), c.clock.Now()),
	}
	msg := b.Message
	if ae := b.Details.ApplicationError; ae != nil {
		ge.Code = ae.Code
		if msg == "" {
			msg = ae.Description
		}
	}
	if ve := b.Details.ValidationError; ve != nil && msg == "" && len(ve.FieldViolations) > 0 {
		msg = ve.FieldViolations[0].Field + ": " + ve.FieldViolations[0].Description
	}
	if msg == "" {
		msg = http.StatusText(resp.status)
	}
	ge.Message = truncate(c.scrub(msg, token))
	ge.Code = truncate(c.scrub(ge.Code, token))
	return ge
}

// RetryAfter parses a Retry-After header: delay-seconds or an HTTP date
// (relative to now). It returns 0 when the header is absent, unreadable or
// in the past.
func RetryAfter(header string, now time.Time) time.Duration {
	header = strings.TrimSpace(header)
	if header == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(header, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		if secs > int64(24*time.Hour/time.Second) {
			secs = int64(24 * time.Hour / time.Second) // a sane cap against garbage
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(header); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// scrub removes the app secret, the static token and token from s.
func (c *Client) scrub(s, token string) string {
	for _, secret := range []string{c.cfg.AppSecret, c.cfg.StaticToken, token} {
		if len(secret) >= 4 {
			s = strings.ReplaceAll(s, secret, "[redacted]")
		}
	}
	return s
}

func truncate(s string) string {
	const limit = 500
	if len(s) <= limit {
		return s
	}
	return s[:limit] + "..."
}
