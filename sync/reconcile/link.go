package reconcile

import (
	"cmp"
	"fmt"
	"slices"

	"crmsync/store"
)

// resolve links the identities of g into contacts and decides their ids.
//
// Components are found with union-find over the key edges. Ids stay stable:
// each existing contact is claimed by the component holding its oldest
// (smallest-id) identity; a component takes the smallest id it claims, and
// the other ids it claims are merged into that one (the older id survives).
// A component claiming nothing gets a new id from newIDs; components are
// numbered in the order of their oldest identity, so the same history always
// gives the same ids. Identities that end up in a component other than the
// one that claimed their old contact were split off, and are recorded so.
func resolve(g *store.LinkGraph, newIDs func(n int) ([]int64, error)) (store.LinkChanges, error) {
	var ch store.LinkChanges
	n := len(g.Identities)
	parent := make([]int32, n)
	for i := range parent {
		parent[i] = int32(i)
	}
	find := func(x int32) int32 {
		for parent[x] != x {
			parent[x] = parent[parent[x]]
			x = parent[x]
		}
		return x
	}
	for _, e := range g.Edges {
		a, b := find(e.A), find(e.B)
		if a == b {
			continue
		}
		// The root is always the smallest index, i.e. the oldest identity.
		if a < b {
			parent[b] = a
		} else {
			parent[a] = b
		}
	}
	root := make([]int32, n)
	for i := range root {
		root[i] = find(int32(i))
	}

	// Each old contact is claimed by the component of its oldest identity.
	claimant := make(map[int64]int32)
	for i, c := range g.Contacts {
		if c == 0 {
			continue
		}
		if _, ok := claimant[c]; !ok {
			claimant[c] = root[i]
		}
	}
	target := make([]int64, n) // contact id per root
	for c, r := range claimant {
		if target[r] == 0 || c < target[r] {
			target[r] = c
		}
	}
	var fresh []int32
	for i := range n {
		if root[i] == int32(i) && target[i] == 0 {
			fresh = append(fresh, int32(i))
		}
	}
	if len(fresh) > 0 {
		ids, err := newIDs(len(fresh))
		if err != nil {
			return ch, err
		}
		if len(ids) != len(fresh) {
			return ch, fmt.Errorf("reserved %d contact ids, need %d", len(ids), len(fresh))
		}
		for k, r := range fresh {
			target[r] = ids[k]
		}
		ch.NewContacts = ids
	}

	// Merges: every claimed id other than its component's survivor.
	type via struct {
		identity int64
		kind     string
	}
	keyOf := make(map[int64]via)
	for _, e := range g.Edges {
		if g.Contacts[e.A] == g.Contacts[e.B] {
			continue
		}
		for _, x := range [2]int32{e.A, e.B} {
			c := g.Contacts[x]
			if c == 0 || claimant[c] != root[x] {
				continue
			}
			if _, ok := keyOf[c]; !ok {
				keyOf[c] = via{identity: g.Identities[x], kind: e.Kind}
			}
		}
	}
	for c, r := range claimant {
		if into := target[r]; into != c {
			k, ok := keyOf[c]
			if !ok {
				return ch, fmt.Errorf("contact %d merges into %d but no key links them", c, into)
			}
			ch.Merges = append(ch.Merges, store.Merge{From: c, Into: into, ViaIdentity: k.identity, Kind: k.kind})
		}
	}
	slices.SortFunc(ch.Merges, func(a, b store.Merge) int { return cmp.Compare(a.From, b.From) })

	// Assignments, and splits: identities that left the component that
	// claimed their old contact.
	type move struct{ from, to int64 }
	moved := make(map[move]int)
	for i := range n {
		to := target[root[i]]
		from := g.Contacts[i]
		if to != from {
			ch.Assign = append(ch.Assign, store.Assignment{IdentityID: g.Identities[i], ContactID: to})
		}
		if from != 0 && claimant[from] != root[i] {
			moved[move{from, to}]++
		}
	}
	for m, k := range moved {
		ch.Splits = append(ch.Splits, store.Split{From: m.from, To: m.to, Identities: k})
	}
	slices.SortFunc(ch.Splits, func(a, b store.Split) int {
		return cmp.Or(cmp.Compare(a.From, b.From), cmp.Compare(a.To, b.To))
	})
	return ch, nil
}
