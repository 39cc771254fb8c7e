package reconcile

import (
	"testing"

	"github.com/stretchr/testify/require"

	"crmsync/store"
)

func TestResolve_components(t *testing.T) {
	t.Parallel()
	// newIDs hands out 101, 102, ...
	newIDs := func(n int) ([]int64, error) {
		out := make([]int64, n)
		for i := range out {
			out[i] = int64(101 + i)
		}
		return out, nil
	}
	tests := []struct {
		name string
		give store.LinkGraph
		want store.LinkChanges
	}{
		{
			name: "NewIdentitiesGetIDsInOrderOfTheirOldestIdentity",
			give: store.LinkGraph{
				Identities: []int64{1, 2, 3},
				Contacts:   []int64{0, 0, 0},
				Edges:      []store.LinkEdge{{A: 2, B: 0, Kind: store.KeyPhone}},
			},
			want: store.LinkChanges{
				NewContacts: []int64{101, 102},
				Assign:      []store.Assignment{{IdentityID: 1, ContactID: 101}, {IdentityID: 2, ContactID: 102}, {IdentityID: 3, ContactID: 101}},
			},
		},
		{
			name: "MergeKeepsTheOlderID",
			give: store.LinkGraph{
				Identities: []int64{1, 2, 3},
				Contacts:   []int64{7, 5, 0},
				Edges:      []store.LinkEdge{{A: 2, B: 0, Kind: store.KeyEmail}, {A: 1, B: 2, Kind: store.KeyPhone}},
			},
			want: store.LinkChanges{
				Assign: []store.Assignment{{IdentityID: 1, ContactID: 5}, {IdentityID: 3, ContactID: 5}},
				Merges: []store.Merge{{From: 7, Into: 5, ViaIdentity: 1, Kind: store.KeyEmail}},
			},
		},
		{
			name: "SplitLeavesTheIDWithTheOldestIdentity",
			give: store.LinkGraph{
				Identities: []int64{1, 2, 3},
				Contacts:   []int64{9, 9, 9},
				Edges:      []store.LinkEdge{{A: 2, B: 1, Kind: store.KeyMemberID}},
			},
			want: store.LinkChanges{
				NewContacts: []int64{101},
				Assign:      []store.Assignment{{IdentityID: 2, ContactID: 101}, {IdentityID: 3, ContactID: 101}},
				Splits:      []store.Split{{From: 9, To: 101, Identities: 2}},
			},
		},
		{
			name: "SplitPartJoiningAnotherContact",
			give: store.LinkGraph{
				Identities: []int64{1, 2, 3},
				Contacts:   []int64{4, 4, 8},
				Edges:      []store.LinkEdge{{A: 2, B: 1, Kind: store.KeyPhone}},
			},
			// Contact 4's oldest identity (1) stays alone and keeps 4;
			// identity 2 now links to contact 8's identity, which keeps 8.
			want: store.LinkChanges{
				Assign: []store.Assignment{{IdentityID: 2, ContactID: 8}},
				Splits: []store.Split{{From: 4, To: 8, Identities: 1}},
			},
		},
		{
			name: "NothingChanges",
			give: store.LinkGraph{
				Identities: []int64{1, 2},
				Contacts:   []int64{3, 3},
				Edges:      []store.LinkEdge{{A: 1, B: 0, Kind: store.KeyPhone}},
			},
			want: store.LinkChanges{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := resolve(&tt.give, newIDs)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}
