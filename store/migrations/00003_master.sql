-- Master records: one contact per person, built by reconcile from the raw omnichat_* tables.
-- Reconcile writes every table here except contact_overrides, which analysts and operators write
-- by hand (plain INSERT / DELETE); reconcile applies it on its next run.

-- +goose Up
CREATE TABLE contacts (
    id                 bigserial   PRIMARY KEY,
    name               text        NOT NULL DEFAULT '',
    email              text        NOT NULL DEFAULT '',
    phone              text        NOT NULL DEFAULT '',
    member_id          text        NOT NULL DEFAULT '',
    excluded_from_push boolean     NOT NULL DEFAULT false,
    pinned_fields      text[]      NOT NULL DEFAULT '{}',
    identities         integer     NOT NULL DEFAULT 0,
    merged_into        bigint      REFERENCES contacts (id),
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL,
    content_hash       text        NOT NULL DEFAULT ''
);
CREATE INDEX contacts_updated_idx ON contacts (updated_at, id) WHERE merged_into IS NULL;
CREATE INDEX contacts_merged_into_idx ON contacts (merged_into) WHERE merged_into IS NOT NULL;
CREATE INDEX contacts_overridden_idx ON contacts (id) WHERE pinned_fields <> '{}' OR excluded_from_push;

COMMENT ON TABLE  contacts IS 'Master record: one row per person, linked from one or more identities (contact_identities). The id is stable across runs; a contact merged into another stays as a tombstone with merged_into set, so nothing that references it is orphaned.';
COMMENT ON COLUMN contacts.id                 IS 'Stable contact id. When two contacts merge the older (smaller) id survives.';
COMMENT ON COLUMN contacts.name               IS 'Name from the most recently updated identity that has one (or pinned by contact_overrides); empty when none.';
COMMENT ON COLUMN contacts.email              IS 'Lower-cased, trimmed, valid email from the most recently updated identity that has one (or pinned); empty when none.';
COMMENT ON COLUMN contacts.phone              IS 'Phone in E.164 (+66812345678) from the most recently updated identity with a valid number (or pinned); empty when none.';
COMMENT ON COLUMN contacts.member_id          IS 'Member id from the most recently updated identity that has one (or pinned); empty when none.';
COMMENT ON COLUMN contacts.excluded_from_push IS 'True when a contact_overrides row of kind exclude_from_push exists for the contact: the push stage sends nothing for it.';
COMMENT ON COLUMN contacts.pinned_fields      IS 'Fields whose value comes from contact_overrides rather than from the identities, e.g. {name,attribute:tier}.';
COMMENT ON COLUMN contacts.identities         IS 'Number of identities linked to the contact (0 for a merged tombstone).';
COMMENT ON COLUMN contacts.merged_into        IS 'NULL for a live contact; for a contact merged into another, the id of the surviving contact (always a live one).';
COMMENT ON COLUMN contacts.created_at         IS 'When reconcile created the contact (the run''s clock).';
COMMENT ON COLUMN contacts.updated_at         IS 'When the master record (fields, identities, attributes, tags, facts, overrides) last really changed; a run that changes nothing leaves it alone. The push stage reads changes since a watermark taken from reconcile_state.as_of.';
COMMENT ON COLUMN contacts.content_hash       IS 'md5 of everything the master record holds; reconcile compares it to decide whether the record changed.';

CREATE TABLE contact_identities (
    id            bigserial   PRIMARY KEY,
    platform      text        NOT NULL,
    channel_id    text        NOT NULL,
    user_id       text        NOT NULL,
    contact_id    bigint      REFERENCES contacts (id) DEFERRABLE INITIALLY DEFERRED,
    has_profile   boolean     NOT NULL DEFAULT false,
    member_id     text        NOT NULL DEFAULT '',
    email         text        NOT NULL DEFAULT '',
    phone_e164    text        NOT NULL DEFAULT '',
    first_seen_at timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    CONSTRAINT contact_identities_key UNIQUE (platform, channel_id, user_id)
);
CREATE INDEX contact_identities_contact_idx ON contact_identities (contact_id);
CREATE INDEX contact_identities_member_idx ON contact_identities (member_id) WHERE member_id <> '';
CREATE INDEX contact_identities_email_idx ON contact_identities (email) WHERE email <> '';
CREATE INDEX contact_identities_phone_idx ON contact_identities (phone_e164) WHERE phone_e164 <> '';

