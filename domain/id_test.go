package domain_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/domain"
)

func TestParseIDAcceptsUUIDsInCanonicalForm(t *testing.T) {
	id, err := domain.ParseID("id", "6F1C2E0A-7D4B-4C5E-9A51-0B3F6D2C8E11")
	require.NoError(t, err)
	assert.Equal(t, "6f1c2e0a-7d4b-4c5e-9a51-0b3f6d2c8e11", id.String(), "lowercase, as Wix and the stores compare them")
	assert.False(t, id.IsZero())
	assert.Equal(t, domain.MustID("6f1c2e0a-7d4b-4c5e-9a51-0b3f6d2c8e11"), id, "one value for one UUID, whatever its case")
}

func TestParseIDRefusesWhatIsNotAUUID(t *testing.T) {
	for name, s := range map[string]string{
		"empty":               "",
		"blank":               "   ",
		"short":               "6f1c2e0a",
		"braces":              "{6f1c2e0a-7d4b-4c5e-9a51-0b3f6d2c8e11}",
		"not hex":             "6f1c2e0a-7d4b-4c5e-9a51-0b3f6d2c8e1z",
		"no dashes":           "6f1c2e0a7d4b4c5e9a510b3f6d2c8e11",
		"nil UUID":            "00000000-0000-0000-0000-000000000000",
		"urn form (45 chars)": "urn:uuid:6f1c2e0a-7d4b-4c5e-9a51-0b3f6d2c8e11",
	} {
		t.Run(name, func(t *testing.T) {
			id, err := domain.ParseID("contactId", s)
			var ve *domain.ValidationError
			require.True(t, errors.As(err, &ve), "got %v", err)
			assert.Equal(t, "contactId", ve.Field, "the error names the caller's field")
			assert.ErrorIs(t, err, domain.ErrInvalid)
			assert.True(t, id.IsZero())
		})
	}
}

func TestParseSiteID(t *testing.T) {
	site, err := domain.ParseSiteID("5e000000-0000-4000-8000-000000000001")
	require.NoError(t, err)
	assert.Equal(t, "5e000000-0000-4000-8000-000000000001", site.String())

	_, err = domain.ParseSiteID("")
	var ve *domain.ValidationError
	require.True(t, errors.As(err, &ve))
	assert.Equal(t, "siteId", ve.Field)
	assert.Contains(t, ve.Reason, "Wix app instance ID", "an empty site is the commonest mistake; the error says what to pass")

	_, err = domain.ParseSiteID("site-1")
	require.True(t, errors.As(err, &ve))
	assert.Equal(t, "siteId", ve.Field)
}

func TestZeroIDsAreRequired(t *testing.T) {
	var ve *domain.ValidationError
	require.True(t, errors.As(domain.ID{}.Require("classId"), &ve))
	assert.Equal(t, "classId", ve.Field)
	require.True(t, errors.As(domain.SiteID{}.Require(), &ve))
	assert.Equal(t, "siteId", ve.Field)
	assert.NoError(t, domain.MustID("6f1c2e0a-7d4b-4c5e-9a51-0b3f6d2c8e11").Require("id"))
	assert.NoError(t, domain.MustSiteID("5e000000-0000-4000-8000-000000000001").Require())
	assert.Equal(t, "", domain.ID{}.String())
}

func TestMustPanicsOnInvalidIDs(t *testing.T) {
	assert.Panics(t, func() { domain.MustID("nope") })
	assert.Panics(t, func() { domain.MustSiteID("") })
}

func TestIDsAreJSONStrings(t *testing.T) {
	type doc struct {
		Site domain.SiteID `json:"siteId"`
		ID   domain.ID     `json:"id"`
		None domain.ID     `json:"none"`
	}
	in := doc{Site: domain.MustSiteID("5e000000-0000-4000-8000-000000000001"), ID: domain.MustID("6f1c2e0a-7d4b-4c5e-9a51-0b3f6d2c8e11")}
	b, err := json.Marshal(in)
	require.NoError(t, err)
	assert.JSONEq(t, `{"siteId":"5e000000-0000-4000-8000-000000000001","id":"6f1c2e0a-7d4b-4c5e-9a51-0b3f6d2c8e11","none":""}`, string(b))
	var out doc
	require.NoError(t, json.Unmarshal(b, &out))
	assert.Equal(t, in, out, "a round trip keeps the values; empty text is the zero ID")

	err = json.Unmarshal([]byte(`{"id":"nope"}`), &out)
	assert.ErrorIs(t, err, domain.ErrInvalid, "decoding validates")
}

func TestFirstReturnsTheFirstError(t *testing.T) {
	a, b := errors.New("a"), errors.New("b")
	assert.Equal(t, a, domain.First(nil, a, b))
	assert.NoError(t, domain.First(nil, nil))
}

// An ID is parsed where it enters: from then on it is a value that a
// command, a port and an aggregate take as it is.
func ExampleParseSiteID() {
	site, err := domain.ParseSiteID("5E000000-0000-4000-8000-000000000001")
	fmt.Println(site, err)
	_, err = domain.ParseSiteID("")
	fmt.Println(err)
	_, err = domain.ParseID("contactId", "jane@example.com")
	fmt.Println(err)
	// Output:
	// 5e000000-0000-4000-8000-000000000001 <nil>
	// invalid siteId: is required (the Wix app instance ID)
	// invalid contactId: must be a UUID (36 characters, e.g. 6f1c2e0a-7d4b-4c5e-9a51-0b3f6d2c8e11)
}
