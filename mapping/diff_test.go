package mapping

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDiffOho(t *testing.T) {
	t.Parallel()
	m := newMapper(t, fullOptions())
	last, _, err := m.ToOho(fang(), lineID, lineTarget, now)
	require.NoError(t, err)

	t.Run("Unchanged", func(t *testing.T) {
		t.Parallel()
		d := DiffOho(last, last)
		require.Empty(t, d.Changed)
		require.True(t, d.Update.IsZero())
		require.Empty(t, d.Unsent)
	})

	t.Run("ChangedFieldsOnly", func(t *testing.T) {
		t.Parallel()
		want := last
		want.FirstName = "ฝ้าย"
		want.Tags = []string{}
		want.Age = 27
		d := DiffOho(last, want)
		require.Equal(t, []string{"first_name", "age", "tags"}, d.Changed)
		b, err := CanonicalJSON(d.Update)
		require.NoError(t, err)
		require.JSONEq(t, `{"first_name":"ฝ้าย","age":27,"tags":[]}`, string(b))
		require.Empty(t, d.Unsent)
	})

	t.Run("ClearedAndCreateOnly", func(t *testing.T) {
		t.Parallel()
		want := last
		want.Email = ""
		want.Gender = ""
		want.ProfilePictureURL = defaultPic
		want.Attributes = nil
		d := DiffOho(last, want)
		require.Equal(t, []string{"profile_picture_url", "email", "gender", "attributes"}, d.Changed)
		b, err := CanonicalJSON(d.Update)
		require.NoError(t, err)
		require.JSONEq(t, `{"gender":"not_say","attributes":[]}`, string(b))
		require.Equal(t, []string{"profile_picture_url (create only)", "email (cleared: Oho documents no way to clear it)"}, d.Unsent)
	})

	t.Run("UpdateDoesNotAlias", func(t *testing.T) {
		t.Parallel()
		want := last
		want.Labels = []string{"x"}
		d := DiffOho(last, want)
		want.Labels[0] = "changed"
		require.Equal(t, []string{"x"}, *d.Update.Labels)
	})
}

func TestCanonicalJSON(t *testing.T) {
	t.Parallel()
	p := OhoContact{DisplayName: "<Fang & co>", Tags: []string{}}
	b, err := CanonicalJSON(p)
	require.NoError(t, err)
	require.Contains(t, string(b), `"display_name":"<Fang & co>"`, "no HTML escaping")
	require.NotContains(t, string(b), "tags", "an empty list is left out, like a nil one")
	require.NotEqual(t, byte('\n'), b[len(b)-1])

	nilTags, err := CanonicalJSON(OhoContact{DisplayName: "<Fang & co>"})
	require.NoError(t, err)
	require.Equal(t, b, nilTags)

	h, err := Hash(p)
	require.NoError(t, err)
	sum := sha256.Sum256(b)
	require.Equal(t, hex.EncodeToString(sum[:]), h)
	require.Len(t, h, 64)

	_, err = CanonicalJSON(func() {})
	require.Error(t, err)
	var v map[string]any
	require.NoError(t, json.Unmarshal(b, &v))
}
