package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/bookable/lifecycle/adapters/wixsim"
)

// triggerProviderFlags are the flags of lifecycle wixsim that point the
// simulator at the app's trigger provider (lifecycle serve), so that it
// calls Refresh Payload before delayed activations as Wix does.
type triggerProviderFlags struct {
	url      string
	keyFile  string
	triggers stringList
	timeout  time.Duration
	onError  string
}

func (f *triggerProviderFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.url, "trigger-provider-url", "", "the app's trigger provider base URI, e.g. http://127.0.0.1:8080/wix/trigger-provider: Refresh Payload is POSTed to it + /refresh-payload before a delayed activation runs (needs --trigger-provider-key-file)")
	fs.StringVar(&f.keyFile, "trigger-provider-key-file", "", "PEM file holding the RSA private key that signs Refresh Payload calls (PKCS #1 or #8, as openssl genrsa writes); the app verifies with its public half")
	fs.Var(&f.triggers, "trigger-provider-triggers", "trigger keys whose delayed activations call Refresh Payload; repeatable, comma-separated (default: every trigger)")
	fs.DurationVar(&f.timeout, "trigger-provider-timeout", wixsim.DefaultRefreshTimeout, "how long a Refresh Payload call may take before it counts as failed")
	fs.StringVar(&f.onError, "trigger-provider-on-error", string(wixsim.RunOnRefreshError), "what a failed Refresh Payload call does to its activation: run (with the payload as reported) or fail (the action does not run)")
}

// options turns the flags into simulator options; none without a URL.
func (f *triggerProviderFlags) options() ([]wixsim.Option, error) {
	switch {
	case f.url == "" && f.keyFile == "":
		return nil, nil
	case f.url == "":
		return nil, usageError("--trigger-provider-key-file needs --trigger-provider-url")
	case f.keyFile == "":
		return nil, usageError("--trigger-provider-url needs --trigger-provider-key-file (the RSA private key that signs the calls)")
	}
	if err := wixsim.CheckBaseURL(f.url); err != nil {
		return nil, usageError("--trigger-provider-url: %v", err)
	}
	if f.timeout <= 0 {
		return nil, usageError("--trigger-provider-timeout must be positive, not %v", f.timeout)
	}
	policy := wixsim.RefreshErrorPolicy(f.onError)
	if policy != wixsim.RunOnRefreshError && policy != wixsim.FailOnRefreshError {
		return nil, usageError("--trigger-provider-on-error must be %s or %s, not %q", wixsim.RunOnRefreshError, wixsim.FailOnRefreshError, f.onError)
	}
	pemBytes, err := os.ReadFile(f.keyFile)
	if err != nil {
		return nil, fmt.Errorf("--trigger-provider-key-file: %w", err)
	}
	key, err := jwt.ParseRSAPrivateKeyFromPEM(pemBytes)
	if err != nil {
		return nil, usageError("--trigger-provider-key-file %s: not a PEM RSA private key: %v", f.keyFile, err)
	}
	return []wixsim.Option{
		wixsim.WithTriggerProvider(f.url, key, f.triggers...),
		wixsim.WithRefreshTimeout(f.timeout),
		wixsim.WithRefreshErrorPolicy(policy),
	}, nil
}

func (f *triggerProviderFlags) describeTriggers() string {
	if len(f.triggers) == 0 {
		return "every trigger"
	}
	return strings.Join(f.triggers, ", ")
}
