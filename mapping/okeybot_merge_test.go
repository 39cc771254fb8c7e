package mapping

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestMapper_ToOkeybot_onlyItsOwnTagsAreRemoved(t *testing.T) {
	t.Parallel()
	m := newMapper(t, fullOptions())
	first, _ := m.ToOkeybot(fang(), lineID, OkeybotContact{}, now)
	// Of the desired tags, "VIP" was found in Okeybot when crmsync read the
	// contact: it is theirs. The others crmsync added.
	last := first.Desired
	last.Tags = []string{"packgate รายเดือน", "ติดตามสินค้า", "ลูกค้าประจำ"}
	last.TheirTags = []string{"VIP"}

	t.Run("TheirsIsNeverAdded", func(t *testing.T) {
		t.Parallel()
		plan, _ := m.ToOkeybot(fang(), lineID, last, now)
		require.True(t, plan.IsZero(), "VIP is there already: %+v", plan)
	})
	t.Run("TheirsIsNeverRemoved", func(t *testing.T) {
		t.Parallel()
		c := fang()
		c.Tags = nil // crmsync wants no tag at all now
		plan, _ := m.ToOkeybot(c, lineID, last, now)
		require.NoError(t, plan.Check())
		require.Empty(t, plan.AddTags)
		require.Equal(t, []OkeybotTagsRequest{{Tags: []string{"packgate รายเดือน", "ติดตามสินค้า", "ลูกค้าประจำ"}}}, plan.RemoveTags,
			"only the tags crmsync added")
	})
}

func TestMapper_OkeybotOnConflict(t *testing.T) {
	t.Parallel()
	tests := []struct {
		give    string
		want    string
		wantErr string
	}{
		{give: "", want: "source"},
		{give: "source", want: "source"},
		{give: "destination", want: "destination"},
		{give: "Destination", wantErr: `mapping.okeybot.on_conflict: "Destination" is not one of source, destination`},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			t.Parallel()
			m, err := New(Options{Okeybot: OkeybotOptions{OnConflict: ConflictRule(tt.give)}})
			if tt.wantErr != "" {
				require.EqualError(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, ConflictRule(tt.want), m.OkeybotOnConflict())
		})
	}
}

