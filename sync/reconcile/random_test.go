package reconcile_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"crmsync/store/storetest"
	"crmsync/sync/reconcile"
)

// world generates random raw data: identities over a few channels sharing
// keys from small pools, so links, chains, merges, splits and held-back keys
// all happen.
type world struct {
	rng      *rand.Rand
	now      time.Time
	users    []string // "platform/channel/user" with a contact row
	ghosts   []string // seen only in messages
	nextUser int
	nextMsg  int
}

var channels = [][2]string{{"line", "ch1"}, {"line", "ch2"}, {"facebook", "fb"}, {"instagram", "ig"}}

func (w *world) phone() string {
	n := w.rng.IntN(40)
	local := fmt.Sprintf("08%08d", 10000000+n*7919)
	switch w.rng.IntN(3) {
	case 0:
		return "66" + local[1:]
	case 1:
		return local[:3] + "-" + local[3:]
	}
	return local
}

func (w *world) email() string {
	e := fmt.Sprintf("user%d@example.com", w.rng.IntN(40))
	if w.rng.IntN(2) == 0 {
		e = " " + strings.ToUpper(e)
	}
	return e
}

func (w *world) maybe(p float64, f func() string) string {
	if w.rng.Float64() < p {
		return f()
	}
	return ""
}

func (w *world) contact(s *seed, ident string) {
	p := strings.SplitN(ident, "/", 3)
	names := []string{"Somchai", "สมหญิง", "😀 Joy", "˚♡̴ 𝒇𝒂𝒏𝒈", ""}
	tags := []string{"vip", "ลูกค้าใหม่", "🔥", "lead"}
	var ts []string
	for _, t := range tags {
		if w.rng.IntN(3) == 0 {
			ts = append(ts, t)
		}
	}
	var attrs []attr
	for _, k := range []string{"tier", "points", "birthday"} {
		if w.rng.IntN(2) == 0 {
			typ := []string{"text", "number", "date"}[w.rng.IntN(3)]
			attrs = append(attrs, attr{Key: k, Value: fmt.Sprint(w.rng.IntN(5)), Type: typ, DisplayName: strings.ToUpper(k)})
		}
	}
	s.contact(rawContact{
		Platform: p[0], Channel: p[1], User: p[2],
		Name:      names[w.rng.IntN(len(names))],
		Phone:     w.maybe(0.3, w.phone),
		Email:     w.maybe(0.3, w.email),
		MemberID:  w.maybe(0.2, func() string { return fmt.Sprintf("M%d", w.rng.IntN(30)) }),
		Tags:      ts,
		Attrs:     attrs,
		UpdatedAt: w.now.Add(-time.Duration(w.rng.IntN(3600)) * time.Second),
	})
}

func (w *world) newIdent() string {
	ch := channels[w.rng.IntN(len(channels))]
	w.nextUser++
	return fmt.Sprintf("%s/%s/u%04d", ch[0], ch[1], w.nextUser)
}

func (w *world) any() string {
	if len(w.ghosts) > 0 && w.rng.IntN(5) == 0 {
		return w.ghosts[w.rng.IntN(len(w.ghosts))]
	}
	return w.users[w.rng.IntN(len(w.users))]
}

func (w *world) batch(s *seed, newContacts, updates, ghosts, messages, tagLogs int) {
	for range newContacts {
		id := w.newIdent()
		w.users = append(w.users, id)
		w.contact(s, id)
	}
	for range updates {
		w.contact(s, w.users[w.rng.IntN(len(w.users))])
	}
	for range ghosts {
		w.ghosts = append(w.ghosts, w.newIdent())
	}
	senders := []string{"customer", "customer", "agent", "bot", "ai-chat"}
	for range messages {
		p := strings.SplitN(w.any(), "/", 3)
		w.nextMsg++
		s.message(rawMessage{ID: fmt.Sprintf("m%d", w.nextMsg), Platform: p[0], Channel: p[1], User: p[2],
			SenderType: senders[w.rng.IntN(len(senders))],
			SentAt:     w.now.Add(-time.Duration(w.rng.IntN(40*24*60)) * time.Minute)})
	}
	for range tagLogs {
		p := strings.SplitN(w.any(), "/", 3)
		s.tagLog(rawTagLog{Platform: p[0], Channel: p[1], User: p[2],
			Tag:    []string{"vip", "ลูกค้าใหม่", "🔥", "lead"}[w.rng.IntN(4)],
			Source: []string{"bot", "agent", "broadcast"}[w.rng.IntN(3)],
			At:     w.now.Add(-time.Duration(w.rng.IntN(10*24*60)) * time.Minute)})
	}
}