COMMENT ON TABLE  contact_identities IS 'Every (platform, channel, user) seen in omnichat_contacts, omnichat_messages or omnichat_tagging_logs, with the normalised keys it links by and the contact it belongs to.';
COMMENT ON COLUMN contact_identities.id            IS 'Identity id (surrogate, stable).';
COMMENT ON COLUMN contact_identities.platform      IS 'Platform (line, facebook, instagram, whatsapp, wechat, webchat).';
COMMENT ON COLUMN contact_identities.channel_id    IS 'Omnichat channel id.';
COMMENT ON COLUMN contact_identities.user_id       IS 'The user''s id on that platform; omnichat_messages.customer_user_id and omnichat_tagging_logs.user_id join here within (platform, channel_id).';
COMMENT ON COLUMN contact_identities.contact_id    IS 'The master contact this identity belongs to (contacts.id; the foreign key is checked at commit, so reconcile can write identities before their new contact).';
COMMENT ON COLUMN contact_identities.has_profile   IS 'True when omnichat_contacts has a row for the identity; false for identities seen only in messages or tagging logs.';
COMMENT ON COLUMN contact_identities.member_id     IS 'Trimmed member id, the member_id link key; empty when none.';
COMMENT ON COLUMN contact_identities.email         IS 'Lower-cased, trimmed email if it looks valid (see docs/analysts.md), the email link key; empty otherwise.';
COMMENT ON COLUMN contact_identities.phone_e164    IS 'Phone normalised to E.164 with the configured default region (phone_numbers), the phone link key; empty when absent or invalid.';
COMMENT ON COLUMN contact_identities.first_seen_at IS 'When reconcile first saw the identity (the run''s clock).';
COMMENT ON COLUMN contact_identities.updated_at    IS 'When reconcile last changed the identity''s keys or contact.';

CREATE TABLE contact_attributes (
    contact_id   bigint      NOT NULL,
    key          text        NOT NULL,
    value        text        NOT NULL,
    type         text        NOT NULL DEFAULT 'text',
    display_name text        NOT NULL DEFAULT '',
    updated_at   timestamptz,
    identity_id  bigint,
    PRIMARY KEY (contact_id, key)
);

COMMENT ON TABLE  contact_attributes IS 'Custom attributes of a live contact, merged per key over its identities: the value of the most recently updated identity wins, with its type. Pinned attributes (contact_overrides field attribute:KEY) replace the value.';
COMMENT ON COLUMN contact_attributes.contact_id   IS 'The contact (contacts.id; kept by reconcile, no foreign key so bulk rebuilds stay fast).';
COMMENT ON COLUMN contact_attributes.key          IS 'Omnichat custom attribute key.';
COMMENT ON COLUMN contact_attributes.value        IS 'Value as text, exactly as Omnichat gave it.';
COMMENT ON COLUMN contact_attributes.type         IS 'Omnichat type of the winning value: text, number, date, datetime or boolean.';
COMMENT ON COLUMN contact_attributes.display_name IS 'Omnichat displayName of the attribute.';
COMMENT ON COLUMN contact_attributes.updated_at   IS 'updated_at of the identity that supplied the value (NULL for a pinned value).';
COMMENT ON COLUMN contact_attributes.identity_id  IS 'The identity that supplied the value (contact_identities.id; NULL for a pinned value).';

CREATE TABLE contact_tags (
    contact_id bigint      NOT NULL,
    tag        text        NOT NULL,
    applied_at timestamptz,
    source     text        NOT NULL DEFAULT '',
    PRIMARY KEY (contact_id, tag)
);

COMMENT ON TABLE  contact_tags IS 'Tags currently on a live contact: the union of its identities'' current tags (omnichat_contacts.tags; for an identity with no contact row, the tags its tagging logs applied).';
COMMENT ON COLUMN contact_tags.contact_id IS 'The contact (contacts.id; kept by reconcile, no foreign key so bulk rebuilds stay fast).';
COMMENT ON COLUMN contact_tags.tag        IS 'Tag name.';
COMMENT ON COLUMN contact_tags.applied_at IS 'Most recent time the tag was applied to any of the contact''s identities according to omnichat_tagging_logs; NULL when no log tells.';
COMMENT ON COLUMN contact_tags.source     IS 'Source of that most recent tagging log row (bot, agent, ...); empty when unknown.';

