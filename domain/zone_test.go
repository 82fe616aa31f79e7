package domain_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/domain"
)

func TestParseTimeZone(t *testing.T) {
	for _, name := range []string{"Europe/Berlin", "America/New_York", "Asia/Kolkata", "Pacific/Chatham"} {
		z, err := domain.ParseTimeZone(name)
		require.NoError(t, err, name)
		assert.Equal(t, name, z.Name())
	}
	z, err := domain.ParseTimeZone("UTC")
	require.NoError(t, err)
	assert.Equal(t, domain.UTC(), z, "UTC is the zero zone")
	b1, err := domain.ParseTimeZone("Europe/Berlin")
	require.NoError(t, err)
	b2, err := domain.ParseTimeZone("Europe/Berlin")
	require.NoError(t, err)
	assert.True(t, b1.Equal(b2))
	assert.False(t, b1.Equal(domain.UTC()))
	assert.Equal(t, "UTC", domain.UTC().Name())
	assert.Equal(t, time.UTC, domain.UTC().Location())

	for _, bad := range []string{"", " ", "Local", "Mars/Olympus", "../etc/passwd", "/usr/share/zoneinfo/UTC", "europe/berlin",
		string(make([]byte, domain.MaxTimeZoneLen+1))} {
		_, err := domain.ParseTimeZone(bad)
		var ve *domain.ValidationError
		require.True(t, errors.As(err, &ve), "%q: got %v", bad, err)
		assert.Equal(t, "timeZone", ve.Field)
	}
}

func TestTimeZoneFormats(t *testing.T) {
	berlin, err := domain.ParseTimeZone("Europe/Berlin")
	require.NoError(t, err)
	winter := time.Date(2030, 3, 26, 8, 0, 0, 0, time.UTC) // CET, UTC+1, until 31 March
	summer := time.Date(2030, 4, 2, 7, 0, 0, 0, time.UTC)  // CEST, UTC+2
	assert.Equal(t, "2030-03-26T09:00", berlin.FormatLocal(winter))
	assert.Equal(t, "2030-04-02T09:00", berlin.FormatLocal(summer), "9:00 on the wall clock on both sides of the change")
	assert.Equal(t, "Tuesday 26 March 2030, 09:00", berlin.FormatText(winter))
	assert.Equal(t, "2030-03-26T08:00", domain.UTC().FormatLocal(winter))
	assert.Equal(t, "", berlin.FormatLocal(time.Time{}), "a time that is not set")
	assert.Equal(t, "", berlin.FormatText(time.Time{}))
}
