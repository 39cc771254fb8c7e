package mapping

import (
	"encoding/base64"
	"testing"

	"github.com/stretchr/testify/require"

	"crmsync/contact"
)

func TestMapper_ToOkeybot(t *testing.T) {
	t.Parallel()
	m := newMapper(t, fullOptions())

	t.Run("NewContactSendsEverything", func(t *testing.T) {
		t.Parallel()
		plan, cs := m.ToOkeybot(fang(), lineID, OkeybotContact{}, now)
		require.NoError(t, plan.Check())
		require.Len(t, plan.Fields, 1)
		require.Equal(t, plan.Desired.CustomFields, plan.Fields[0].CustomFields)
		require.Equal(t, []OkeybotTagsRequest{{Tags: plan.Desired.Tags}}, plan.AddTags)
		require.Empty(t, plan.RemoveTags)
		require.Contains(t, plan.Desired.CustomFields, OkeybotField{Name: "phone", Value: "0987654321"})
		require.Contains(t, plan.Desired.CustomFields, OkeybotField{Name: "firstName", Value: "˚♡̴ 𝒇𝒂𝒏𝒈"})
		require.NotContains(t, plan.Desired.CustomFields, OkeybotField{Name: "last_name", Value: ""}, "empty values are not desired")
		require.Equal(t, []ChangeKind{Dropped}, kinds(changesOf(cs, "custom_fields[registered_at]")))
		require.Equal(t, []string{"VIP", "packgate รายเดือน", "ติดตามสินค้า", "ลูกค้าประจำ"}, plan.Desired.Tags)
	})

	t.Run("UnchangedSendsNothing", func(t *testing.T) {
		t.Parallel()
		first, _ := m.ToOkeybot(fang(), lineID, OkeybotContact{}, now)
		again, _ := m.ToOkeybot(fang(), lineID, first.Desired, now)
		require.True(t, again.IsZero())
		require.Equal(t, first.Desired, again.Desired)
		h1, err := Hash(first.Desired)
		require.NoError(t, err)
		h2, err := Hash(again.Desired)
		require.NoError(t, err)
		require.Equal(t, h1, h2)
	})

	t.Run("ChangesOnly", func(t *testing.T) {
		t.Parallel()
		first, _ := m.ToOkeybot(fang(), lineID, OkeybotContact{}, now)
		c := fang()
		c.Email = "new@oho.chat"
		c.MemberID = ""                                   // cleared
		c.Tags = c.Tags[1:]                               // VIP gone…
		c.Tags = append(c.Tags, contact.Tag{Name: "vip"}) // …and back in lower case
		c.Facts.LastCustomerMessageAt = now.AddDate(0, -2, 0)
		plan, _ := m.ToOkeybot(c, lineID, first.Desired, now)
		require.NoError(t, plan.Check())
		require.Equal(t, []OkeybotFieldsRequest{{CustomFields: []OkeybotField{
			{Name: "customerid", Value: ""},
			{Name: "email", Value: "new@oho.chat"},
		}}}, plan.Fields)
		require.Equal(t, []OkeybotTagsRequest{{Tags: []string{"VIP"}}}, plan.RemoveTags)
		require.Equal(t, []OkeybotTagsRequest{{Tags: []string{"inactive 30d", "vip"}}}, plan.AddTags)
	})

	t.Run("DirtyLastStateIgnored", func(t *testing.T) {
		t.Parallel()
		last := OkeybotContact{
			CustomFields: []OkeybotField{{Name: " bad", Value: "x"}, {Name: "", Value: "y"}, {Name: "gone", Value: "\x00"}},
			Tags:         []string{"", " spaced ", "old"},
		}
		plan, _ := m.ToOkeybot(fang(), lineID, last, now)
		require.NoError(t, plan.Check())
		for _, r := range plan.Fields {
			for _, f := range r.CustomFields {
				require.NotContains(t, []string{" bad", "", "gone"}, f.Name)
			}
		}
		require.Equal(t, []OkeybotTagsRequest{{Tags: []string{"old"}}}, plan.RemoveTags)
	})

	t.Run("PhoneLocal", func(t *testing.T) {
		t.Parallel()
		for give, want := range map[string]string{"+66812345678": "0812345678", "+886966633355": "+886966633355", "+66123": ""} {
			c := fang()
			c.Phone = give
			plan, cs := m.ToOkeybot(c, lineID, OkeybotContact{}, now)
			got := ""
			for _, f := range plan.Desired.CustomFields {
				if f.Name == "phone" {
					got = f.Value
				}
			}
			require.Equal(t, want, got, give)
			if want == "" {
				require.Equal(t, []ChangeKind{Dropped}, kinds(changesOf(cs, "custom_fields[phone]")))
			}
		}
	})

	t.Run("WildcardNamesDeduplicated", func(t *testing.T) {
		t.Parallel()
		c := fang()
		c.Attributes = append(c.Attributes, contact.Attribute{Key: "EMAIL", Value: "other@x.com"})
		plan, cs := m.ToOkeybot(c, lineID, OkeybotContact{}, now)
		require.Contains(t, plan.Desired.CustomFields, OkeybotField{Name: "email", Value: "hello@oho.chat"})
		require.Equal(t, []Change{{Field: "custom_fields[EMAIL]", Kind: Dropped, Before: "other@x.com",
			Reason: `duplicate of custom field "email" after case and width folding`}}, changesOf(cs, "custom_fields[EMAIL]"))
	})
}

