package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/adapters/httpapi"
	"github.com/bookable/lifecycle/adapters/wixsim/wixsimtest"
)

// The OpenAPI document, loaded and checked once, and a router over it.
var spec struct {
	once   sync.Once
	doc    *openapi3.T
	router routers.Router
	err    error
}

func loadSpec(t *testing.T) (*openapi3.T, routers.Router) {
	t.Helper()
	spec.once.Do(func() {
		loader := openapi3.NewLoader()
		if spec.doc, spec.err = loader.LoadFromData(httpapi.OpenAPI); spec.err != nil {
			return
		}
		if spec.err = spec.doc.Validate(context.Background()); spec.err != nil {
			return
		}
		spec.doc.Servers = nil // the test servers listen on other ports
		spec.router, spec.err = gorillamux.NewRouter(spec.doc)
	})
	require.NoError(t, spec.err, "adapters/httpapi/openapi.json")
	return spec.doc, spec.router
}

func TestOpenAPIDocument(t *testing.T) {
	doc, _ := loadSpec(t)
	assert.Equal(t, "3.1.0", doc.OpenAPI)
	assert.True(t, doc.IsOpenAPI31OrLater())
}

// TestOpenAPIDescribesEveryRoute: each pattern the Server registers is an
// operation of the document, and the document has no operation the Server
// does not serve.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	doc, _ := loadSpec(t)
	pub, err := httpapi.ParsePublicKey(wixsimtest.NewKeyPair(t).PublicPEM)
	require.NoError(t, err)
	srv, err := httpapi.New(httpapi.Config{App: newHarness(t).app, Outbox: newHarness(t).store,
		TriggerProvider: &httpapi.TriggerProvider{PublicKey: pub, AppID: appID}})
	require.NoError(t, err)
	registered := map[string]bool{}
	for _, pattern := range srv.Routes() {
		method, path, ok := strings.Cut(pattern, " ")
		require.True(t, ok, pattern)
		registered[pattern] = true
		item := doc.Paths.Value(path)
		require.NotNil(t, item, "%s is not in openapi.json", path)
		assert.NotNil(t, item.GetOperation(method), "%s is not in openapi.json", pattern)
	}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			assert.True(t, registered[method+" "+path], "openapi.json has %s %s, which the server does not serve", method, path)
		}
	}
}

func TestOpenAPIServed(t *testing.T) {
	h := newHarness(t)
	r := h.doAuth("GET", "/openapi.json", nil, "")
	require.Equal(t, 200, r.status)
	assert.Equal(t, "application/json", r.header.Get("Content-Type"))
	assert.Equal(t, httpapi.OpenAPI, r.body)
}

// validateResponse checks one response of the API tests against the
// document: the operation's response for its status (headers and body),
// or, for a path or method the API does not have, a problem document.
func validateResponse(t *testing.T, req *http.Request, status int, header http.Header, body []byte) {
	t.Helper()
	doc, router := loadSpec(t)
	route, params, err := router.FindRoute(req)
	if err != nil {
		require.Equal(t, "application/problem+json", header.Get("Content-Type"), "%s %s: %d", req.Method, req.URL.Path, status)
		var v any
		require.NoError(t, json.Unmarshal(body, &v))
		require.NoError(t, doc.Components.Schemas["Problem"].Value.VisitJSON(v, openapi3.EnableJSONSchema2020()),
			"%s %s: %s", req.Method, req.URL.Path, body)
		return
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 status,
		Header:                 header,
		Body:                   io.NopCloser(bytes.NewReader(body)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	require.NoError(t, openapi3filter.ValidateResponse(context.Background(), in),
		"%s %s answered %d, which openapi.json does not describe: %s", req.Method, req.URL.Path, status, body)
}
