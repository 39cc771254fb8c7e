package mapping

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"crmsync/contact"
)

func TestDecide(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name              string
		rule              ConflictRule
		last, there, want string
		wantDecision      Decision
	}{
		{name: "UnchangedNotEdited", last: "a", there: "a", want: "a", wantDecision: KeepThere},
		{name: "UnchangedButEditedThereIsNeverOverwritten", last: "a", there: "agent", want: "a", wantDecision: KeepThere},
		{name: "UnchangedButEditedThereEvenUnderSource", rule: ConflictSource, last: "a", there: "agent", want: "a", wantDecision: KeepThere},
		{name: "ChangedNotEdited", last: "a", there: "a", want: "b", wantDecision: SendWant},
		{name: "ChangedAndAlreadyThere", last: "a", there: "b", want: "b", wantDecision: AlreadyThere},
		{name: "BothChangedDefaultRuleIsSource", last: "a", there: "agent", want: "b", wantDecision: ConflictSent},
		{name: "BothChangedSource", rule: ConflictSource, last: "a", there: "agent", want: "b", wantDecision: ConflictSent},
		{name: "BothChangedDestination", rule: ConflictDestination, last: "a", there: "agent", want: "b", wantDecision: ConflictKept},
		{name: "NeverPushedAndEmptyThere", last: "", there: "", want: "b", wantDecision: SendWant},
		{name: "NeverPushedAndSetThere", rule: ConflictDestination, last: "", there: "agent", want: "b", wantDecision: ConflictKept},
		{name: "ClearedThereWhileChanged", last: "a", there: "", want: "b", wantDecision: ConflictSent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := Decide(tt.rule, tt.last, tt.there, tt.want)
			require.Equal(t, tt.wantDecision, d)
			require.Equal(t, d == ConflictSent || d == ConflictKept, d.IsConflict())
			require.Equal(t, d == SendWant || d == ConflictSent, d.Sends())
		})
	}
}

func TestConflictRule_Validate(t *testing.T) {
	t.Parallel()
	for _, ok := range []ConflictRule{"", ConflictSource, ConflictDestination} {
		require.NoError(t, ok.Validate())
	}
	require.EqualError(t, ConflictRule("crmsync").Validate(), `"crmsync" is not one of source, destination`)
	require.Equal(t, ConflictSource, ConflictRule("").OrDefault())
	require.Equal(t, ConflictDestination, ConflictDestination.OrDefault())
}

// ohoPayload is a minimal pushed Oho payload with the given lists.
func ohoPayload(tags, labels []string, attrs ...OhoAttribute) OhoContact {
	p := OhoContact{
		SocialProfile:       OhoSocialProfile{Platform: "facebook", ID: fbUser, PlatformID: fbPage, PlatformName: "Oho Shop"},
		ProfilePictureURL:   defaultPic,
		PlatformDisplayName: "Somchai",
		DisplayName:         "Somchai",
		FirstName:           "Somchai",
		Email:               "somchai@example.com",
		Tags:                append([]string{}, tags...),
		Labels:              append([]string{}, labels...),
		Attributes:          append([]OhoAttribute{}, attrs...),
	}
	slices.Sort(p.Tags)
	slices.Sort(p.Labels)
	return p
}

func attr(name, text string) OhoAttribute {
	return OhoAttribute{DisplayName: name, Value: OhoAttributeValue{Text: text}}
}

func names(n int, prefix string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%02d", prefix, i)
	}
	return out
}

