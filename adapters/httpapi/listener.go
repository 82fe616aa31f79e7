package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
)

// ProblemListener wraps ln so that the errors net/http answers by itself,
// before any handler runs, are problem documents too: 431 for headers
// beyond MaxHeaderBytes, 400 for a malformed request, 501 for an unknown
// transfer coding, 505 for an unknown protocol version. net/http writes
// those as plain text straight to the connection; the wrapped connection
// recognises them (a status line followed by exactly the header block
// net/http uses for them, which no handler's response has: those carry a
// Date) and writes the same status as application/problem+json. Serve the
// API with http.Server.Serve(ProblemListener(ln)).
func ProblemListener(ln net.Listener) net.Listener { return problemListener{ln} }

type problemListener struct{ net.Listener }

func (l problemListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &problemConn{Conn: c}, nil
}

// problemConn rewrites net/http's canned error responses.
type problemConn struct{ net.Conn }

// cannedHeaders is the header block of net/http's own error responses.
const cannedHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

func (c *problemConn) Write(p []byte) (int, error) {
	if doc, ok := rewriteCanned(p); ok {
		if _, err := c.Conn.Write(doc); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// CloseWrite passes through to the connection, which net/http uses to
// finish a 431 gracefully.
func (c *problemConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// rewriteCanned turns one of net/http's plain-text error responses into a
// problem document response; ok is false for anything else.
func rewriteCanned(p []byte) ([]byte, bool) {
	const proto = "HTTP/1.1 "
	if !bytes.HasPrefix(p, []byte(proto)) {
		return nil, false
	}
	end := bytes.Index(p, []byte("\r\n"))
	if end < 0 || !bytes.HasPrefix(p[end:], []byte(cannedHeaders)) || end < len(proto)+3 {
		return nil, false
	}
	status, err := strconv.Atoi(string(p[len(proto) : len(proto)+3]))
	if err != nil || status < 400 {
		return nil, false
	}
	text := string(p[end+len(cannedHeaders):])
	code := cannedCode(status)
	st := statusOf[code]
	body, err := json.Marshal(Problem{Type: ProblemTypePrefix + code, Title: st.title, Status: status, Detail: text, Code: code})
	if err != nil {
		return nil, false
	}
	body = append(body, '\n')
	head := fmt.Sprintf("HTTP/1.1 %d %s\r\nCache-Control: no-store\r\nConnection: close\r\nContent-Length: %d\r\n"+
		"Content-Type: application/problem+json\r\nX-Content-Type-Options: nosniff\r\n\r\n",
		status, http.StatusText(status), len(body))
	return append([]byte(head), body...), true
}

// cannedCode is the problem code of a status net/http answers by itself.
func cannedCode(status int) string {
	switch status {
	case http.StatusRequestHeaderFieldsTooLarge:
		return CodeHeadersTooLarge
	case http.StatusNotImplemented, http.StatusHTTPVersionNotSupported:
		return CodeUnsupportedRequest
	}
	return CodeInvalidArgument
}