CREATE TABLE contact_facts (
    contact_id               bigint      PRIMARY KEY,
    first_message_at         timestamptz,
    last_message_at          timestamptz,
    last_customer_message_at timestamptz,
    last_agent_message_at    timestamptz,
    messages_total           integer     NOT NULL DEFAULT 0,
    messages_7d              integer     NOT NULL DEFAULT 0,
    messages_30d             integer     NOT NULL DEFAULT 0,
    customer_messages_total  integer     NOT NULL DEFAULT 0,
    customer_messages_7d     integer     NOT NULL DEFAULT 0,
    customer_messages_30d    integer     NOT NULL DEFAULT 0,
    agent_messages_total     integer     NOT NULL DEFAULT 0,
    agent_messages_7d        integer     NOT NULL DEFAULT 0,
    agent_messages_30d       integer     NOT NULL DEFAULT 0,
    bot_messages_total       integer     NOT NULL DEFAULT 0,
    bot_messages_7d          integer     NOT NULL DEFAULT 0,
    bot_messages_30d         integer     NOT NULL DEFAULT 0,
    channels                 text[]      NOT NULL DEFAULT '{}'
);

COMMENT ON TABLE  contact_facts IS 'Facts derived from the chat history (omnichat_messages) of all of a live contact''s identities. The 7- and 30-day counts are as of the last reconcile run (reconcile_state.as_of): windows (as_of - 7 days, as_of] and (as_of - 30 days, as_of]; every run refreshes the counts that time moved.';
COMMENT ON COLUMN contact_facts.contact_id               IS 'The contact (contacts.id; kept by reconcile, no foreign key so bulk rebuilds stay fast).';
COMMENT ON COLUMN contact_facts.first_message_at         IS 'Time of the contact''s first message of any sender type; NULL when it has none.';
COMMENT ON COLUMN contact_facts.last_message_at          IS 'Time of the last message of any sender type.';
COMMENT ON COLUMN contact_facts.last_customer_message_at IS 'Time of the last message the customer sent (sender_type customer).';
COMMENT ON COLUMN contact_facts.last_agent_message_at    IS 'Time of the last message a human agent sent (sender_type agent; bots not included).';
COMMENT ON COLUMN contact_facts.messages_total           IS 'All messages in the contact''s conversations, any sender type.';
COMMENT ON COLUMN contact_facts.messages_7d              IS 'Messages in the 7 days up to reconcile_state.as_of.';
COMMENT ON COLUMN contact_facts.messages_30d             IS 'Messages in the 30 days up to reconcile_state.as_of.';
COMMENT ON COLUMN contact_facts.customer_messages_total  IS 'Messages with sender_type customer.';
COMMENT ON COLUMN contact_facts.customer_messages_7d     IS 'Customer messages in the 7 days up to reconcile_state.as_of.';
COMMENT ON COLUMN contact_facts.customer_messages_30d    IS 'Customer messages in the 30 days up to reconcile_state.as_of.';
COMMENT ON COLUMN contact_facts.agent_messages_total     IS 'Messages with sender_type agent.';
COMMENT ON COLUMN contact_facts.agent_messages_7d        IS 'Agent messages in the 7 days up to reconcile_state.as_of.';
COMMENT ON COLUMN contact_facts.agent_messages_30d       IS 'Agent messages in the 30 days up to reconcile_state.as_of.';
COMMENT ON COLUMN contact_facts.bot_messages_total       IS 'Messages with sender_type bot or ai-chat.';
COMMENT ON COLUMN contact_facts.bot_messages_7d          IS 'Bot and AI messages in the 7 days up to reconcile_state.as_of.';
COMMENT ON COLUMN contact_facts.bot_messages_30d         IS 'Bot and AI messages in the 30 days up to reconcile_state.as_of.';
COMMENT ON COLUMN contact_facts.channels                 IS 'Channels with messages, as sorted "platform/channel_id" strings.';

