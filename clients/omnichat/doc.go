// Package omnichat is a client for the Omnichat Open API, the source system
// crmsync pulls contacts, tagging logs and chat history from
// (api-docs/README.md "Omnichat Open API"; the vendor's own reference is
// api-docs/omnichat-open-api.readable.txt).
//
// New builds a Client on the shared apiclient transport chain (retry,
// throttle, log, auth). Each resource has a service with the house verbs:
//
//	c.Channels.List(ctx)                       // GET /v1/channels
//	c.Contacts.List(ctx, ContactListOptions{}) // GET /v1/contacts, one page
//	c.Contacts.Pages(ctx, opts)                // every page, bad rows included
//	c.Contacts.All(ctx, opts)                  // every good row
//
// and the same for TaggingLogs and Messages.
//
// A page never fails because one row is malformed: the envelope is decoded as
// {content: [raw rows], totalElements}, each row is decoded and validated on
// its own, and rows that cannot be used (missing key fields, timestamps out of
// range, an unparseable tagging-log time) are returned in the page's Bad list
// with the raw JSON and a reason, so the caller can record them. Every good
// row keeps its raw JSON too.
//
// Times go on the wire as epoch milliseconds; window parameters are
// [after, before): after inclusive, before exclusive. The API refuses windows
// longer than 7 days; this client does not split windows (package sync/pull
// does), so such a request comes back as *apiclient.Error with Code
// INVALID_REQUEST_PARAMETERS, which matches apiclient.ErrRejected.
package omnichat