func TestOkeybotContactID(t *testing.T) {
	t.Parallel()
	got := OkeybotContactID(contact.Viber, viber.UserID)
	require.Equal(t, base64.StdEncoding.EncodeToString([]byte(viber.UserID)), got)
	require.NoError(t, okeybotViberIDLimit.Check(got))
	require.Equal(t, "1776025372480910", OkeybotContactID(contact.Facebook, "1776025372480910"))
}

func TestOkeybotPlan_Check(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		give OkeybotPlan
		want string
	}{
		{name: "TooManyFields", give: OkeybotPlan{Fields: []OkeybotFieldsRequest{{CustomFields: make31()}}}, want: "custom_fields: 31 items, max 30"},
		{name: "EmptyTagRequest", give: OkeybotPlan{AddTags: []OkeybotTagsRequest{{}}}, want: "empty request"},
		{name: "TooManyTags", give: OkeybotPlan{RemoveTags: []OkeybotTagsRequest{{Tags: []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"}}}}, want: "11 items, max 10"},
		{name: "UnsortedDesired", give: OkeybotPlan{Desired: OkeybotContact{Tags: []string{"b", "a"}}}, want: "desired tags not sorted"},
		{name: "DuplicateName", give: OkeybotPlan{Desired: OkeybotContact{CustomFields: []OkeybotField{{Name: "a", Value: "1"}, {Name: "A", Value: "2"}}}}, want: "duplicate field name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.give.Check()
			require.ErrorIs(t, err, ErrDoesNotFit)
			require.ErrorContains(t, err, tt.want)
		})
	}
}

func make31() []OkeybotField {
	var fs []OkeybotField
	for i := range 31 {
		fs = append(fs, OkeybotField{Name: string(rune('A'+i/26)) + string(rune('a'+i%26)), Value: "v"})
	}
	return fs
}

func TestMapper_OkeybotFieldNames(t *testing.T) {
	t.Parallel()
	names, wildcard := newMapper(t, fullOptions()).OkeybotFieldNames()
	require.Equal(t, []string{"customerid", "email", "firstName", "messages_30d", "phone"}, names)
	require.True(t, wildcard)
	names, wildcard = newMapper(t, Options{}).OkeybotFieldNames()
	require.Empty(t, names)
	require.False(t, wildcard)
}