CREATE TABLE contact_merges (
    id              bigserial   PRIMARY KEY,
    from_contact_id bigint      NOT NULL REFERENCES contacts (id),
    into_contact_id bigint      NOT NULL REFERENCES contacts (id),
    key_kind        text        NOT NULL CHECK (key_kind IN ('member_id', 'phone', 'email')),
    key_value       text        NOT NULL,
    merged_at       timestamptz NOT NULL
);
CREATE INDEX contact_merges_from_idx ON contact_merges (from_contact_id);
CREATE INDEX contact_merges_into_idx ON contact_merges (into_contact_id);

COMMENT ON TABLE  contact_merges IS 'One row per merge: two contacts found to be one person. The older (smaller) id survives; the other becomes a tombstone (contacts.merged_into) and its overrides move to the survivor.';
COMMENT ON COLUMN contact_merges.id              IS 'Surrogate key.';
COMMENT ON COLUMN contact_merges.from_contact_id IS 'The contact merged away (now a tombstone).';
COMMENT ON COLUMN contact_merges.into_contact_id IS 'The surviving contact at the time of the merge.';
COMMENT ON COLUMN contact_merges.key_kind        IS 'Kind of key that linked them: member_id, phone or email.';
COMMENT ON COLUMN contact_merges.key_value       IS 'The normalised key value that linked them (one such key when several did).';
COMMENT ON COLUMN contact_merges.merged_at       IS 'When the merge happened (the run''s clock).';

CREATE TABLE contact_splits (
    id              bigserial   PRIMARY KEY,
    from_contact_id bigint      NOT NULL REFERENCES contacts (id),
    to_contact_id   bigint      NOT NULL REFERENCES contacts (id) DEFERRABLE INITIALLY DEFERRED,
    identities      integer     NOT NULL,
    split_at        timestamptz NOT NULL
);
CREATE INDEX contact_splits_from_idx ON contact_splits (from_contact_id);

COMMENT ON TABLE  contact_splits IS 'One row per split: identities of a contact no longer linked to the rest (a key changed or was held back). The part holding the contact''s oldest identity keeps the id; each other part moves to a new contact (or to the contact it now links to), recorded here.';
COMMENT ON COLUMN contact_splits.id              IS 'Surrogate key.';
COMMENT ON COLUMN contact_splits.from_contact_id IS 'The contact the identities left (it keeps its id).';
COMMENT ON COLUMN contact_splits.to_contact_id   IS 'The contact the part that left now belongs to: a new contact, or an existing one it links to.';
COMMENT ON COLUMN contact_splits.identities      IS 'How many identities moved from from_contact_id to to_contact_id.';
COMMENT ON COLUMN contact_splits.split_at        IS 'When the split happened (the run''s clock).';

CREATE TABLE contact_overrides (
    id         bigserial   PRIMARY KEY,
    contact_id bigint      NOT NULL REFERENCES contacts (id),
    kind       text        NOT NULL CHECK (kind IN ('pin', 'exclude_from_push')),
    field      text,
    value      text,
    note       text        NOT NULL DEFAULT '',
    created_by text        NOT NULL DEFAULT current_user,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT contact_overrides_pin_chk CHECK (
        kind <> 'pin' OR (value IS NOT NULL AND field IS NOT NULL AND
            (field IN ('name', 'email', 'phone', 'member_id') OR field LIKE 'attribute:_%')))
);
CREATE INDEX contact_overrides_contact_idx ON contact_overrides (contact_id);

COMMENT ON TABLE  contact_overrides IS 'Manual corrections written by analysts and operators with plain INSERT (remove with DELETE): pin a field''s value, or exclude a contact from pushing. Applied by the next reconcile; the latest pin per contact and field wins. When contacts merge, the rows move to the survivor.';
COMMENT ON COLUMN contact_overrides.id         IS 'Surrogate key.';
COMMENT ON COLUMN contact_overrides.contact_id IS 'The contact (contacts.id). A merged id is moved to its survivor by the next reconcile.';
COMMENT ON COLUMN contact_overrides.kind       IS 'pin (field = value replaces what the identities say) or exclude_from_push (push sends nothing for the contact).';
COMMENT ON COLUMN contact_overrides.field      IS 'For pin: name, email, phone, member_id, or attribute:KEY for a custom attribute. Ignored for exclude_from_push.';
COMMENT ON COLUMN contact_overrides.value      IS 'For pin: the value to use, stored as written (write phones in E.164, emails lower-case). Ignored for exclude_from_push.';
COMMENT ON COLUMN contact_overrides.note       IS 'Why the override exists.';
COMMENT ON COLUMN contact_overrides.created_by IS 'Who wrote it (defaults to the database user).';
COMMENT ON COLUMN contact_overrides.created_at IS 'When it was written; among pins of the same field the latest wins.';

