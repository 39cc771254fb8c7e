package push

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"unicode/utf8"

	"crmsync/store"
)

// WriteReport writes one contact's report, as crmsync push --dry-run prints
// it: per target the action, then each field written (old → new, quoted;
// for an update, old is what the destination holds now), each conflict
// (a field edited at the destination while crmsync's value changed too) and
// what on_conflict did, what the destination holds that is kept as it is,
// each adjustment mapping made, and each rejection.
//
//	contact 42
//	  line/Ubot…/U1… create
//	    display_name: "" → "Somchai"
//	    adjusted first_name (truncated): "…" → "…": longer than 100 characters
//	  facebook/1234/5678 update
//	    tags: "[a, agent pick]" → "[a, agent pick, b]"
//	    conflict email: Oho has "agent@shop.example" (edited there; crmsync last pushed "old@example.com"), crmsync now "new@example.com": crmsync's value sent (on_conflict: source)
//	    kept tags "agent pick": added in Oho
func WriteReport(w io.Writer, r ContactReport) error {
	if _, err := fmt.Fprintf(w, "contact %d\n", r.ContactID); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	for _, t := range r.Targets {
		key := t.Key
		if key == "" {
			key = "(targets)"
		}
		line := "  " + key + " " + t.Action.String()
		if t.Err != nil {
			line += ": " + t.Err.Error()
		}
		if _, err := fmt.Fprintln(w, line); err != nil {
			return fmt.Errorf("write report: %w", err)
		}
		for _, c := range t.Changes {
			s := fmt.Sprintf("    %s: %s → %s", c.Field, quote(c.Old), quote(c.New))
			if c.Unsent != "" {
				s += " (not sent: " + c.Unsent + ")"
			}
			if _, err := fmt.Fprintln(w, s); err != nil {
				return fmt.Errorf("write report: %w", err)
			}
		}
		for _, c := range t.Conflicts {
			if _, err := fmt.Fprintln(w, "    "+conflictLine(c)); err != nil {
				return fmt.Errorf("write report: %w", err)
			}
		}
		for _, k := range t.Kept {
			s := "    kept " + k.Field
			if k.Value != "" {
				s += " " + quote(k.Value)
			}
			if _, err := fmt.Fprintln(w, s+": "+k.Why); err != nil {
				return fmt.Errorf("write report: %w", err)
			}
		}
		for _, a := range t.Adjustments {
			if _, err := fmt.Fprintf(w, "    adjusted %s (%s): %s → %s: %s\n", a.Field, a.Kind, quote(a.Before), quote(a.After), a.Reason); err != nil {
				return fmt.Errorf("write report: %w", err)
			}
		}
		for _, rj := range t.Rejections {
			s := "    rejected"
			if rj.Field != "" {
				s += " " + rj.Field
			}
			if rj.HTTPStatus != 0 {
				s += fmt.Sprintf(" (HTTP %d)", rj.HTTPStatus)
			}
			s += ": " + rj.Reason
			if _, err := fmt.Fprintln(w, s); err != nil {
				return fmt.Errorf("write report: %w", err)
			}
		}
	}
	return nil
}

// conflictLine renders a conflict for a report.
func conflictLine(c store.PushConflict) string {
	dest := destinationTitle(c.Destination)
	s := fmt.Sprintf("conflict %s: %s has %s (edited there; ", c.Field, dest, quote(c.DestinationValue))
	if c.LastPushedValue == "" {
		s += "crmsync never pushed it"
	} else {
		s += "crmsync last pushed " + quote(c.LastPushedValue)
	}
	s += "), crmsync now " + quote(c.CrmsyncValue) + ": "
	if c.Resolution == store.ConflictOverwroteDestination {
		s += "crmsync's value sent"
	} else {
		s += dest + "'s value kept"
	}
	return s + " (on_conflict: " + c.Rule + ")"
}

// destinationTitle names a destination in a report ("Oho", "Okeybot").
func destinationTitle(d string) string {
	switch d {
	case store.DestinationOho:
		return "Oho"
	case store.DestinationOkeybot:
		return "Okeybot"
	case "":
		return "the destination"
	}
	return d
}

// reportValueMax is how many characters of a value a report shows.
const reportValueMax = 80

// quote quotes s for a report, shortened to reportValueMax characters with
// its full length noted.
func quote(s string) string {
	n := utf8.RuneCountInString(s)
	if n <= reportValueMax {
		return strconv.Quote(s)
	}
	i := 0
	for k := range s {
		if i == reportValueMax {
			return strconv.Quote(s[:k]+"…") + fmt.Sprintf(" (%d characters)", n)
		}
		i++
	}
	return strconv.Quote(s)
}

// WriteSummary writes the counts of a run, then its adjustments and
// rejections by reason, most frequent first.
func WriteSummary(w io.Writer, r Result, dryRun bool) error {
	mode := "push"
	if dryRun {
		mode = "dry run (nothing sent, nothing written)"
	}
	_, err := fmt.Fprintf(w, "%s %s: %d contacts, %d targets: %d create, %d update, %d unchanged, %d record, %d rejected, %d skipped (refused before), %d failed; %d conflicts; %d %s requests, %d LINE requests\n",
		r.Destination, mode, r.Contacts, r.Targets, r.Created, r.Updated, r.Unchanged, r.Recorded, r.Rejected, r.Skipped, r.Failed,
		r.Conflicts, r.Requests, r.Destination, r.HelperRequests)
	if err != nil {
		return fmt.Errorf("write summary: %w", err)
	}
	for _, part := range []struct {
		title  string
		counts map[string]int
	}{{"adjustments", r.Adjustments}, {"rejections", r.Rejections}} {
		if len(part.counts) == 0 {
			continue
		}
		if _, err := fmt.Fprintf(w, "%s by reason:\n", part.title); err != nil {
			return fmt.Errorf("write summary: %w", err)
		}
		for _, k := range byCount(part.counts) {
			if _, err := fmt.Fprintf(w, "  %6d  %s\n", part.counts[k], k); err != nil {
				return fmt.Errorf("write summary: %w", err)
			}
		}
	}
	return nil
}

// byCount returns the keys of m, most frequent first, then by name.
func byCount(m map[string]int) []string {
	ks := slices.Sorted(maps.Keys(m))
	slices.SortStableFunc(ks, func(a, b string) int { return cmp.Compare(m[b], m[a]) })
	return ks
}
