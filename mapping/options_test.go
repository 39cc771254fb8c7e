package mapping

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// decodeMapping decodes the mapping section of a jobs.yaml strictly, as
// package config does.
func decodeMapping(t *testing.T, src string) (Options, error) {
	t.Helper()
	var doc struct {
		Mapping Options `yaml:"mapping"`
	}
	dec := yaml.NewDecoder(strings.NewReader(src))
	dec.KnownFields(true)
	err := dec.Decode(&doc)
	return doc.Mapping, err
}

func TestOptions_yamlExample(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile(filepath.Join("testdata", "options", "example.yaml"))
	require.NoError(t, err)
	o, err := decodeMapping(t, string(src))
	require.NoError(t, err)
	require.NoError(t, o.Validate())

	want := fullOptions()
	want.Oho.Fields.Age = "attr:age"
	want.Oho.Labels = want.Oho.Labels[:3]
	want.Okeybot.CustomFields = append(want.Okeybot.CustomFields[:4], FieldRule{From: "attr:*"})
	want.Okeybot.Tags.Include = nil
	want.DefaultRegion = "TH"
	want.Oho.ForeignPhone = "dial"
	want.Oho.DialPrefix = "001"
	require.Equal(t, want, o)

	doc, err := os.ReadFile("doc.go")
	require.NoError(t, err)
	for _, line := range strings.Split(strings.TrimSpace(string(src)), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		require.True(t, bytes.Contains(doc, []byte("//\t"+line+"\n")), "doc.go shows the example line %q", line)
	}
}

func TestOptions_yamlUnknownKey(t *testing.T) {
	t.Parallel()
	_, err := decodeMapping(t, "mapping:\n  oho:\n    labelz: []\n")
	require.ErrorContains(t, err, "field labelz not found")
}

func TestDefaultOptions(t *testing.T) {
	t.Parallel()
	o := DefaultOptions()
	require.Equal(t, "TH", o.DefaultRegion)
	require.Equal(t, time.UTC, o.Location)
	require.Equal(t, "drop", o.Oho.ForeignPhone, "Oho documents only national numbers")
	require.Equal(t, ConflictSource, o.Oho.OnConflict)
	require.Equal(t, OhoFields{DisplayName: "name", Phone: "phone", Email: "email"}, o.Oho.Fields)
	require.NoError(t, o.Validate())
	require.Equal(t, o, Options{}.WithDefaults())
	require.Equal(t, o, o.WithDefaults(), "WithDefaults is idempotent")

	m, err := New(Options{})
	require.NoError(t, err)
	require.Equal(t, o, m.Options())
}

