// Package pull copies the Omnichat streams (contacts, tagging logs, chat
// history) into the raw tables omnichat_*, in windows and pages whose
// progress lives in PostgreSQL (sync_windows), so every pull is resumable
// and idempotent, and nothing is lost silently where the vendor's document
// is thin or its server unkind.
//
// # Scopes: every platform
//
// Contacts and messages are pulled for every platform in Options.Platforms
// (by default every platform the API documents): per channel where GET
// /v1/channels lists channels of the platform (scope "platform/channelId"),
// otherwise per platform without channelId (scope "platform"), because the
// list documents only LINE and webchat channels and a server may list no
// other. The list is stored in omnichat_channels (listed), and a channel
// first seen in the rows of a platform pulled whole is stored there too
// (not listed, name unknown). A platform that begins (or stops) being listed
// per channel continues where the other shape of scope left off. When the
// list cannot be had, the channels it listed last time stand in. Tagging
// logs have no platform parameter: one scope "".
//
// # Windows
//
// A time range [from, to) is cut by Plan into windows of at most
// Options.Window (never more than the API's 7 days), on a fixed UTC grid
// (GridAnchor), with the newest end held back by Options.SafetyLag. Each
// window is a sync_windows row per stream and scope; windows that exist
// already (any status) are reused, done ones are skipped.
//
// Backfill reads a given range. Incremental reads, in every scope, from the
// end of its last done window (or now − InitialLookback) to now −
// SafetyLag, and retries every window of the stream left pending, running
// or failed by earlier runs, in any scope. New windows are read before the
// retries, so an old window that keeps failing never stands between the
// pull and new data.
//
// # Pages
//
// A window is read page by page. Each page is written by one SQL statement
// (store.WriteMessagesPage and its siblings), so its rows, the identities it
// changed (reconcile_queue), the channels first seen in it, its bad records
// (pull_errors) and the window's progress (pages, rows, next_page,
// page_size) commit together. A window is marked done only after its last
// page committed; a read interrupted between pages resumes at next_page, at
// the page size it was read with. The next page is fetched while the
// current one is written, so the API and the database work at the same
// time.
//
// Paging follows omnichat.PageCursor: a page is the last when it is empty
// or reaches totalElements; a short page while rows are missing means the
// server serves fewer rows than asked (the tagging-log endpoint documents
// no maximum pageSize), and the read goes on at the size served, since
// page-number paging at the asked size would skip rows.
//
// # Count check, data gaps and splitting
//
// Offset paging over live data drifts: rows move while the window is read.
// After the last page the distinct rows received (good and bad, by key) are
// compared with the largest totalElements any page of the read reported; a
// shortfall re-reads the window from page 1, at most Options.MaxRereads
// times, after which the window is marked done with a data gap: the missing
// rows in sync_windows.missing_rows and the shortfall in last_error, shown
// by crmsync status and v_sync_health. (A read resumed after a crash counts
// the rows of its earlier pages as distinct: it cannot know their keys.) A
// window whose first page reports more than Options.MaxWindowRows rows is
// marked split and replaced by its two halves, recursively, down to windows
// of 2·MinSplit.
//
// # Rate limits
//
// A 429 is never a failure: the client waits it out (Retry-After, else the
// limit's second) for as long as the window's context lasts, without
// spending the retry budget. Each window's reading is bounded by
// Options.WindowDeadline; past it the window is released (pending, its
// pages kept) for the next run, not failed.
//
// # Failures
//
// Retries (5xx and timeouts with backoff) happen in the client's transport.
// A window whose page still fails is marked failed (last_error, attempts)
// and the stream goes on with its other windows and scopes. A window
// refused with a 4xx on its Options.MaxWindowAttempts-th attempt is given
// up (status gave_up): no run reads it again until RetryGaveUp (crmsync
// backfill --retry-gave-up) or a backfill with RunOptions.RetryGaveUp. After
// Options.MaxConsecutiveFailures outages in a row in one scope (5xx or
// timeouts), that scope's other windows wait for the next run (an outage
// would only burn quota); refusals never stop a scope. A call in which any
// window failed or was given up returns an error after reading everything
// else, with its counts. Done windows are never touched. 401/403 stops the
// whole call at once. Bad rows (unparseable, missing keys, timestamps out
// of range, text PostgreSQL cannot store) go to pull_errors with their raw
// JSON and a reason naming the field and the value, and the run goes on.
//
// # Stopping
//
// RunOptions.StoppingFunc is checked between pages: once it reports true the
// page in hand is committed, the window is released (pending, next_page
// kept) and the call returns ErrStopped.
package pull
