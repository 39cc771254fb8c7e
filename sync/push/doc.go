// Package push brings destination records (Oho contacts, Okeybot contacts)
// in step with the master records, sending only what changed.
//
// # The loop
//
// Run first chooses, with one query (store.Store.PushCandidates), the ids of
// the contacts the destination has not finished with: never examined,
// changed since, examined under other settings, examined longer ago than
// Options.RecheckAfter, or left by a transient failure. The choice costs what
// changed, not the size of the table: once a run has examined every
// candidate it chose (store.PushProgress: not stopped, not cut by
// Options.Limit, no error), the next run under the same settings looks only
// at the contacts changed since the newest change that run saw (less
// ChangeOverlap), those due for a recheck (push_contacts.checked_at) and
// those waiting in push_retries, each through an index. The first run of a
// destination, a run under new settings (another fingerprint) and
// Options.Full look at every live contact, so each is examined once again;
// an interrupted pass goes on from what it finished. The run holds the
// chosen ids (8 bytes each) and loads the master records a batch at a time
// (store.Store.PushContacts, one query per batch). For each batch it asks
// the Destination where each contact goes (Targets: one destination record
// per target key) and loads the last confirmed state of every target with
// one query (store.Store.PushTargets).
// The contacts then wait in a queue for Options.Concurrency workers, which
// take them as they come: the loader goes on loading while they push, up to
// one batch queued behind the contacts in hand, so no worker waits for a
// batch to finish and memory stays bounded. Each target is compared with the
// last payload the destination confirmed, by hash:
//
//   - unchanged: no request at all;
//   - never pushed: create (Oho: POST, and on 409 GET + PATCH of the merge);
//   - changed: only the changed fields are sent (Oho: a GET, then a PATCH of
//     the three-way merge with what Oho holds, lists whole, so nothing a
//     person set in Oho is erased; see Oho);
//   - refused before with the same payload hash: not sent again.
//
// A state row is written only after the destination confirmed the request,
// one small statement per confirmed request. A refusal (4xx other than
// 401/403/429, a record mapping cannot make valid, a LINE channel without a
// token) is recorded in push_rejections with its reason and the run goes on.
// When every contact of a batch is done, those whose every target finished
// are marked in push_contacts with one statement; a contact with a target
// that failed for a transient reason (5xx or 429 after apiclient's retries,
// a timeout) is not marked but recorded in push_retries, so the next run
// tries it again however long ago it changed. A crash between two contacts loses
// nothing and duplicates nothing: the rerun finds the confirmed state of the
// contacts already pushed and sends them nothing.
//
// 401/403 from the destination (bad credentials), a database error, or
// Options.MaxFailures transient failures in a row end the run with an error;
// Options.Stopping ends it, after the contacts in hand, with ErrStopped
// (contacts loaded and not started are left for the next run).
//
// # Lanes
//
// A destination whose targets wait on separate quotas (Okeybot: one rate
// limiter per channel token) names them with Laner. Each lane has its own
// queue and Options.Concurrency workers, so a contact waiting on one quota
// never holds up another quota's contacts. The loader never waits for a
// lane: when a lane's queue is full it hands the lane, from that contact
// on, to a cursor of its own that takes only that lane's contacts at the
// pace of its workers, and goes on for the other lanes. So every quota
// stays busy whatever the order of the ids (contacts pulled channel by
// channel come in long runs of one channel), at the cost of reading the
// rest of the candidates once more per lane handed off; memory stays at
// most a queue and a batch per lane. A contact is in hand once at a time.
// A dry run has one lane.
//
// # Destinations
//
// A Destination (Oho here; Okeybot beside it) resolves targets and pushes one
// target; the loop owns batching, state, rejections, concurrency, stopping,
// counts and the dry-run report. See Destination.
//
// # Dry run
//
// With Options.DryRun the loop reads through one read-only transaction
// (store.Store.ReadOnly), runs one contact at a time (and loads the next
// batch only once the last one is done: the transaction serves one
// statement at a time), sends no write to any destination and writes
// nothing to the database; Options.ReportFunc receives, per contact, what
// would be created or changed (field, old → new) and the adjustments
// mapping made. Oho's dry run does read LINE (bot info, and the
// profile of a contact it would create) and Oho itself (the GET of each
// changed contact, to show the merge: what is sent, what Oho holds that is
// kept, and each conflict with what on_conflict would do), all read-only.
//
// # Merged and split contacts
//
// State is per target (for Oho, per identity), not per contact. When two
// contacts merge, the surviving contact's record changes, so it is pushed
// next; its identities include the merged one's, whose target keys find
// their existing state: the Oho contacts are updated (never created twice),
// and the state rows are re-pointed at the survivor (push_state.contact_id),
// with no request when the payload is unchanged. The tombstone keeps no live
// row in v_push_status; its push_contacts row stays for history.
package push
