// Package okeybottest runs an in-memory Okeybot Contacts API v1 for tests,
// the sandbox and benchmarks. It follows the vendor's document
// (api-docs/okeybot-contacts-api.es.txt) and, where the document is silent,
// takes the least convenient reading, so a client that passes against it
// survives the real API:
//
//   - "100 llamadas API por minuto" is counted by arrival time over any
//     closed span of a minute (faketest.SlidingWindow), per channel token or,
//     with RateScope PerAccount, for the whole account; ArrivalJitter makes
//     evenly spaced calls arrive unevenly, as a network does.
//   - A refused call is a 429 with the documented body and no Retry-After:
//     the document promises none.
//   - A contact id the channel does not hold (one deleted in Okeybot,
//     Server.Delete) gets the document's general 403, the same status as a
//     refused body, since the document lists no 404 (MissingStatus: 404 is
//     the other reading).
//   - Custom fields (30) and tags (10) per request are capped as documented;
//     the document sets no length limit, so the fake checks none.
//   - by_custom_field pages hold 10 contacts and their links carry only the
//     page number, as the document's example shows.
//
// Server.Edit changes a contact as a person in Okeybot's inbox would, so
// tests can check that crmsync never erases what people set.
package okeybottest
