package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// guard refuses what a browser could send on behalf of a web page the
// developer has open. Without an API token (a loopback listener), a Host
// that is not loopback (DNS rebinding) and an Origin that is not loopback
// (cross-site requests) are 403 forbidden. With or without a token, a write
// with a body must be JSON: any other content type (text/plain is what a
// cross-site form sends) is 415 unsupported_media_type.
func (s *Server) guard(r *http.Request) error {
	if !s.auth {
		if !s.localHost(r.Host) {
			return &refusal{code: CodeForbidden,
				detail: "without an API token only a loopback Host is served (localhost, 127.0.0.1, [::1]); set LIFECYCLE_API_TOKEN"}
		}
		if origin := r.Header.Get("Origin"); origin != "" && !s.localOrigin(origin) {
			return &refusal{code: CodeForbidden,
				detail: "without an API token only requests from a loopback Origin are served; set LIFECYCLE_API_TOKEN"}
		}
	}
	if r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch {
		return checkContentType(r)
	}
	return nil
}

// checkContentType refuses a write body that is not declared JSON. A write
// with no body needs no Content-Type.
func checkContentType(r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		if r.ContentLength == 0 {
			return nil
		}
		return &refusal{code: CodeUnsupportedMedia, detail: "a request body needs Content-Type: application/json"}
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return &refusal{code: CodeUnsupportedMedia, detail: "the request body must be application/json, not " + ct}
	}
	for k, v := range params {
		if k != "charset" || !strings.EqualFold(v, "utf-8") {
			return &refusal{code: CodeUnsupportedMedia, detail: "application/json takes no parameter but charset=utf-8"}
		}
	}
	return nil
}

// localHost reports whether a Host header (host[:port]) names a loopback
// host or one of the configured ones.
func (s *Server) localHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSuffix(host, "]"), "["), ".")
	host = strings.ToLower(host)
	if host == "localhost" || strings.HasSuffix(host, ".localhost") || slices.Contains(s.hosts, host) {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// localOrigin reports whether an Origin header is http(s) on a local host.
func (s *Server) localOrigin(origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return false // "null" included: a sandboxed page or a file
	}
	return s.localHost(u.Host)
}

// requestIDKey keys the request ID in a request's context.
type requestIDKey struct{}

func withRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestID returns the ID of the request a context belongs to, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// requestID returns the client's X-Request-Id when it is sane (1 to 128
// characters of letters, digits and -._:), or a new random one.
func requestID(given string) string {
	if len(given) > 0 && len(given) <= 128 && strings.IndexFunc(given, func(c rune) bool {
		return !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-._:", c))
	}) < 0 {
		return given
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// accessRecorder remembers the status and size of a response.
type accessRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (a *accessRecorder) WriteHeader(status int) {
	if a.status == 0 {
		a.status = status
	}
	a.ResponseWriter.WriteHeader(status)
}

func (a *accessRecorder) Write(p []byte) (int, error) {
	if a.status == 0 {
		a.status = http.StatusOK
	}
	n, err := a.ResponseWriter.Write(p)
	a.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection.
func (a *accessRecorder) Unwrap() http.ResponseWriter { return a.ResponseWriter }

// logAccess writes the access log line of a request.
func (s *Server) logAccess(r *http.Request, rec *accessRecorder, id string, took time.Duration) {
	status := rec.status
	if status == 0 {
		status = http.StatusOK
	}
	s.access.LogAttrs(r.Context(), slog.LevelInfo, "http request",
		slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Int("status", status),
		slog.Int64("bytes", rec.bytes), slog.Duration("duration", took), slog.String("request_id", id),
		slog.String("remote", r.RemoteAddr))
}
