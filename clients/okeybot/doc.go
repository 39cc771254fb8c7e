// Package okeybot is a client for the Okeybot Contacts API v1 (the
// respond.io legacy v1 Contacts API; api-docs/okeybot-contacts-api.es.txt and
// api-docs/README.md, "Okeybot").
//
// Okeybot authenticates every call with a channel's own token and limits
// each token to 100 calls a minute. A Client holds the shared settings; a
// Channel, from Client.Channel, is the handle for one token:
//
//	c, err := okeybot.New(okeybot.Config{Log: log})
//	ch, err := c.Channel(token, okeybot.ChannelOptions{Name: "viber-th", Viber: true})
//	err = ch.Contacts.Update(ctx, id, fields)
//	err = ch.Tags.Add(ctx, id, []string{"vip"})
//
// Every handle of one token waits on the same limiter, and with
// Config.RateScope ScopeAccount every handle of the Client waits on one, so
// concurrent workers stay under the quota together. The limiter paces with
// headroom (apiclient.Pace: 97.5 calls a minute, one every 615 ms, burst 1
// by default), because Okeybot's "100 llamadas API por minuto" may be
// counted over any 60 s by arrival time, where calls leaving exactly 600 ms
// apart put 101 in one span as soon as their arrival jitters. Requests go
// through apiclient's chain: retry (429 and 5xx), throttle, log (without
// headers or query strings), auth. Okeybot documents no Retry-After, so a
// 429 is waited out for a minute (plus up to 10% jitter) and sent again,
// for as long as the caller's context lasts: being rate-limited is never a
// failure.
//
// Decisions worth knowing:
//
//   - The client sends what it is given. The vendor's per-request limits
//     (30 custom fields per POST/PUT, 10 tags per tag call) are split by
//     package mapping, not here.
//   - Contact ids are always the raw ids Okeybot returns. A Viber channel
//     (ChannelOptions.Viber) Base64-encodes them in request paths itself, as
//     the vendor requires; PathID is the helper.
//   - Errors are *apiclient.Error (errors.As). Okeybot's 403 is its
//     "General" error, not an authentication failure (that is 401), so it
//     matches apiclient.ErrRejected rather than ErrUnauthorized. The
//     document lists no 404, so a contact deleted in Okeybot may answer 403
//     too: MaybeMissing says when an error may mean a missing contact, and the
//     caller tells them apart (sync/push probes the contact and the token).
//   - POST tags is retried (adding a tag twice is harmless); POST /contact
//     (create) is not.
package okeybot