func TestMapper_MergeOho_lists(t *testing.T) {
	t.Parallel()
	m := newMapper(t, Options{Oho: OhoOptions{DefaultPictureURL: defaultPic}, TagPriority: []string{"VIP*"}})
	tests := []struct {
		name                 string
		last                 *OhoContact // nil: never pushed (found on create)
		there, desired       OhoContact
		wantTags, wantLabels []string
		wantSent             []string // Changed
		wantKept             []OhoKept
		wantDropped          []string // items of crmsync's left out by a cap
	}{
		{
			name:     "ItemAddedInOhoSurvivesCrmsyncsChange",
			last:     new(ohoPayload([]string{"a"}, nil)),
			there:    ohoPayload([]string{"a", "agent"}, nil),
			desired:  ohoPayload([]string{"a", "b"}, nil),
			wantTags: []string{"a", "agent", "b"}, wantLabels: []string{}, wantSent: []string{"tags"},
			wantKept: []OhoKept{{Field: "tags", Value: "agent", Why: keptAdded}},
		},
		{
			name:     "ItemCrmsyncNoLongerWantsIsRemoved",
			last:     new(ohoPayload([]string{"a", "b"}, []string{"l1"})),
			there:    ohoPayload([]string{"a", "agent", "b"}, []string{"l1", "team"}),
			desired:  ohoPayload([]string{"a"}, nil),
			wantTags: []string{"a", "agent"}, wantLabels: []string{"team"}, wantSent: []string{"tags", "labels"},
			wantKept: []OhoKept{{Field: "tags", Value: "agent", Why: keptAdded}, {Field: "labels", Value: "team", Why: keptAdded}},
		},
		{
			name:     "CrmsyncsItemRemovedInOhoIsNotAddedAgain",
			last:     new(ohoPayload([]string{"a", "b"}, nil)),
			there:    ohoPayload([]string{"a"}, nil),
			desired:  ohoPayload([]string{"a", "b", "c"}, nil),
			wantTags: []string{"a", "c"}, wantLabels: []string{}, wantSent: []string{"tags"},
			wantKept: []OhoKept{{Field: "tags", Value: "b", Why: keptRemoved}},
		},
		{
			name:     "FoundOnCreateKeepsEverythingOhoHas",
			there:    ohoPayload([]string{"agent", "x"}, []string{"team"}),
			desired:  ohoPayload([]string{"a"}, []string{"l1"}),
			wantTags: []string{"a", "agent", "x"}, wantLabels: []string{"l1", "team"}, wantSent: []string{"tags", "labels"},
			wantKept: []OhoKept{{Field: "tags", Value: "agent", Why: keptAdded}, {Field: "tags", Value: "x", Why: keptAdded},
				{Field: "labels", Value: "team", Why: keptAdded}},
		},
		{
			name:     "SameItemInAnotherCaseIsAlreadyThere",
			last:     new(ohoPayload(nil, nil)),
			there:    ohoPayload([]string{"vip"}, nil),
			desired:  ohoPayload([]string{"VIP"}, nil),
			wantTags: []string{"vip"}, wantLabels: []string{},
		},
		{
			name:     "TagCapHoldsOhoItemsFirstThenPriority",
			last:     new(ohoPayload(nil, nil)),
			there:    ohoPayload(names(18, "agent"), nil),
			desired:  ohoPayload([]string{"a", "b", "VIP gold", "z"}, nil),
			wantTags: append(names(18, "agent"), "VIP gold", "a"), wantLabels: []string{}, wantSent: []string{"tags"},
			wantDropped: []string{"b", "z"},
		},
		{
			name:     "LabelCapIsTen",
			last:     new(ohoPayload(nil, nil)),
			there:    ohoPayload(nil, names(9, "team")),
			desired:  ohoPayload(nil, []string{"x", "VIP"}),
			wantTags: []string{}, wantLabels: append([]string{"VIP"}, names(9, "team")...), wantSent: []string{"labels"},
			wantDropped: []string{"x"},
		},
		{
			name:     "OhoOverItsOwnCapIsLeftAlone",
			last:     new(ohoPayload(nil, nil)),
			there:    ohoPayload(names(21, "agent"), nil),
			desired:  ohoPayload([]string{"a"}, nil),
			wantTags: names(21, "agent"), wantLabels: []string{},
			wantDropped: []string{"a"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			mg := m.MergeOho(contact.Contact{}, tt.last, tt.there, tt.desired)
			slices.Sort(tt.wantTags)
			slices.Sort(tt.wantLabels)
			require.Equal(t, tt.wantTags, mg.Result.Tags)
			require.Equal(t, tt.wantLabels, mg.Result.Labels)
			require.Equal(t, tt.wantSent, mg.Changed)
			require.LessOrEqual(t, len(mg.Result.Tags), max(20, len(tt.there.Tags)), "within the cap unless Oho itself is over it")
			if slices.Contains(tt.wantSent, "tags") {
				require.Equal(t, mg.Result.Tags, *mg.Update.Tags, "the PATCH carries the merged list whole")
				require.LessOrEqual(t, len(*mg.Update.Tags), 20)
			} else {
				require.Nil(t, mg.Update.Tags)
			}
			if slices.Contains(tt.wantSent, "labels") {
				require.LessOrEqual(t, len(*mg.Update.Labels), 10)
			}
			if tt.wantKept != nil {
				require.Equal(t, tt.wantKept, mg.Kept)
			}
			var dropped []string
			for _, c := range mg.Changes {
				require.Equal(t, Dropped, c.Kind)
				dropped = append(dropped, c.Before)
			}
			require.Equal(t, tt.wantDropped, dropped)
			require.Empty(t, mg.Conflicts, "a list item is never a conflict")

			// Once Oho holds the merge, merging again sends nothing.
			again := m.MergeOho(contact.Contact{}, &tt.desired, mg.Result, tt.desired)
			require.True(t, again.Update.IsZero(), "%+v", again.Update)
		})
	}
}

