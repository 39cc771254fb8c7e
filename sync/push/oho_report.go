package push

import (
	"strconv"
	"strings"

	"crmsync/mapping"
)

// ohoField is one top-level field of an Oho payload, rendered for a report.
type ohoField struct {
	name  string
	value string
}

// ohoFields renders every top-level field of p, in payload order. Empty
// fields render as "".
func ohoFields(p mapping.OhoContact) []ohoField {
	sp := p.SocialProfile
	social := ""
	if sp.Platform != "" {
		social = sp.Platform + "/" + sp.PlatformID + "/" + sp.ID + " (" + sp.PlatformName
		if sp.LineBasicID != "" {
			social += ", " + sp.LineBasicID
		}
		social += ")"
	}
	age := ""
	if p.Age != 0 {
		age = strconv.Itoa(p.Age)
	}
	attrs := make([]string, len(p.Attributes))
	for i, a := range p.Attributes {
		attrs[i] = a.DisplayName + "=" + a.Value.Text
	}
	return []ohoField{
		{"social_profile", social},
		{"profile_picture_url", p.ProfilePictureURL},
		{"platform_display_name", p.PlatformDisplayName},
		{"display_name", p.DisplayName},
		{"first_name", p.FirstName},
		{"last_name", p.LastName},
		{"phone", p.Phone},
		{"email", p.Email},
		{"country", p.Country},
		{"city", p.City},
		{"gender", p.Gender},
		{"age", age},
		{"birth_date", p.BirthDate},
		{"attributes", list(attrs)},
		{"tags", list(p.Tags)},
		{"labels", list(p.Labels)},
	}
}

// list renders a list as "[a, b]", or "" when empty.
func list(items []string) string {
	if len(items) == 0 {
		return ""
	}
	return "[" + strings.Join(items, ", ") + "]"
}

// ohoChanges lists the fields a create (last nil: every non-empty field) or
// an update (the fields d says changed) writes, with old and new values.
func ohoChanges(last *mapping.OhoContact, desired mapping.OhoContact, d mapping.OhoDiff) []FieldChange {
	news := ohoFields(desired)
	if last == nil {
		out := make([]FieldChange, 0, len(news))
		for _, f := range news {
			if f.value != "" {
				out = append(out, FieldChange{Field: f.name, New: f.value})
			}
		}
		return out
	}
	olds := ohoFields(*last)
	unsent := map[string]string{}
	for _, u := range d.Unsent {
		name, why, _ := strings.Cut(u, " ")
		unsent[name] = strings.Trim(why, "()")
	}
	out := make([]FieldChange, 0, len(d.Changed))
	for _, name := range d.Changed {
		for i, f := range news {
			if f.name == name {
				out = append(out, FieldChange{Field: name, Old: olds[i].value, New: f.value, Unsent: unsent[name]})
			}
		}
	}
	return out
}

// mergeChanges lists the fields a merge's PATCH writes, with the value Oho
// holds (there) and the one it will hold, then the fields crmsync changed
// that no PATCH carries, with crmsync's value (desired).
func mergeChanges(there, desired mapping.OhoContact, mg mapping.OhoMerge) []FieldChange {
	olds, news, wants := ohoFields(there), ohoFields(mg.Result), ohoFields(desired)
	out := make([]FieldChange, 0, len(mg.Changed)+len(mg.Unsent))
	add := func(name string, to []ohoField, unsent string) {
		for i, f := range to {
			if f.name == name {
				out = append(out, FieldChange{Field: name, Old: olds[i].value, New: f.value, Unsent: unsent})
			}
		}
	}
	for _, name := range mg.Changed {
		add(name, news, "")
	}
	for _, u := range mg.Unsent {
		name, why, _ := strings.Cut(u, " ")
		add(name, wants, strings.Trim(why, "()"))
	}
	return out
}
