package reconcile

import (
	"iter"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/nyaruka/phonenumbers"

	"crmsync/store"
)

// NormalisePhone returns raw as an E.164 number ("+66812345678"), or "" when
// it is empty or not a valid number. A number without a country code is read
// in region (e.g. "TH": 0812345678 → +66812345678); Omnichat's international
// digits without "+" (66812345678, 886966633355) are read as international
// when they are not a valid number of region.
func NormalisePhone(raw, region string) string {
	s := strings.TrimSpace(raw)
	if s == "" {
		return ""
	}
	if e := parseValid(s, region); e != "" {
		return e
	}
	if s[0] != '+' && s[0] != '0' && onlyDialable(s) {
		return parseValid("+"+s, region)
	}
	return ""
}

func parseValid(s, region string) string {
	num, err := phonenumbers.Parse(s, region)
	if err != nil || !phonenumbers.IsValidNumber(num) {
		return ""
	}
	return phonenumbers.Format(num, phonenumbers.E164)
}

// onlyDialable reports whether s holds only digits and the separators
// people type between them.
func onlyDialable(s string) bool {
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9', r == ' ', r == '-', r == '.', r == '(', r == ')':
		default:
			return false
		}
	}
	return true
}

// phoneBlock is how many phones a worker normalises at a time.
const phoneBlock = 4096

// normalisePhones normalises every raw phone on workers goroutines and
// yields them in the order of raws, as soon as each block of phoneBlock is
// done, so that the caller's COPY overlaps the work that remains. Workers
// stop early when the caller stops iterating.
func normalisePhones(raws []string, region string, workers int) iter.Seq[store.PhoneNumber] {
	return func(yield func(store.PhoneNumber) bool) {
		if len(raws) == 0 {
			return
		}
		workers = max(workers, 1)
		out := make([]store.PhoneNumber, len(raws))
		blocks := (len(raws) + phoneBlock - 1) / phoneBlock
		done := make([]chan struct{}, blocks)
		for b := range done {
			done[b] = make(chan struct{})
		}
		var next atomic.Int64
		var stop atomic.Bool
		var wg sync.WaitGroup
		defer func() { stop.Store(true); wg.Wait() }()
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					b := int(next.Add(1) - 1)
					if b >= blocks || stop.Load() {
						return
					}
					for i := b * phoneBlock; i < min((b+1)*phoneBlock, len(raws)); i++ {
						out[i] = store.PhoneNumber{Raw: raws[i], E164: NormalisePhone(raws[i], region)}
					}
					close(done[b])
				}
			}()
		}
		for b := range blocks {
			<-done[b]
			for i := b * phoneBlock; i < min((b+1)*phoneBlock, len(raws)); i++ {
				if !yield(out[i]) {
					return
				}
			}
		}
	}
}
