package mapping

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"crmsync/contact"
)

// Run with UPDATE_GOLDEN=1 to rewrite testdata/golden after a deliberate change.
var updateGolden = os.Getenv("UPDATE_GOLDEN") == "1"

// checkGolden compares v, as indented JSON, with testdata/golden/name.json.
func checkGolden(t *testing.T, name string, v any) {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	require.NoError(t, enc.Encode(v))
	path := filepath.Join("testdata", "golden", name+".json")
	if updateGolden {
		require.NoError(t, os.WriteFile(path, b.Bytes(), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "missing golden file: run UPDATE_GOLDEN=1 go test ./mapping")
	require.Equal(t, string(want), b.String(), "golden %s differs: if intended, rerun with UPDATE_GOLDEN=1", path)
}

type ohoGolden struct {
	Payload OhoContact `json:"payload"`
	Hash    string     `json:"hash"`
	Changes []Change   `json:"changes"`
	Error   string     `json:"error,omitempty"`
}

type okeybotGolden struct {
	Plan    OkeybotPlan `json:"plan"`
	Hash    string      `json:"hash"`
	Changes []Change    `json:"changes"`
}

// messy is a contact with everything wrong that can be wrong.
func messy() contact.Contact {
	family := "👨\u200d👩\u200d👧\u200d👦"
	c := contact.Contact{
		ID:       9,
		Name:     " \xffZ" + strings.Repeat("é", 120) + "ปักเป้า" + strings.Repeat(family, 20) + " ",
		Email:    "Somchai <SOMCHAI@Example.CO.TH>",
		Phone:    "+66 2 123 4567 ext. 99",
		MemberID: "M-\x00001",
		Attributes: []contact.Attribute{
			{Key: "bio", Value: strings.Repeat("ก้", 1001), DisplayName: "Bio"},
			{Key: "gender", Value: "เพศหญิง", DisplayName: "gender"},
			{Key: "long", Value: "x", DisplayName: strings.Repeat("˚♡̴", 40)},
			{Key: "dob", Value: "๒๙/๑๑/๒๕๔๑", DisplayName: "วันเกิด"},
		},
		Facts:      contact.Facts{LastCustomerMessageAt: now.Add(-40 * 24 * time.Hour), MessagesTotal: 1, FirstMessageAt: now.Add(-40 * 24 * time.Hour)},
		Identities: []contact.Profile{{Identity: lineID}},
	}
	for i := range 24 {
		c.Tags = append(c.Tags, contact.Tag{Name: fmt.Sprintf("tag %02d", i), AppliedAt: now.Add(-time.Duration(i) * time.Hour)})
	}
	c.Tags = append(c.Tags, contact.Tag{Name: "ＶＩＰ"}, contact.Tag{Name: "vip"}, contact.Tag{Name: "  "}, contact.Tag{Name: "ติดตาม\x07สินค้า"})
	return c
}

func messyOptions() Options {
	o := fullOptions()
	o.Oho.Fields.BirthDate = "attr:dob"
	return o
}

func TestMapper_ToOho_golden(t *testing.T) {
	t.Parallel()
	noPicture := limitsOptions()
	noPicture.Oho.DefaultPictureURL = ""
	tests := []struct {
		name string
		o    Options
		c    contact.Contact
		id   contact.Identity
		tg   OhoTarget
	}{
		{name: "oho_line_fang", o: fullOptions(), c: fang(), id: lineID, tg: lineTarget},
		{name: "oho_facebook_fang", o: fullOptions(), c: fang(), id: fbID, tg: fbTarget},
		{name: "oho_line_messy", o: messyOptions(), c: messy(), id: lineID, tg: OhoTarget{PlatformID: lineBot, LineBasicID: "@129oruit", PictureURL: "javascript:alert(1)"}},
		{name: "oho_facebook_rejected_no_picture", o: noPicture, c: fang(), id: fbID, tg: fbTarget},
		{name: "oho_defaults_only", o: Options{}, c: fang(), id: lineID, tg: lineTarget},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := newMapper(t, tt.o)
			p, cs, err := m.ToOho(tt.c, tt.id, tt.tg, now)
			g := ohoGolden{Payload: p, Changes: cs}
			if err != nil {
				g.Error = err.Error()
			} else {
				require.NoError(t, p.Check())
				h, err := Hash(p)
				require.NoError(t, err)
				g.Hash = h
			}
			checkGolden(t, tt.name, g)
		})
	}
}

func TestMapper_ToOkeybot_golden(t *testing.T) {
	t.Parallel()
	m := newMapper(t, messyOptions())
	first, _ := m.ToOkeybot(fang(), lineID, OkeybotContact{}, now)
	tests := []struct {
		name string
		c    contact.Contact
		id   contact.Identity
		last OkeybotContact
	}{
		{name: "okeybot_line_fang_new", c: fang(), id: lineID},
		{name: "okeybot_viber_messy_update", c: messy(), id: viber, last: first.Desired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			plan, cs := m.ToOkeybot(tt.c, tt.id, tt.last, now)
			require.NoError(t, plan.Check())
			h, err := Hash(plan.Desired)
			require.NoError(t, err)
			checkGolden(t, tt.name, okeybotGolden{Plan: plan, Hash: h, Changes: cs})
		})
	}
}
