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
// Every handle of one token waits on the same limiter (QuotaLimiter: 100 a
// minute, burst 1 by default), so concurrent workers on one channel stay
// under the quota together. Requests go through apiclient's chain (retry on
// 429 honouring Retry-After, and on 5xx; throttle; log without headers or
// query strings; auth).
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
//     matches apiclient.ErrRejected rather than ErrUnauthorized.
//   - POST tags is retried (adding a tag twice is harmless); POST /contact
//     (create) is not.
package okeybot
