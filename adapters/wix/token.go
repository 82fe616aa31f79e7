package wix

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/bookable/lifecycle/application"
)

// tokenCache holds one access token per site. Each site has its own lock,
// so one site mints at most one token at a time while other sites go on.
type tokenCache struct {
	mu    sync.Mutex
	sites map[string]*siteToken
}

type siteToken struct {
	lock      chan struct{} // a mutex that waiters can give up on with their context
	token     string
	expiresAt time.Time
}

func newTokenCache() *tokenCache { return &tokenCache{sites: map[string]*siteToken{}} }

func (tc *tokenCache) site(siteID string) *siteToken {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	st := tc.sites[siteID]
	if st == nil {
		st = &siteToken{lock: make(chan struct{}, 1)}
		tc.sites[siteID] = st
	}
	return st
}

// invalidate drops a site's cached token if it is still tok (another
// request may have replaced it already).
func (tc *tokenCache) invalidate(ctx context.Context, siteID, tok string) error {
	st := tc.site(siteID)
	select {
	case st.lock <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("wait for token: %w", ctx.Err())
	}
	defer func() { <-st.lock }()
	if st.token == tok {
		st.token, st.expiresAt = "", time.Time{}
	}
	return nil
}

type tokenRequest struct {
	GrantType    string `json:"grant_type"`
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	InstanceID   string `json:"instance_id"`
}

type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
}

// defaultTokenLifetime is assumed when Wix leaves expires_in out: its
// documented 4 hours.
const defaultTokenLifetime = 4 * time.Hour

// token returns a valid access token for a site: the static token, the
// cached one, or a newly minted one. Concurrent callers for one site wait
// for a single mint.
func (c *Client) token(ctx context.Context, siteID string) (string, error) {
	if c.cfg.StaticToken != "" {
		if siteID != c.cfg.StaticSiteID {
			return "", &application.GatewayError{Permanent: true,
				Message: fmt.Sprintf("the static token is for site %s, not %s", c.cfg.StaticSiteID, siteID)}
		}
		return c.cfg.StaticToken, nil
	}
	if siteID == "" {
		return "", &application.GatewayError{Permanent: true, Message: "no site (instance ID)"}
	}
	st := c.tokens.site(siteID)
	select {
	case st.lock <- struct{}{}:
	case <-ctx.Done():
		return "", fmt.Errorf("wait for token: %w", ctx.Err())
	}
	defer func() { <-st.lock }()

	now := c.clock.Now()
	if st.token != "" && now.Before(st.expiresAt) {
		return st.token, nil
	}
	tok, lifetime, err := c.mint(ctx, siteID)
	if err != nil {
		return "", err
	}
	margin := c.cfg.TokenMargin
	if margin > lifetime/2 {
		margin = lifetime / 2 // a short-lived token is still used for a while
	}
	st.token, st.expiresAt = tok, now.Add(lifetime-margin)
	return tok, nil
}

// mint asks POST {base}/oauth2/token for a site's token.
func (c *Client) mint(ctx context.Context, siteID string) (string, time.Duration, error) {
	payload, err := json.Marshal(tokenRequest{
		GrantType: "client_credentials", ClientID: c.cfg.AppID, ClientSecret: c.cfg.AppSecret, InstanceID: siteID,
	})
	if err != nil {
		return "", 0, fmt.Errorf("encode token request: %w", err)
	}
	resp, err := c.post(ctx, "/oauth2/token", "", payload)
	if err != nil {
		return "", 0, fmt.Errorf("token: %w", err)
	}
	if resp.status != http.StatusOK {
		ge := c.gatewayError(resp, "")
		ge.Message = "token: " + ge.Message
		return "", 0, ge
	}
	var tr tokenResponse
	if err := json.Unmarshal(resp.body, &tr); err != nil || tr.AccessToken == "" {
		// Do not quote the body: it may hold a token.
		return "", 0, &application.GatewayError{Status: resp.status, Message: "token: unreadable answer from the token endpoint"}
	}
	lifetime := time.Duration(tr.ExpiresIn) * time.Second
	if lifetime <= 0 {
		lifetime = defaultTokenLifetime
	}
	return tr.AccessToken, lifetime, nil
}
