package push

import (
	"cmp"
	"maps"
	"slices"
)

// The kinds of request a push sends (Call.Kind), as crmsync plan push
// names them.
const (
	KindLookup    = "lookup"     // Okeybot GET /v1/contact/by_custom_field before a create
	KindCreate    = "create"     // Oho POST /contact, Okeybot POST /v1/contact
	KindUpdate    = "update"     // Oho PATCH, Okeybot PUT /v1/contact/{id}
	KindTagAdd    = "tag add"    // Okeybot POST /v1/contact/{id}/tags
	KindTagRemove = "tag remove" // Okeybot DELETE /v1/contact/{id}/tags
	KindGet       = "get"        // Oho GET for the merge; Okeybot GET /v1/contact/{id} (detect_conflicts, a stored id checked)
	KindProbe     = "probe"      // Okeybot by_custom_field checking that a token still works
	KindBotInfo   = "bot info"   // LINE GET /v2/bot/info, once per channel
	KindProfile   = "profile"    // LINE GET /v2/bot/profile/{userId}, once per LINE contact created
)

// Call names the requests of one kind spent on one credential's quota.
type Call struct {
	// Credential names the quota: "oho" (the API key), "line/<channel id>"
	// (a LINE channel access token), "okeybot/<channel name>" (an Okeybot
	// channel token; under okeybot.rate_scope account, the first channel
	// names the one limiter all share). Never the secret itself.
	Credential string
	// Kind is one of the Kind* constants.
	Kind string
}

// Calls counts requests by credential and kind: those a run sent or, in a
// dry run, those a real run would send for the same contacts.
type Calls map[Call]int

// add counts n requests of kind on credential.
func (c *Calls) add(credential, kind string, n int) {
	if n == 0 {
		return
	}
	if *c == nil {
		*c = Calls{}
	}
	(*c)[Call{Credential: credential, Kind: kind}] += n
}

// Add adds o to c.
func (c *Calls) Add(o Calls) {
	for k, n := range o {
		c.add(k.Credential, k.Kind, n)
	}
}

// Credentials returns the credentials c counts requests of, sorted.
func (c Calls) Credentials() []string {
	seen := map[string]bool{}
	for k := range c {
		seen[k.Credential] = true
	}
	return slices.Sorted(maps.Keys(seen))
}

// Total returns the requests c counts on credential, every kind.
func (c Calls) Total(credential string) int {
	n := 0
	for k, v := range c {
		if k.Credential == credential {
			n += v
		}
	}
	return n
}

// Kinds returns the requests on credential by kind.
func (c Calls) Kinds(credential string) map[string]int {
	out := map[string]int{}
	for k, v := range c {
		if k.Credential == credential {
			out[k.Kind] += v
		}
	}
	return out
}

// kindOrder is the order kinds are listed in.
var kindOrder = []string{KindBotInfo, KindProfile, KindLookup, KindProbe, KindGet, KindCreate, KindUpdate, KindTagRemove, KindTagAdd}

// SortKinds returns the kinds of m in report order (unknown ones last, by name).
func SortKinds(m map[string]int) []string {
	ks := slices.Collect(maps.Keys(m))
	slices.SortFunc(ks, func(a, b string) int {
		ia, ib := slices.Index(kindOrder, a), slices.Index(kindOrder, b)
		if ia < 0 {
			ia = len(kindOrder)
		}
		if ib < 0 {
			ib = len(kindOrder)
		}
		return cmp.Or(cmp.Compare(ia, ib), cmp.Compare(a, b))
	})
	return ks
}

// ohoCredential is the credential of Oho's requests: its one API key.
const ohoCredential = "oho"

// lineCredential is the credential of a LINE channel's requests.
func lineCredential(channelID string) string { return "line/" + channelID }