CREATE TABLE shared_keys (
    kind          text        NOT NULL CHECK (kind IN ('member_id', 'phone', 'email')),
    value         text        NOT NULL,
    identities    integer     NOT NULL,
    first_held_at timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    PRIMARY KEY (kind, value)
);

COMMENT ON TABLE  shared_keys IS 'Link keys shared by more identities than the configured ceiling (e.g. a shop''s own phone typed into hundreds of contacts). They do not link identities; listed here for review.';
COMMENT ON COLUMN shared_keys.kind          IS 'member_id, phone or email.';
COMMENT ON COLUMN shared_keys.value         IS 'The normalised key value.';
COMMENT ON COLUMN shared_keys.identities    IS 'How many identities carry the key.';
COMMENT ON COLUMN shared_keys.first_held_at IS 'When reconcile first held the key back (the run''s clock).';
COMMENT ON COLUMN shared_keys.updated_at    IS 'When the row last changed.';

CREATE TABLE phone_numbers (
    raw           text        NOT NULL,
    region        text        NOT NULL,
    e164          text        NOT NULL DEFAULT '',
    normalised_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (raw, region)
);

COMMENT ON TABLE  phone_numbers IS 'Lookup filled by reconcile: each distinct raw phone seen in omnichat_contacts, normalised to E.164 with libphonenumber (github.com/nyaruka/phonenumbers) for a default region.';
COMMENT ON COLUMN phone_numbers.raw           IS 'The phone exactly as omnichat_contacts.phone holds it.';
COMMENT ON COLUMN phone_numbers.region        IS 'Default region used for numbers without a country code (ISO 3166 code, e.g. TH).';
COMMENT ON COLUMN phone_numbers.e164          IS 'The number in E.164 (+66812345678); empty when it is not a valid number.';
COMMENT ON COLUMN phone_numbers.normalised_at IS 'When the row was written.';

CREATE TABLE reconcile_state (
    id                 integer     PRIMARY KEY CHECK (id = 1),
    as_of              timestamptz NOT NULL,
    full_as_of         timestamptz,
    finished_at        timestamptz NOT NULL,
    link_keys          text[]      NOT NULL,
    shared_key_ceiling integer     NOT NULL,
    default_region     text        NOT NULL
);

COMMENT ON TABLE  reconcile_state IS 'One row: what the last committed reconcile run used. A run whose settings differ from these rebuilds everything.';
COMMENT ON COLUMN reconcile_state.id                 IS 'Always 1.';
COMMENT ON COLUMN reconcile_state.as_of              IS 'The clock of the last committed run: contacts changed by it have updated_at = as_of, and its 7/30-day counts end there.';
COMMENT ON COLUMN reconcile_state.full_as_of         IS 'The clock of the last full rebuild.';
COMMENT ON COLUMN reconcile_state.finished_at        IS 'Wall-clock time the last run committed.';
COMMENT ON COLUMN reconcile_state.link_keys          IS 'Link keys in force: some of member_id, phone, email.';
COMMENT ON COLUMN reconcile_state.shared_key_ceiling IS 'Largest number of identities a key may link; a key on more is held back.';
COMMENT ON COLUMN reconcile_state.default_region     IS 'Default phone region in force.';

-- +goose Down
DROP TABLE reconcile_state;
DROP TABLE phone_numbers;
DROP TABLE shared_keys;
DROP TABLE contact_overrides;
DROP TABLE contact_splits;
DROP TABLE contact_merges;
DROP TABLE contact_facts;
DROP TABLE contact_tags;
DROP TABLE contact_attributes;
DROP TABLE contact_identities;
DROP TABLE contacts;
