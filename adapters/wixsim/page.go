package wixsim

import (
	_ "embed"
	"net/http"
)

// pageHTML is the timeline page: static HTML with a small script that
// reads the control API; it loads nothing from the network.
//
//go:embed page.html
var pageHTML []byte

// servePage answers GET /_wixsim/ with the page.
func (e *Emulator) servePage(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeProblem(w, r, &controlError{code: ProblemMethodNotAllowed, detail: r.Method + " is not allowed here; use GET"})
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	// Nothing but the page itself and its own origin: no CDN, no network.
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(pageHTML)
	}
}
