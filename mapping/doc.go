// Package mapping turns a master contact into the payload each destination
// should hold, and reports every adjustment made on the way.
//
// It is pure: no I/O, no logging, no clock, no HTTP or database packages.
// It defines its own payload types (OhoContact, OhoUpdate, OkeybotContact,
// OkeybotFieldsRequest, OkeybotTagsRequest); sync/push copies them into the
// client request types. Every vendor limit the worker respects lives here, as
// data (OhoLimits, OkeybotLimits), each row quoting the document it comes from
// (api-docs/oho-developer-api.th.txt, api-docs/okeybot-contacts-api.es.txt).
//
// # Use
//
//	m, err := mapping.New(cfg.Mapping)               // validate and compile once; safe for concurrent use
//	ids, skipped := mapping.OhoIdentities(c)         // line, facebook, instagram only
//	p, changes, err := m.ToOho(c, id, target, now)   // err is a *Rejection: record it, go on
//	d := mapping.DiffOho(lastPushed, p)              // d.Update is the PATCH body
//	h, _ := mapping.Hash(p)                          // unchanged hash: nothing to send
//	plan, changes := m.ToOkeybot(c, id, lastState, now)
//
// now is the time of the run, passed in: facts (inactive_30d …) and the
// "birth date in the future" check use it, and nothing else reads a clock.
//
// # Changes
//
// Each adjustment is a Change{Field, Kind, Before, After, Reason}. Kinds:
// truncated (cut to a limit), dropped (left out), normalised (rewritten into
// the required form: phone format, email case, gender enum, repaired text,
// trimmed space), defaulted (a fallback filled a missing value) and rejected
// (the record cannot be sent). Changes come in a fixed order, so they are as
// deterministic as the payloads. Before and After may hold personal data
// (names, phones): store them, do not log them. A Before holding invalid
// UTF-8 or control characters is recorded Go-quoted, so a change is always
// clean text (PostgreSQL refuses U+0000).
//
// # Text
//
// Every text goes through Fit: invalid UTF-8 is replaced by U+FFFD, control
// characters other than tab, newline and carriage return are removed,
// leading and trailing white space is trimmed, and a text over its limit is
// cut at the last grapheme-cluster boundary (UAX #29, github.com/rivo/uniseg)
// that fits, so a letter keeps its combining marks, Thai vowels and tone
// marks stay on their consonant, and an emoji ZWJ sequence or flag is kept or
// dropped whole. Neither vendor says what a character is, so a length is
// the stricter of the text's Unicode code points and its UTF-16 code units
// (Length): "˚♡̴ 𝒇𝒂𝒏𝒈", the Oho document's own example name, is 8 code points
// and 12 UTF-16 units, so it counts 12 and fits a limit of 12 whichever way
// the destination counts. Bytes are never counted. A single cluster longer
// than the limit is not split: the text becomes empty and the field falls
// back or is left out. Fit is idempotent.
//
// Duplicates (tags, labels, attribute names, custom field names, enum
// aliases) are found by Key: NFC, width folding (ｖｉｐ = vip) and case folding
// (VIP = vip). The first by priority wins; the others are dropped and recorded.
// Payloads keep the original spelling.
//
// Identifiers (user id, platform id, LINE basic id) are never repaired or
// cut: one that is empty, malformed or over its limit rejects the contact.
//
// # Determinism
//
// The same contact, identity, target, options and now give byte-identical
// payloads and changes. Where order is free it is fixed: tags and labels are
// sorted by bytes, Okeybot custom fields by name, requests are filled in
// that order. Attributes keep the configured rule order (it is the order Oho
// shows them in); attr:* expands in attribute-key order. CanonicalJSON is
// encoding/json without HTML escaping or trailing newline, and Hash its
// SHA-256 in hex: store the hash with the pushed payload, compare next run.
//
// # Oho
//
// One Oho contact per identity on line, facebook or instagram; other
// platforms are skipped (OhoIdentities reports them; ToOho returns a
// *Rejection wrapping ErrUnsupportedPlatform). The payload covers every field
// of the create table; the same payload is the desired state for PATCH, so
// the stricter create limits apply to both (display_name 255, not the
// update's 1000). Field by field:
//
//   - social_profile: platform from the identity; id = the user id;
//     platform_id, platform_name and line_basic_id from OhoTarget, which the
//     push stage fills from LINE GET /v2/bot/info (userId, displayName,
//     basicId) or the Facebook/Instagram setup. platform_name falls back to
//     platform_id. line_basic_id is required for line ("required" in the
//     table) and left out for facebook and instagram ("platform Facebook และ
//     Instagram ไม่มี"); a missing one rejects a LINE contact.
//   - profile_picture_url is required on create: the target's PictureURL
//     (LINE profile pictureUrl) when it is an absolute http(s) URL within
//     2000 characters, else oho.default_picture_url. A URL is never cut (a cut
//     URL is broken). With neither, the contact is rejected: set
//     default_picture_url when Facebook or Instagram contacts are pushed.
//   - platform_display_name (the contact's original name on the platform):
//     the target's OriginalName (LINE profile displayName), else the
//     identity's name, else the master name, else the user id.
//   - display_name: oho.fields.display_name (default the master name), else
//     platform_display_name, which is Oho's own default.
//   - first_name (required): oho.fields.first_name, else display_name, else
//     the user id, cut to 100. Since the user id is a checked identifier, a
//     contact that reaches here always has one; a rejection is only possible
//     when the identity itself is unusable.
//   - last_name: oho.fields.last_name, cut to 100; left out when empty.
//   - phone: parsed with github.com/nyaruka/phonenumbers in default_region;
//     sent only in the one form the reference shows, '0987654321': a number
//     of that region as national digits with their leading 0 (+66812345678
//     → 0812345678). Another country's number (or one of the region whose
//     national form has no leading 0) has no documented form:
//     oho.foreign_phone drop (default) leaves it out, dial writes it as
//     dialled from the region (oho.dial_prefix, country code, number:
//     001886966633355), e164 sends +886966633355 (not documented; Check
//     reports it). An extension is removed; an invalid number, or one longer
//     than 20 characters once formatted, is dropped. Thai and full-width
//     digits are read.
//   - email: lower-cased, taken out of "Name <addr>", checked (a plain
//     local@domain that net/mail reads back unchanged, a dotted domain) and
//     dropped when invalid or over 254 characters (never cut).
//   - country, city: enums whose files (country.json, province.json) Oho has
//     not published. A value is sent only when it matches (by Key) a value or
//     alias in oho.countries / oho.cities, and is sent in that value's
//     spelling; otherwise dropped. Configuring the field without the list is
//     a validation error.
//   - gender: male for m, male, man, boy, ชาย, ผู้ชาย, เพศชาย, นาย; female
//     for f, female, woman, girl, หญิง, ผู้หญิง, เพศหญิง, นาง, นางสาว; not_say
//     for not_say, ไม่ระบุ, "prefer not to say"; anything else becomes
//     not_say (defaulted). No source value: the field is not sent.
//   - age: a whole number 1..99 (Thai digits and "25.0" read); else dropped.
//   - birth_date: YYYY-MM-DD from a date or datetime attribute (Omnichat
//     writes 2011-12-03 and 2011-12-03T10:15:30), an ISO datetime with zone,
//     or DD/MM/YYYY. The calendar date is taken as written (a zone is not
//     applied). A Buddhist-era year (2541 → 1998) is converted. Dropped:
//     impossible dates, years before 1900, dates after today in Location, and
//     1970-01-01, which Omnichat stores for a cleared date.
//   - attributes: oho.attributes in order; names are configured (checked
//     at load: ≤ 100 characters, unique by Key) or, for attr:*, the
//     attribute's display name (else key), cut to 100; values cut to 2000.
//     An attribute without a value is left out (so a PATCH removes it); a
//     date or datetime attribute holding 1970-01-01 counts as empty.
//   - tags: the master tags passing oho.tags include/exclude, plus the tags
//     of oho.tags.facts that hold; deduplicated by Key; at most 20, chosen by
//     tag_priority (first matching pattern), then most recently applied, then
//     name; sent sorted.
//   - labels (chat tags): from oho.labels rules over all master tags and
//     facts; at most 10, chosen like tags.
//
// DiffOho compares the last pushed and the desired contact. Its Update holds
// each changed field a PATCH can carry (attributes, tags and labels whole,
// as Oho replaces them whole; an emptied list is sent as []). Fields only
// create can set (social_profile, profile_picture_url,
// platform_display_name) and optional fields that became empty are listed
// in Unsent: the reference documents no way to clear a field, except gender,
// which is reset by sending not_say.
//
// MergeOho is what sync/push sends instead of DiffOho's Update once it has
// read the contact Oho holds, since agents edit contacts in Oho and a PATCH
// replaces lists whole: a three-way merge of the last pushed, the found and
// the desired contact. Items set in Oho (tags, labels, attributes) are kept
// and come first under the caps; a field or attribute value whose crmsync
// value did not change is never written; one edited in Oho whose crmsync
// value changed too is a Conflict, decided by oho.on_conflict (ConflictRule,
// Decide) and reported for push_conflicts. WithoutCapDrops takes out of the
// last pushed payload the items a previous merge left out to hold a cap.
//
// # Okeybot
//
// ToOkeybot resolves okeybot.custom_fields (name/value pairs, sorted by name)
// and tags (okeybot.tags, no count limit documented), compares them with the
// state pushed before and returns an OkeybotPlan: changed fields in requests
// of at most 30 (a field no longer desired is sent with value "" to clear
// it), tags to remove and to add in requests of at most 10 (send removals
// first). The Okeybot page documents no length limit, so values are only
// cleaned. OkeybotContactID Base64-encodes a Viber contact id (the
// okeybot client's Viber channel handle does the same itself: use one or the
// other, never both).
//
// # Configuration
//
// Options is the mapping: section of jobs.yaml (snake_case keys, decoded
// strictly). New applies the defaults (WithDefaults, DefaultOptions) and
// validates; every problem is reported at once, naming its key, e.g.
// "mapping.oho.labels[2].pattern: invalid regexp …". Defaults: default_region
// TH; Location (set by package config from jobs.yaml's timezone) UTC;
// oho.foreign_phone drop; oho.on_conflict source; oho.fields display_name: name, phone: phone,
// email: email (write none to turn one off); every tag sent to both
// destinations; no attributes, labels or Okeybot custom fields.
//
// Sources (from: and oho.fields values):
//
//	name          the master name
//	profile_name  the pushed identity's own name
//	email         the master email (lower-case)
//	phone         the master phone, E.164 (+66812345678)
//	phone_local   the master phone written as for Oho (0812345678)
//	member_id     the master member id
//	user_id       the pushed identity's user id
//	platform      the pushed identity's platform
//	channel_id    the pushed identity's Omnichat channel id
//	contact_id    the master contact id
//	attr:<key>    a custom attribute's value
//	attr:*        every custom attribute no other rule or field names (attributes, custom fields only)
//	fact:<name>   a derived fact
//
// Facts, from contact.Facts and now. True/false facts (usable as tags and
// labels, and as "true"/"false" values):
//
//	has_messages        any message at all
//	replied_within_24h  an agent message at or after the last customer message, within 24h of it
//	awaiting_reply      a customer message with no agent message since
//	active_24h, active_7d, active_30d    a customer message within that time before now
//	inactive_30d, inactive_90d           no customer message within that time (or never)
//	new_7d              the first message within 7 days before now
//
// Value facts (attributes and custom fields only): first_message_at,
// last_message_at, last_customer_message_at, last_agent_message_at (RFC 3339
// in Location, "" when unknown), messages_total, messages_7d, messages_30d,
// customer_messages_total, agent_messages_total, bot_messages_total,
// days_since_last_customer_message ("" when never), channels (comma-separated).
//
// Patterns (tag_priority, tags include/exclude, label rules): "re:<expr>" is
// a Go regexp matched (unanchored) against the tag as written; anything else
// is a glob over the whole tag, compared by Key, where * matches any run of
// characters and ? one character (VIP* matches "vip gold").
//
// An example, also in testdata/options/example.yaml:
//
//	mapping:
//	  default_region: TH
//	  tag_priority: [VIP, "re:^ลูกค้า", "ติดตาม*"]
//	  oho:
//	    default_picture_url: https://cdn.example.com/avatar.png
//	    foreign_phone: dial
//	    dial_prefix: "001"
//	    fields:
//	      first_name: attr:first_name
//	      last_name: attr:last_name
//	      gender: attr:gender
//	      age: attr:age
//	      birth_date: attr:birthday
//	      city: attr:province
//	    cities:
//	      - {value: กรุงเทพมหานคร, aliases: [Bangkok, กทม]}
//	      - {value: เชียงใหม่, aliases: [Chiang Mai]}
//	    attributes:
//	      - {from: member_id, display_name: customer_id}
//	      - {from: "attr:customer_group", display_name: customer_group}
//	      - {from: "fact:last_customer_message_at", display_name: ข้อความล่าสุดจากลูกค้า}
//	      - {from: "fact:inactive_30d", display_name: inactive_30d}
//	      - {from: "attr:*"}
//	    tags:
//	      exclude: ["ติดตาม*"]
//	      facts:
//	        - {fact: replied_within_24h, tag: ตอบภายใน 24 ชม.}
//	    labels:
//	      - pattern: "ติดตาม*"
//	      - {pattern: "re:^VIP$", label: Oho Team}
//	      - {fact: awaiting_reply, label: รอตอบ}
//	  okeybot:
//	    custom_fields:
//	      - {from: name, name: firstName}
//	      - {from: phone_local, name: phone}
//	      - {from: email, name: email}
//	      - {from: member_id, name: customerid}
//	      - {from: "attr:*"}
//	    tags:
//	      facts:
//	        - {fact: inactive_30d, tag: inactive 30d}
//
// # Errors
//
// ErrDoesNotFit is the class of everything a destination would refuse:
// *LimitError (a value against a Limit; it never holds the value, so it is
// safe to log) and *Rejection (the whole record; errors.Is(err,
// ErrDoesNotFit), errors.As finds the *LimitError when there is one).
// ErrUnsupportedPlatform marks an identity Oho does not serve.
package mapping
