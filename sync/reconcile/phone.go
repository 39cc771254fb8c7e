package reconcile

import (
	"strings"

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

// normalisePhones normalises every raw phone, in parallel over workers.
func normalisePhones(raws []string, region string, workers int) []store.PhoneNumber {
	out := make([]store.PhoneNumber, len(raws))
	if workers < 1 {
		workers = 1
	}
	done := make(chan struct{}, workers)
	chunk := (len(raws) + workers - 1) / workers
	started := 0
	for lo := 0; lo < len(raws); lo += chunk {
		hi := min(lo+chunk, len(raws))
		started++
		go func() {
			defer func() { done <- struct{}{} }()
			for i := lo; i < hi; i++ {
				out[i] = store.PhoneNumber{Raw: raws[i], E164: NormalisePhone(raws[i], region)}
			}
		}()
	}
	for range started {
		<-done
	}
	return out
}
