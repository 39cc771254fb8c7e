// Package push brings destination records (Oho contacts, Okeybot contacts)
// in step with the master records, sending only what changed.
//
// # The loop
//
// Run pages through the contacts the destination has not finished with
// (store.Store.ContactsToPush: never examined, changed since, examined under
// other settings, or examined longer ago than Options.RecheckAfter), one
// query per batch. For each batch it asks the Destination where each contact
// goes (Targets: one destination record per target key), loads the last
// confirmed state of every target with one query (store.Store.PushTargets),
// and then pushes contacts with Options.Concurrency workers. Each target is
// compared with the last payload the destination confirmed, by hash:
//
//   - unchanged: no request at all;
//   - never pushed: create (Oho: POST, and on 409 GET + PATCH);
//   - changed: one request carrying only the changed fields (Oho: PATCH,
//     lists whole);
//   - refused before with the same payload hash: not sent again.
//
// A state row is written only after the destination confirmed the request,
// one small statement per confirmed request. A refusal (4xx other than
// 401/403/429, a record mapping cannot make valid, a LINE channel without a
// token) is recorded in push_rejections with its reason and the run goes on.
// When a batch is done, the contacts whose every target finished are marked
// in push_contacts with one statement; a contact with a target that failed for
// a transient reason (5xx or 429 after apiclient's retries, a timeout) is not
// marked, so the next run tries it again. A crash between two contacts loses
// nothing and duplicates nothing: the rerun finds the confirmed state of the
// contacts already pushed and sends them nothing.
//
// 401/403 from the destination (bad credentials), a database error, or
// Options.MaxFailures transient failures in a row end the run with an error;
// Options.Stopping ends it, after the contacts in hand, with ErrStopped.
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
// (store.Store.ReadOnly), runs one contact at a time, sends no write to any
// destination and writes nothing to the database; Options.ReportFunc receives,
// per contact, what would be created or changed (field, old → new) and the
// adjustments mapping made. Oho's dry run does read LINE (bot info, and the
// profile of a contact it would create), which is read-only.
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