func TestMapper_MergeOho_capRanksByRecencyAfterPriority(t *testing.T) {
	t.Parallel()
	m := newMapper(t, Options{Oho: OhoOptions{DefaultPictureURL: defaultPic}})
	c := contact.Contact{Tags: []contact.Tag{{Name: "old", AppliedAt: now.Add(-time.Hour)}, {Name: "new", AppliedAt: now}}}
	mg := m.MergeOho(c, new(ohoPayload(nil, nil)), ohoPayload(names(19, "agent"), nil), ohoPayload([]string{"old", "new"}, nil))
	require.Contains(t, mg.Result.Tags, "new")
	require.NotContains(t, mg.Result.Tags, "old")
	require.Equal(t, "Oho keeps at most 20 tags and the 19 set in Oho come first; crmsync's by tag_priority, then recency, then name", mg.Changes[0].Reason)
}

func TestOhoContact_WithoutCapDrops(t *testing.T) {
	t.Parallel()
	m := newMapper(t, Options{Oho: OhoOptions{DefaultPictureURL: defaultPic}})
	desired := ohoPayload([]string{"a", "b"}, nil)
	first := m.MergeOho(contact.Contact{}, new(ohoPayload(nil, nil)), ohoPayload(names(19, "agent"), nil), desired)
	require.NotContains(t, first.Result.Tags, "b", "left out by the cap")

	// An agent frees room; crmsync's wish changes elsewhere, so it merges again.
	there := ohoPayload(append(names(10, "agent"), "a"), nil)
	later := desired
	later.DisplayName = "Somchai J."
	t.Run("LeftOutByTheCapIsAddedOnceThereIsRoom", func(t *testing.T) {
		t.Parallel()
		last := desired.WithoutCapDrops(first.Changes)
		require.Equal(t, []string{"a"}, last.Tags)
		mg := m.MergeOho(contact.Contact{}, &last, there, later)
		require.Contains(t, mg.Result.Tags, "b")
	})
	t.Run("WithoutItItWouldLookRemovedInOho", func(t *testing.T) {
		t.Parallel()
		mg := m.MergeOho(contact.Contact{}, &desired, there, later)
		require.NotContains(t, mg.Result.Tags, "b")
	})
	t.Run("OtherDropsAreNotCapDrops", func(t *testing.T) {
		t.Parallel()
		p := desired.WithoutCapDrops([]Change{{Field: "tags", Kind: Dropped, Before: "a", Reason: "Oho keeps at most 20 tags; lower in tag_priority, then recency, then name"}})
		require.Equal(t, desired.Tags, p.Tags)
	})
}