// An incremental run after each batch of random changes must leave exactly
// the tables a full rebuild leaves, contact ids and timestamps included.
func TestRun_incrementalEqualsFull(t *testing.T) {
	t.Parallel()
	for _, seedN := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprintf("Seed%d", seedN), func(t *testing.T) {
			t.Parallel()
			inc, full := storetest.New(t), storetest.New(t)
			w := &world{rng: rand.New(rand.NewPCG(seedN, 42)), now: t0}
			c := &clock{t0}
			o := reconcile.Options{NowFunc: c.Now, SharedKeyCeiling: 4}
			var s seed
			w.batch(&s, 200, 0, 30, 600, 80)
			s.apply(t, inc, full)
			for b := range 8 {
				ri := run(t, inc, o, false)
				rf := run(t, full, o, true)
				t.Logf("batch %d: incremental %+v", b, ri)
				t.Logf("batch %d: full %+v", b, rf)
				got, want := snapshot(t, inc), snapshot(t, full)
				require.Equal(t, want, got, "batch %d", b)
				require.Equal(t, []string{"0"}, rows(t, inc, `
					SELECT count(*) FROM contact_facts f LEFT JOIN contacts c ON c.id = f.contact_id
					WHERE c.id IS NULL OR c.merged_into IS NOT NULL`),
					"batch %d: contact_facts holds live contacts only (docs/analysts.md, example 13, counts over it alone)", b)

				// Next batch: new people, changed people, more history, a
				// few overrides, and time passing.
				w.now = w.now.Add(time.Duration(1+w.rng.IntN(96)) * time.Hour)
				c.now = w.now
				w.batch(&s, 10+w.rng.IntN(20), 15+w.rng.IntN(30), w.rng.IntN(5), 50+w.rng.IntN(100), w.rng.IntN(20))
				if b%3 == 1 {
					live := rows(t, inc, `SELECT id FROM contacts WHERE merged_into IS NULL ORDER BY id`)
					pick := func() int64 {
						var id int64
						_, _ = fmt.Sscan(live[w.rng.IntN(len(live))], &id)
						return id
					}
					s.overrideAt(pick(), "pin", "name", "Pinned ✓", w.now)
					s.overrideAt(pick(), "pin", "attribute:tier", "platinum", w.now)
					s.overrideAt(pick(), "exclude_from_push", "", "", w.now)
				}
				s.apply(t, inc, full)
			}
			run(t, inc, o, false)
			run(t, full, o, true)
			require.Equal(t, snapshot(t, full), snapshot(t, inc), "last batch")
			merges := rows(t, inc, `SELECT count(*) FROM contact_merges`)
			splits := rows(t, inc, `SELECT count(*) FROM contact_splits`)
			held := rows(t, inc, `SELECT count(*) FROM shared_keys`)
			t.Logf("merges %v, splits %v, held-back keys %v", merges, splits, held)
			require.NotEqual(t, []string{"0"}, merges, "the data must exercise merges")

			// And a full rebuild on the incrementally kept database changes nothing.
			before := snapshot(t, inc)
			res := run(t, inc, o, true)
			require.Equal(t, 0, res.ContactsUpdated)
			require.Equal(t, before, snapshot(t, inc))
		})
	}
}