func TestMapper_MergeOkeybot(t *testing.T) {
	t.Parallel()
	// crmsync last pushed name=Mali, email=m@x, tier=gold and the tags a, b;
	// it now wants name=Mali Dee, email=new@x, tier cleared, tags b, c, d.
	last := OkeybotContact{
		CustomFields: []OkeybotField{{Name: "email", Value: "m@x"}, {Name: "name", Value: "Mali"}, {Name: "tier", Value: "gold"}},
		Tags:         []string{"a", "b"},
	}
	plan := OkeybotPlan{
		Desired: OkeybotContact{CustomFields: []OkeybotField{{Name: "email", Value: "new@x"}, {Name: "name", Value: "Mali Dee"}},
			Tags: []string{"b", "c", "d"}},
		Fields: []OkeybotFieldsRequest{{CustomFields: []OkeybotField{
			{Name: "email", Value: "new@x"}, {Name: "name", Value: "Mali Dee"}, {Name: "tier", Value: ""}}}},
		RemoveTags: []OkeybotTagsRequest{{Tags: []string{"a"}}},
		AddTags:    []OkeybotTagsRequest{{Tags: []string{"c", "d"}}},
	}
	tests := []struct {
		name          string
		rule          string
		there         OkeybotThere
		wantSend      []OkeybotField
		wantConflicts []OkeybotConflict
		wantSettled   []OkeybotField
		wantRemove    []string
		wantAdd       []string
		wantTheirs    []string
		wantAbsent    []string
	}{
		{
			name:     "NobodyEditedItEverythingIsSent",
			there:    OkeybotThere{CustomFields: map[string]string{"email": "m@x", "name": "Mali", "tier": "gold", "locale": "th"}, Tags: []string{"a", "b", "x"}},
			wantSend: plan.Fields[0].CustomFields, wantRemove: []string{"a"}, wantAdd: []string{"c", "d"},
		},
		{
			name:        "OkeybotHoldsCrmsyncsValueAlready",
			there:       OkeybotThere{CustomFields: map[string]string{"email": "new@x", "name": "Mali"}, Tags: []string{"c"}},
			wantSend:    []OkeybotField{{Name: "name", Value: "Mali Dee"}},
			wantSettled: []OkeybotField{{Name: "email", Value: "new@x"}, {Name: "tier", Value: ""}},
			wantAdd:     []string{"d"}, wantTheirs: []string{"c"}, wantAbsent: []string{"a"},
		},
		{
			name:     "EditedInOkeybotSourceWins",
			rule:     "source",
			there:    OkeybotThere{CustomFields: map[string]string{"email": "agent@x", "name": "Mali", "tier": "platinum"}, Tags: []string{"a"}},
			wantSend: plan.Fields[0].CustomFields,
			wantConflicts: []OkeybotConflict{
				{Field: "email", There: "agent@x", Want: "new@x", Last: "m@x"},
				{Field: "tier", There: "platinum", Want: "", Last: "gold"},
			},
			wantRemove: []string{"a"}, wantAdd: []string{"c", "d"},
		},
		{
			name:     "EditedInOkeybotDestinationWins",
			rule:     "destination",
			there:    OkeybotThere{CustomFields: map[string]string{"email": "agent@x", "name": "Mali", "tier": "platinum"}, Tags: []string{"a"}},
			wantSend: []OkeybotField{{Name: "name", Value: "Mali Dee"}},
			wantConflicts: []OkeybotConflict{
				{Field: "email", There: "agent@x", Want: "new@x", Last: "m@x", Kept: true},
				{Field: "tier", There: "platinum", Want: "", Last: "gold", Kept: true},
			},
			wantSettled: []OkeybotField{{Name: "email", Value: "new@x"}, {Name: "tier", Value: ""}},
			wantRemove:  []string{"a"}, wantAdd: []string{"c", "d"},
		},
		{
			name:          "ClearedInOkeybotIsAnEditToo",
			rule:          "destination",
			there:         OkeybotThere{CustomFields: map[string]string{"email": "m@x", "tier": "gold"}},
			wantSend:      []OkeybotField{{Name: "email", Value: "new@x"}, {Name: "tier", Value: ""}},
			wantConflicts: []OkeybotConflict{{Field: "name", There: "", Want: "Mali Dee", Last: "Mali", Kept: true}},
			wantSettled:   []OkeybotField{{Name: "name", Value: "Mali Dee"}},
			wantAdd:       []string{"c", "d"}, wantAbsent: []string{"a"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := newMapper(t, Options{Okeybot: OkeybotOptions{OnConflict: ConflictRule(tt.rule)}})
			got := m.MergeOkeybot(plan, last, tt.there)
			require.NoError(t, got.Plan.Check())
			require.Equal(t, plan.Desired, got.Plan.Desired)
			var send []OkeybotField
			for _, r := range got.Plan.Fields {
				send = append(send, r.CustomFields...)
			}
			require.Equal(t, tt.wantSend, send)
			require.Equal(t, tt.wantConflicts, got.Conflicts)
			require.Equal(t, tt.wantSettled, got.Settled)
			require.Equal(t, tt.wantRemove, tagsOf(got.Plan.RemoveTags))
			require.Equal(t, tt.wantAdd, tagsOf(got.Plan.AddTags))
			require.Equal(t, tt.wantTheirs, got.TheirTags)
			require.Equal(t, tt.wantAbsent, got.Absent)
		})
	}

	t.Run("FoundByLookupNothingPushedBefore", func(t *testing.T) {
		t.Parallel()
		m := newMapper(t, Options{})
		fresh := OkeybotPlan{
			Desired: OkeybotContact{CustomFields: []OkeybotField{{Name: "name", Value: "Mali"}, {Name: "phone", Value: "+66812345678"}}, Tags: []string{"new", "vip"}},
			Fields:  []OkeybotFieldsRequest{{CustomFields: []OkeybotField{{Name: "name", Value: "Mali"}, {Name: "phone", Value: "+66812345678"}}}},
			AddTags: []OkeybotTagsRequest{{Tags: []string{"new", "vip"}}},
		}
		got := m.MergeOkeybot(fresh, OkeybotContact{}, OkeybotThere{
			CustomFields: map[string]string{"phone": "+66812345678", "name": "Mali (old)", "locale": "th_TH"}, Tags: []string{"vip", "Blog Updates"}})
		require.Equal(t, []OkeybotFieldsRequest{{CustomFields: []OkeybotField{{Name: "name", Value: "Mali"}}}}, got.Plan.Fields)
		require.Equal(t, []OkeybotConflict{{Field: "name", There: "Mali (old)", Want: "Mali"}}, got.Conflicts,
			"a value set there before crmsync ever pushed is an edit there too")
		require.Equal(t, []string{"vip"}, got.TheirTags)
		require.Equal(t, []string{"new"}, tagsOf(got.Plan.AddTags))
	})
}

func tagsOf(rs []OkeybotTagsRequest) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Tags...)
	}
	return out
}
