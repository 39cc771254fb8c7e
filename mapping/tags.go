package mapping

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"crmsync/contact"
)

// candidate is a tag or label on its way into a capped, deduplicated list.
type candidate struct {
	name    string // clean text, as sent
	key     string // Key(name)
	rank    int    // index of the first tag_priority pattern it matches
	applied time.Time
}

// compareCandidates orders by priority, then most recently applied, then
// name (by Key, then bytes), which makes the order total and deterministic.
func compareCandidates(a, b candidate) int {
	if a.rank != b.rank {
		return a.rank - b.rank
	}
	if c := b.applied.Compare(a.applied); c != 0 {
		return c
	}
	if c := strings.Compare(a.key, b.key); c != 0 {
		return c
	}
	return strings.Compare(a.name, b.name)
}

// cleanTags returns the contact's tags as clean text, recording repairs and
// dropping empty names. field is "tags" or "labels" etc. for the changes.
func cleanTags(cs *changes, field string, tags []contact.Tag) []contact.Tag {
	out := make([]contact.Tag, 0, len(tags))
	for _, t := range tags {
		name := fitText(cs, field, t.Name, 0)
		if name == "" {
			if t.Name != "" {
				cs.add(field, Dropped, printable(t.Name), "", "tag name is empty after trimming")
			}
			continue
		}
		t.Name = name
		out = append(out, t)
	}
	return out
}

// newCandidate ranks a clean name by the tag priority patterns.
func newCandidate(in *input, priority []pattern, name string, applied time.Time) candidate {
	k := in.key(name)
	return candidate{name: name, key: k, rank: rank(priority, name, k), applied: applied}
}

// choose orders the candidates, keeps the first of each Key, keeps at most
// max (max ≤ 0: all) and returns the kept names sorted by bytes. Every
// candidate left out is recorded as Dropped under field ("tags" or "labels").
func choose(cs *changes, field string, cands []candidate, max int) []string {
	slices.SortStableFunc(cands, compareCandidates)
	seen := map[string]string{}
	var kept []string
	for _, c := range cands {
		if first, dup := seen[c.key]; dup {
			if first != c.name {
				cs.add(field, Dropped, c.name, "", fmt.Sprintf("duplicate of %q after case and width folding", first))
			}
			continue
		}
		seen[c.key] = c.name
		if max > 0 && len(kept) == max {
			cs.add(field, Dropped, c.name, "", fmt.Sprintf("Oho keeps at most %d %s; lower in tag_priority, then recency, then name", max, field))
			continue
		}
		kept = append(kept, c.name)
	}
	slices.Sort(kept)
	return kept
}

// chooseTags selects the tags for a destination: master tags passing the
// include and exclude patterns, plus the fact tags that hold.
func chooseTags(cs *changes, field string, in *input, tags []contact.Tag, r tagRules, priority []pattern, max int) []string {
	var cands []candidate
	for _, t := range tags {
		k := in.key(t.Name)
		if len(r.include) > 0 && !matchAny(r.include, t.Name, k) {
			continue
		}
		if matchAny(r.exclude, t.Name, k) {
			continue
		}
		cands = append(cands, newCandidate(in, priority, t.Name, t.AppliedAt))
	}
	for _, ft := range r.facts {
		if ft.fact.eval(in.c.Facts, in.now, in.loc) == "true" {
			cands = append(cands, newCandidate(in, priority, ft.tag, time.Time{}))
		}
	}
	return choose(cs, field, cands, max)
}

// chooseLabels applies the label rules: tags matching a pattern rule become
// labels (renamed when the rule has a label), true facts add their label.
func chooseLabels(cs *changes, in *input, tags []contact.Tag, rules []labelRule, priority []pattern) []string {
	var cands []candidate
	for _, r := range rules {
		if r.pattern == nil {
			if r.fact.eval(in.c.Facts, in.now, in.loc) == "true" {
				cands = append(cands, newCandidate(in, priority, r.label, time.Time{}))
			}
			continue
		}
		for _, t := range tags {
			if !r.pattern.match(t.Name, in.key(t.Name)) {
				continue
			}
			name := t.Name
			if r.label != "" {
				name = r.label
			}
			cands = append(cands, newCandidate(in, priority, name, t.AppliedAt))
		}
	}
	return choose(cs, "labels", cands, ohoLabelsLimit.Max)
}
