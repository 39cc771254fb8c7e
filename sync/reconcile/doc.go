// Package reconcile builds the master records (contacts and the tables
// around them) from the raw omnichat_* tables: identity resolution, stable
// contact ids, merged fields, tags and facts from the chat history.
//
// Everything is set-based: a run issues a fixed number of statements (a
// few more per expansion round), never one per row. A run holds an advisory
// lock, so two runs take turns. It claims reconcile_queue by taking a
// snapshot (no row moves: its work is the queue rows that snapshot sees),
// then reads its clock, and does the rest in one transaction
// (store.Reconcile); once that commits it deletes the rows its claim saw. A
// pull that queues a claimed identity again never waits for the run and
// stays queued for the next one; a failure or a crash leaves the previous
// master state and the queue as it was. A run:
//
//  1. takes the queue rows its claim sees (the identities pull changed)
//     into a work list;
//  2. normalises the raw phones it has not seen yet in Go with
//     github.com/nyaruka/phonenumbers (PostgreSQL cannot), on all cores,
//     and stores them with one COPY in phone_numbers, which every later
//     statement joins;
//  3. finds the identities seen for the first time, reserving their ids in
//     (platform, channel_id, user_id) order, and recomputes the link keys of
//     the queued ones: member id trimmed; email trimmed, lower-cased and
//     matched against a simple pattern; phone in E.164;
//  4. updates shared_keys: a key on more identities than the ceiling links
//     nothing;
//  5. collects the affected identities: the queued ones and those carrying a
//     key that crossed the ceiling, then, round after round in SQL, every
//     identity sharing a linkable key with the last round's or belonging to
//     the same contact, until nothing is added (a full run takes every
//     identity). The set is a union of whole contacts, before and after, so
//     relinking it alone gives what relinking everything would;
//  6. loads that subgraph (identity ids, their current contact, one edge per
//     identity to the oldest identity carrying the same key) and finds the
//     connected components with union-find in Go, then decides ids: each old
//     contact is claimed by the component holding its oldest identity; a
//     component keeps the smallest id it claims and the others merge into it
//     (contact_merges, the merged row kept as a tombstone); a component
//     claiming none gets a new id, in order of its oldest identity;
//     identities that left the component claiming their old contact are
//     recorded in contact_splits;
//  7. writes the assignments with one COPY and one UPDATE (new identities
//     are inserted once, with their contact), then recomputes the master
//     record of every contact it touched, of every contact with overrides,
//     and of every contact whose 7- or 30-day counts moved with the clock,
//     and writes only the records whose content hash changed.
//
// Union-find in Go was chosen over label propagation in SQL by measurement
// (docs/benchmarks-reconcile.md): it is one pass over the edges whatever
// the shape of the graph, where label propagation needs one full round per
// link of the longest chain, and was already slower at its best.
//
// An incremental run relinks exactly the contacts a change can reach and a
// full run relinks everything with the same rules, so both give the same
// tables, ids included (TestRun_incrementalEqualsFull). Facts are computed
// relative to Options.NowFunc, so tests are deterministic.
package reconcile