func TestMapper_MergeOho_fields(t *testing.T) {
	t.Parallel()
	base := func() OhoContact {
		p := ohoPayload(nil, nil, attr("tier", "gold"), attr("points", "10"))
		p.Phone, p.Gender, p.Age = "0811111111", "female", 30
		return p
	}
	tests := []struct {
		name          string
		rule          ConflictRule
		neverPushed   bool
		editThere     func(*OhoContact)
		editDesired   func(*OhoContact)
		want          func(*OhoContact) // the merged contact, from base
		wantSent      []string
		wantConflicts []Conflict
		wantKept      []OhoKept
		wantUnsent    []string
	}{
		{
			name:        "ChangedAndNotEditedIsSent",
			editDesired: func(p *OhoContact) { p.Email = "new@example.com" },
			want:        func(p *OhoContact) { p.Email = "new@example.com" },
			wantSent:    []string{"email"},
		},
		{
			name:      "EditedInOhoAndUnchangedIsNeverOverwritten",
			rule:      ConflictSource,
			editThere: func(p *OhoContact) { p.Email = "agent@shop.example"; p.LastName = "Jaidee" },
			editDesired: func(p *OhoContact) {
				p.DisplayName = "Somchai J."
			},
			want:     func(p *OhoContact) { p.Email, p.LastName, p.DisplayName = "agent@shop.example", "Jaidee", "Somchai J." },
			wantSent: []string{"display_name"},
			wantKept: []OhoKept{{Field: "last_name", Value: "Jaidee", Why: keptEdited}, {Field: "email", Value: "agent@shop.example", Why: keptEdited}},
		},
		{
			name:        "ConflictSourceSendsCrmsyncsValue",
			rule:        ConflictSource,
			editThere:   func(p *OhoContact) { p.Email = "agent@shop.example" },
			editDesired: func(p *OhoContact) { p.Email = "new@example.com" },
			want:        func(p *OhoContact) { p.Email = "new@example.com" },
			wantSent:    []string{"email"},
			wantConflicts: []Conflict{{Field: "email", There: "agent@shop.example", Want: "new@example.com", Last: "somchai@example.com",
				Rule: ConflictSource, Overwrote: true}},
		},
		{
			name:        "ConflictDestinationKeepsTheEdit",
			rule:        ConflictDestination,
			editThere:   func(p *OhoContact) { p.Phone = "0822222222"; p.Age = 31 },
			editDesired: func(p *OhoContact) { p.Phone = "0833333333"; p.Age = 32 },
			want:        func(p *OhoContact) { p.Phone, p.Age = "0822222222", 31 },
			wantConflicts: []Conflict{
				{Field: "phone", There: "0822222222", Want: "0833333333", Last: "0811111111", Rule: ConflictDestination},
				{Field: "age", There: "31", Want: "32", Last: "30", Rule: ConflictDestination},
			},
		},
		{
			name:        "AlreadyThereIsNotSent",
			editThere:   func(p *OhoContact) { p.Email = "new@example.com" },
			editDesired: func(p *OhoContact) { p.Email = "new@example.com" },
			want:        func(p *OhoContact) { p.Email = "new@example.com" },
		},
		{
			name:        "ClearedByCrmsyncCannotBeSent",
			editDesired: func(p *OhoContact) { p.Phone = "" },
			want:        func(*OhoContact) {},
			wantUnsent:  []string{"phone (cleared: Oho documents no way to clear it)"},
		},
		{
			name:        "GenderClearedIsSentAsNotSay",
			editDesired: func(p *OhoContact) { p.Gender = "" },
			want:        func(p *OhoContact) { p.Gender = "" },
			wantSent:    []string{"gender"},
		},
		{
			name:        "CreateOnlyFieldIsUnsent",
			editDesired: func(p *OhoContact) { p.ProfilePictureURL = "https://cdn.example.com/new.png" },
			want:        func(*OhoContact) {},
			wantUnsent:  []string{"profile_picture_url (create only)"},
		},
		{
			name:          "FoundOnCreateConflictHasNoLastValue",
			rule:          ConflictDestination,
			neverPushed:   true,
			editThere:     func(p *OhoContact) { p.DisplayName = "Oho's name" },
			want:          func(p *OhoContact) { p.DisplayName = "Oho's name" },
			wantConflicts: []Conflict{{Field: "display_name", There: "Oho's name", Want: "Somchai", Rule: ConflictDestination}},
		},
		{
			name:        "AttributeAddedInOhoIsKept",
			editThere:   func(p *OhoContact) { p.Attributes = append(p.Attributes, attr("note", "call after 6pm")) },
			editDesired: func(p *OhoContact) { p.Attributes = []OhoAttribute{attr("tier", "platinum"), attr("points", "10")} },
			want: func(p *OhoContact) {
				p.Attributes = []OhoAttribute{attr("tier", "platinum"), attr("points", "10"), attr("note", "call after 6pm")}
			},
			wantSent: []string{"attributes"},
			wantKept: []OhoKept{{Field: "attributes[note]", Value: "call after 6pm", Why: keptAdded}},
		},
		{
			name:        "AttributeCrmsyncNoLongerWantsIsRemoved",
			editDesired: func(p *OhoContact) { p.Attributes = []OhoAttribute{attr("tier", "gold")} },
			want:        func(p *OhoContact) { p.Attributes = []OhoAttribute{attr("tier", "gold")} },
			wantSent:    []string{"attributes"},
		},
		{
			name:        "NewAttributeFollowsOhosInCrmsyncsOrder",
			editThere:   func(p *OhoContact) { p.Attributes = []OhoAttribute{attr("points", "10"), attr("tier", "gold")} },
			editDesired: func(p *OhoContact) { p.Attributes = append(p.Attributes, attr("b", "2"), attr("a", "1")) },
			want: func(p *OhoContact) {
				p.Attributes = []OhoAttribute{attr("points", "10"), attr("tier", "gold"), attr("b", "2"), attr("a", "1")}
			},
			wantSent: []string{"attributes"},
		},
		{
			name:          "AttributeEditedInOhoWhileChangedIsAConflict",
			rule:          ConflictDestination,
			editThere:     func(p *OhoContact) { p.Attributes[0].Value.Text = "silver" },
			editDesired:   func(p *OhoContact) { p.Attributes[0].Value.Text = "platinum" },
			want:          func(p *OhoContact) { p.Attributes[0].Value.Text = "silver" },
			wantConflicts: []Conflict{{Field: "attributes[tier]", There: "silver", Want: "platinum", Last: "gold", Rule: ConflictDestination}},
		},
		{
			name:          "AttributeEditedInOhoThatCrmsyncDropsIsAConflict",
			rule:          ConflictSource,
			editThere:     func(p *OhoContact) { p.Attributes[1].Value.Text = "99" },
			editDesired:   func(p *OhoContact) { p.Attributes = p.Attributes[:1] },
			want:          func(p *OhoContact) { p.Attributes = p.Attributes[:1] },
			wantSent:      []string{"attributes"},
			wantConflicts: []Conflict{{Field: "attributes[points]", There: "99", Want: "", Last: "10", Rule: ConflictSource, Overwrote: true}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := newMapper(t, Options{Oho: OhoOptions{DefaultPictureURL: defaultPic, OnConflict: tt.rule}})
			last, there, desired, want := base(), base(), base(), base()
			for _, f := range []struct {
				edit func(*OhoContact)
				p    *OhoContact
			}{{tt.editThere, &there}, {tt.editDesired, &desired}, {tt.want, &want}} {
				if f.edit != nil {
					f.edit(f.p)
				}
			}
			lastPtr := &last
			if tt.neverPushed {
				lastPtr = nil
			}
			mg := m.MergeOho(contact.Contact{}, lastPtr, there, desired)
			require.Equal(t, want, mg.Result)
			require.Equal(t, tt.wantSent, mg.Changed)
			require.Equal(t, tt.wantConflicts, mg.Conflicts)
			require.Equal(t, tt.wantKept, mg.Kept)
			require.Equal(t, tt.wantUnsent, mg.Unsent)
			require.Equal(t, len(tt.wantSent) == 0, mg.Update.IsZero())
			if slices.Contains(tt.wantSent, "gender") {
				require.Equal(t, "not_say", *mg.Update.Gender)
			}
			// The PATCH applied to Oho's contact gives the merge.
			require.Equal(t, mg.Result, applyUpdate(there, mg.Update))
		})
	}
}

// applyUpdate applies a PATCH to p as Oho documents it: set fields replace,
// lists are replaced whole.
func applyUpdate(p OhoContact, u OhoUpdate) OhoContact {
	for _, f := range []struct {
		dst *string
		src *string
	}{{&p.DisplayName, u.DisplayName}, {&p.FirstName, u.FirstName}, {&p.LastName, u.LastName}, {&p.Phone, u.Phone},
		{&p.Email, u.Email}, {&p.Country, u.Country}, {&p.City, u.City}, {&p.BirthDate, u.BirthDate}} {
		if f.src != nil {
			*f.dst = *f.src
		}
	}
	if u.Gender != nil {
		p.Gender = *u.Gender
		if p.Gender == "not_say" {
			p.Gender = ""
		}
	}
	if u.Age != nil {
		p.Age = *u.Age
	}
	if u.Attributes != nil {
		p.Attributes = *u.Attributes
	}
	if u.Tags != nil {
		p.Tags = *u.Tags
	}
	if u.Labels != nil {
		p.Labels = *u.Labels
	}
	return p
}
