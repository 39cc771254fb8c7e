// Package pull copies the Omnichat streams (contacts, tagging logs, chat
// history) into the raw tables omnichat_*, in windows and pages whose
// progress lives in PostgreSQL (sync_windows), so every pull is resumable
// and idempotent.
//
// # Windows
//
// A time range [from, to) is cut by Plan into windows of at most
// Options.Window (never more than the API's 7 days), on a fixed UTC grid
// (GridAnchor), with the newest end held back by Options.SafetyLag. Each
// window is a sync_windows row per stream and scope; windows that exist
// already (any status) are reused, done ones are skipped. The scope is
// "platform/channelId" for contacts and messages, one per channel listed by
// GET /v1/channels (stored in omnichat_channels), or the bare platform when
// that list is empty (Options.Platforms); tagging logs have scope "".
//
// Backfill reads a given range. Incremental reads from the end of the last
// done window of each stream and scope (or now − InitialLookback when there
// is none) to now − SafetyLag, and first retries every window of the stream
// left pending, running or failed by earlier runs.
//
// # Pages
//
// A window is read page by page. Each page is written by one SQL statement
// (store.WriteMessagesPage and its siblings), so its rows, the identities it
// changed (reconcile_queue), its bad records (pull_errors) and the window's
// progress (pages, rows, next_page) commit together. A window is marked done
// only after its last page committed; a read interrupted between pages
// resumes at next_page. The next page is fetched while the current one is
// written, so the API and the database work at the same time.
//
// # Count check and splitting
//
// Offset paging over live data drifts: rows move while the window is read.
// After the last page the distinct rows received (good and bad, by key) are
// compared with the largest totalElements any page of the read reported; a
// shortfall re-reads the window from page 1, at most Options.MaxRereads
// times, after which the window is marked done with the shortfall recorded
// in sync_windows.last_error and counted as a short window. (A read resumed
// after a crash counts the rows of its earlier pages as distinct: it cannot
// know their keys.) A window whose first page reports more than
// Options.MaxWindowRows rows is marked split and replaced by its two halves,
// recursively, down to windows of 2·MinSplit.
//
// # Failures
//
// Retries (429 with Retry-After, 5xx and timeouts with backoff) happen in
// the client's transport. A window whose page still fails is marked failed
// (last_error, attempts) and the stream goes on with its next window, so one
// poison window does not block the others; after
// Options.MaxConsecutiveFailures failed windows in a row the stream stops
// (an outage would only burn quota) and returns an error, its remaining
// windows left for the next run. Done windows are never touched. 401/403
// stops the whole call at once. Bad rows (unparseable, missing keys,
// timestamps out of range, text PostgreSQL cannot store) go to pull_errors
// with their raw JSON and reason, and the run goes on.
//
// # Stopping
//
// RunOptions.StoppingFunc is checked between pages: once it reports true the
// page in hand is committed, the window is released (pending, next_page
// kept) and the call returns ErrStopped.
package pull