func TestOptions_Validate_errors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		give string // the mapping section
		want []string
	}{
		{name: "UnknownRegion", give: "default_region: XX", want: []string{`mapping.default_region: unknown region "XX"`}},
		{name: "BadPriorityRegexp", give: "tag_priority: [ok, \"re:(\"]",
			want: []string{"mapping.tag_priority[1]: invalid regexp \"(\""}},
		{name: "BadLabelPattern", give: "oho:\n  labels:\n    - pattern: a\n    - fact: awaiting_reply\n      label: x\n    - pattern: \"re:[\"",
			want: []string{"mapping.oho.labels[2].pattern: invalid regexp \"[\""}},
		{name: "LabelPatternAndFact", give: "oho:\n  labels:\n    - {pattern: a, fact: awaiting_reply}", want: []string{"mapping.oho.labels[0]: set pattern or fact, not both"}},
		{name: "LabelNeither", give: "oho:\n  labels:\n    - {label: a}", want: []string{"mapping.oho.labels[0]: set pattern"}},
		{name: "LabelFactWithoutLabel", give: "oho:\n  labels:\n    - {fact: awaiting_reply}", want: []string{"mapping.oho.labels[0].label: required"}},
		{name: "LabelValueFact", give: "oho:\n  labels:\n    - {fact: messages_total, label: x}",
			want: []string{`mapping.oho.labels[0].fact: fact "messages_total" is a value, not true/false`}},
		{name: "UnknownFact", give: "oho:\n  tags:\n    facts:\n      - {fact: happy, tag: x}",
			want: []string{`mapping.oho.tags.facts[0].fact: unknown fact "happy" (want one of has_messages, `}},
		{name: "UnknownSource", give: "oho:\n  fields:\n    gender: sex", want: []string{`mapping.oho.fields.gender: unknown source "sex" (want one of name, `}},
		{name: "WildcardInField", give: "oho:\n  fields:\n    gender: \"attr:*\"", want: []string{"mapping.oho.fields.gender: attr:* is only allowed"}},
		{name: "EmptyAttrKey", give: "okeybot:\n  custom_fields:\n    - {from: \"attr:\", name: x}", want: []string{`mapping.okeybot.custom_fields[0].from: "attr:" names no attribute key`}},
		{name: "AttributeNameTooLong", give: "oho:\n  attributes:\n    - {from: email, display_name: " + strings.Repeat("ก", 101) + "}",
			want: []string{"mapping.oho.attributes[0].display_name: ", "is 101 characters, the destination allows 100"}},
		{name: "AttributeNameMissing", give: "oho:\n  attributes:\n    - {from: email}", want: []string{"mapping.oho.attributes[0].display_name: required"}},
		{name: "AttributeNameDuplicate", give: "oho:\n  attributes:\n    - {from: email, display_name: Email}\n    - {from: phone, display_name: ＥＭＡＩＬ}",
			want: []string{`mapping.oho.attributes[1].display_name: "ＥＭＡＩＬ" is already used by oho.attributes[0]`}},
		{name: "AttributeNameSpaces", give: "oho:\n  attributes:\n    - {from: email, display_name: \" Email\"}",
			want: []string{"mapping.oho.attributes[0].display_name: \" Email\" has invalid UTF-8, control characters or surrounding space"}},
		{name: "WildcardWithName", give: "oho:\n  attributes:\n    - {from: \"attr:*\", display_name: x}",
			want: []string{"mapping.oho.attributes[0].display_name: must be empty with from: attr:*"}},
		{name: "FieldNameDuplicate", give: "okeybot:\n  custom_fields:\n    - {from: email, name: email}\n    - {from: phone, name: Email}",
			want: []string{`mapping.okeybot.custom_fields[1].name: "Email" is already used by okeybot.custom_fields[0]`}},
		{name: "CountryWithoutValues", give: "oho:\n  fields:\n    country: attr:country", want: []string{"mapping.oho.fields.country: needs mapping.oho.countries"}},
		{name: "EnumAliasClash", give: "oho:\n  cities:\n    - {value: A, aliases: [x]}\n    - {value: B, aliases: [X]}",
			want: []string{`mapping.oho.cities[1].aliases[0]: "X" already means "A"`}},
		{name: "BadPicture", give: "oho:\n  default_picture_url: /avatar.png", want: []string{"mapping.oho.default_picture_url: want an absolute http or https URL"}},
		{name: "BadOnConflict", give: "oho:\n  on_conflict: newest", want: []string{`mapping.oho.on_conflict: "newest" is not one of source, destination`}},
		{name: "BadForeignPhone", give: "oho:\n  foreign_phone: keep", want: []string{`mapping.oho.foreign_phone: "keep" is not one of drop, dial, e164`}},
		{name: "DialNeedsAPrefixInThailand", give: "oho:\n  foreign_phone: dial", want: []string{
			"mapping.oho.dial_prefix: required with foreign_phone: dial: TH has no single international call prefix beginning with 0"}},
		{name: "BadDialPrefix", give: "oho:\n  foreign_phone: dial\n  dial_prefix: \"+\"", want: []string{
			`mapping.oho.dial_prefix: "+" is not an international call prefix written as Oho needs it`}},
		{name: "EmptyPattern", give: "okeybot:\n  tags:\n    exclude: [\"\"]", want: []string{"mapping.okeybot.tags.exclude[0]: empty pattern"}},
		{name: "AllProblemsAtOnce", give: "default_region: XX\noho:\n  foreign_phone: keep",
			want: []string{"mapping.default_region:", "mapping.oho.foreign_phone:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src := "mapping:\n" + indent(tt.give)
			o, err := decodeMapping(t, src)
			require.NoError(t, err, src)
			err = o.Validate()
			require.Error(t, err)
			for _, w := range tt.want {
				require.Contains(t, err.Error(), w)
			}
			_, err = New(o)
			require.Error(t, err)
		})
	}
}

func indent(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = "  " + l
	}
	return strings.Join(lines, "\n") + "\n"
}

func TestOptions_Validate_none(t *testing.T) {
	t.Parallel()
	o, err := decodeMapping(t, "mapping:\n  oho:\n    fields:\n      phone: none\n      email: none\n")
	require.NoError(t, err)
	m := newMapper(t, o)
	c := fang()
	p, _, err := m.ToOho(c, lineID, lineTarget, now)
	require.NoError(t, err)
	require.Empty(t, p.Phone)
	require.Empty(t, p.Email)
	require.Equal(t, "none", m.Options().Oho.Fields.Phone)
}
