package mapping

import (
	"fmt"
	"testing"
	"time"

	"crmsync/contact"
)

// benchContact is a busy contact: 40 tags, 30 attributes.
func benchContact() contact.Contact {
	c := fang()
	for i := range 40 {
		c.Tags = append(c.Tags, contact.Tag{Name: fmt.Sprintf("แท็ก %02d", i), AppliedAt: now.Add(-time.Duration(i) * time.Minute)})
	}
	for i := range 30 {
		c.Attributes = append(c.Attributes, contact.Attribute{Key: fmt.Sprintf("k%02d", i), Value: "ค่า ˚♡̴ 𝒇𝒂𝒏𝒈", Type: contact.AttrText, DisplayName: fmt.Sprintf("ชื่อ %02d", i)})
	}
	return c
}

func BenchmarkToOho(b *testing.B) {
	m := newMapper(b, fullOptions())
	c := benchContact()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := m.ToOho(c, lineID, lineTarget, now); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkToOkeybot(b *testing.B) {
	m := newMapper(b, fullOptions())
	c := benchContact()
	last, _ := m.ToOkeybot(fang(), lineID, OkeybotContact{}, now)
	b.ReportAllocs()
	for b.Loop() {
		m.ToOkeybot(c, lineID, last.Desired, now)
	}
}

func BenchmarkFit(b *testing.B) {
	s := "˚♡̴ 𝒇𝒂𝒏𝒈 ปักเป้า 👨\u200d👩\u200d👧\u200d👦 " + benchContact().Attributes[0].Value
	b.ReportAllocs()
	for b.Loop() {
		Fit(s, 10)
	}
}

func BenchmarkKey(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		Key("ลูกค้าประจำ VIP")
	}
}
