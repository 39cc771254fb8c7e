// Package reconcile builds the master records (contacts and the tables
// around them) from the raw omnichat_* tables: identity resolution, stable
// contact ids, merged fields, tags and facts from the chat history.
//
// Everything is set-based. One run is one transaction (store.Reconcile)
// holding an advisory lock, so a crash leaves the previous state and two
// runs take turns. A run:
//
//  1. takes reconcile_queue (the identities pull changed) into a work list;
//  2. normalises the raw phones it has not seen yet in Go with
//     github.com/nyaruka/phonenumbers (PostgreSQL cannot) and stores them
//     with one COPY in phone_numbers, which every later statement joins;
//  3. adds new identities and recomputes the link keys of the queued ones
//     (member id trimmed, email trimmed, lower-cased and checked against a
//     simple pattern, phone in E.164);
//  4. updates shared_keys: a key on more identities than the ceiling links
//     nothing;
//  5. collects the affected identities: the queued ones, then, round after
//     round in SQL, every identity sharing a linkable key with the set or
//     belonging to the same contact, until nothing is added (a full run
//     takes every identity);
//  6. loads that subgraph (identity ids, their current contact, one edge per
//     identity to the oldest identity carrying the same key) and finds the
//     connected components with union-find in Go, then decides ids: each
//     old contact is claimed by the component holding its oldest identity; a
//     component keeps the smallest id it claims and merges the others into
//     it (contact_merges); a component claiming none gets a new id; the
//     identities that moved elsewhere are recorded in contact_splits;
//  7. writes the assignments with one COPY and one UPDATE, and recomputes
//     the master record of every contact it touched (plus contacts with
//     overrides and contacts whose 7/30-day counts moved with time), writing
//     only records whose content hash changed.
//
// Union-find in Go was chosen over label propagation in SQL because it
// needs one pass over the edges whatever the length of the chains, where
// label propagation needs as many full-table rounds as the longest chain.
//
// An incremental run relinks exactly the contacts a change can reach and a
// full run relinks everything with the same rules, so both give the same
// tables, ids included (TestRun_incrementalEqualsFull).
package reconcile
