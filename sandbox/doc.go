// Package sandbox makes realistic synthetic data for a small Thai online shop
// and serves it through the four fake vendor APIs wired together, for
// `crmsync demo`, `crmsync sandbox` and benchmarks.
//
// # Data
//
// Generate is pure and deterministic: the same Options give the same Dataset
// byte for byte (Dataset.Hash), on any machine; it draws from math/rand/v2's
// PCG seeded with Options.Seed and never lets map order reach its output.
// With the defaults (seed DefaultSeed, 5,000 people, 90 days) it makes:
//
//   - six channels: two LINE official accounts (with bots, tokens and user
//     profiles in the LINE fake), a Facebook page, an Instagram account, a
//     WhatsApp number and the web chat;
//   - about 7,000 identities (1.4 per person; a quarter of the people write
//     on several channels), with user ids in each platform's format (LINE
//     "U" + 32 hex digits, 16-digit PSIDs, phone numbers for WhatsApp, UUIDs
//     for the web chat);
//   - links between a person's identities by member id, by phone written as
//     0812345678 on one channel and 66812345678 (or 081-234-5678, +66 …) on
//     another, or by email in another case or with stray spaces; some
//     identities carry no key and stay apart, and the shop's own phone
//     (ShopPhone) sits on 60 identities, above the shared-key ceiling of 50;
//   - Thai, English, nickname and decorated names, including the seed
//     examples "˚♡̴ 𝒇𝒂𝒏𝒈" and "ปักเป้า", emoji sequences, combining marks,
//     full-width text and names longer than Oho's 255 characters;
//   - custom attributes of every Omnichat type (text, number, date,
//     datetime, boolean), some that Oho refuses as they are (ages outside
//     1..99, Buddhist-era and future birthdays, 1970-01-01, attribute names
//     over 100 characters), and contacts with more than 30 attributes;
//   - tags in Thai and English (VIP, ＶＩＰ and vip among them), some contacts
//     with more than 20; tagging logs for each current tag and for removed
//     ones, their times written without a zone in Asia/Bangkok;
//   - 30,000 messages in conversations, of every senderType (customer,
//     agent, bot, ai-chat), messageType (text, photo, audio, video,
//     document, chatbot) and messageStatus.
//
// Dataset.People records the truth behind the data, and
// Dataset.ExpectedContacts how many master contacts reconcile should build.
//
// # Servers
//
// Start seeds omnichattest, ohotest, lineapitest and okeybottest with a
// Dataset and serves each on its own loopback port (fixed, as FixedPorts for
// `crmsync sandbox`, or free). Sandbox.Env returns the variables that point
// crmsync at them, ConfigYAML a jobs.yaml for them, and Sandbox.Counts what
// each API answered (requests, 429s, 5xx, refusals). Faults injects 503s and
// a burst of 429s through the fakes' own failure hooks, answered with each
// vendor's error body. A state file keeps what Oho and Okeybot hold across
// processes, so a second demo finds the contacts the first created.
package sandbox
