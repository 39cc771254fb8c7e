-- Raw mirrors of the Omnichat API: one row per source entity, the source JSON kept beside the columns.
-- Nothing is ever deleted from these tables by a sync.

-- +goose Up
CREATE TABLE omnichat_channels (
    platform      text        NOT NULL,
    channel_id    text        NOT NULL,
    channel_name  text        NOT NULL DEFAULT '',
    raw           jsonb       NOT NULL,
    first_seen_at timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (platform, channel_id)
);

COMMENT ON TABLE  omnichat_channels IS 'Channels of the Omnichat team account (GET /v1/channels): one row per platform and channel.';
COMMENT ON COLUMN omnichat_channels.platform      IS 'line, facebook, instagram, whatsapp, wechat or webchat (Omnichat''s "website" is stored as webchat).';
COMMENT ON COLUMN omnichat_channels.channel_id    IS 'Omnichat channel id; for LINE the LINE channel ID (digits), not the bot user id.';
COMMENT ON COLUMN omnichat_channels.channel_name  IS 'Channel name as Omnichat shows it.';
COMMENT ON COLUMN omnichat_channels.raw           IS 'The channel object as received.';
COMMENT ON COLUMN omnichat_channels.first_seen_at IS 'When a pull first saw the channel.';
COMMENT ON COLUMN omnichat_channels.last_seen_at  IS 'When a pull last saw the channel in the list.';

CREATE TABLE omnichat_contacts (
    platform          text        NOT NULL,
    channel_id        text        NOT NULL,
    user_id           text        NOT NULL,
    name              text        NOT NULL DEFAULT '',
    email             text        NOT NULL DEFAULT '',
    phone             text        NOT NULL DEFAULT '',
    member_id         text        NOT NULL DEFAULT '',
    note              text        NOT NULL DEFAULT '',
    subscribed        boolean,
    subscribed_at     timestamptz,
    unsubscribed_at   timestamptz,
    last_message_at   timestamptz,
    tags              text[]      NOT NULL DEFAULT '{}',
    custom_attributes jsonb       NOT NULL DEFAULT '[]'::jsonb,
    updated_at        timestamptz NOT NULL,
    raw               jsonb       NOT NULL,
    first_pulled_at   timestamptz NOT NULL DEFAULT now(),
    last_changed_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (platform, channel_id, user_id)
);
CREATE INDEX omnichat_contacts_updated_idx ON omnichat_contacts (updated_at);

COMMENT ON TABLE  omnichat_contacts IS 'Contacts as Omnichat last reported them (GET /v1/contacts), one row per platform, channel and user; a newer updatedAt replaces an older one, never the reverse.';
COMMENT ON COLUMN omnichat_contacts.platform          IS 'Platform of the channel (see omnichat_channels.platform).';
COMMENT ON COLUMN omnichat_contacts.channel_id        IS 'Omnichat channel id.';
COMMENT ON COLUMN omnichat_contacts.user_id           IS 'The user''s id on that platform (Omnichat contact "id").';
COMMENT ON COLUMN omnichat_contacts.name              IS 'Display name; empty when absent.';
COMMENT ON COLUMN omnichat_contacts.email             IS 'Email as entered; empty when absent.';
COMMENT ON COLUMN omnichat_contacts.phone             IS 'Phone as Omnichat gives it (international digits without +, e.g. 886966633355); empty when absent.';
COMMENT ON COLUMN omnichat_contacts.member_id         IS 'Member id of the business''s membership system; empty when absent or "".';
COMMENT ON COLUMN omnichat_contacts.note              IS 'Free-text note an agent left.';
COMMENT ON COLUMN omnichat_contacts.subscribed        IS 'Omnichat "status": true when the user is subscribed (follows the account).';
COMMENT ON COLUMN omnichat_contacts.subscribed_at     IS 'When the user subscribed.';
COMMENT ON COLUMN omnichat_contacts.unsubscribed_at   IS 'When the user unsubscribed (blocked or unfollowed).';
COMMENT ON COLUMN omnichat_contacts.last_message_at   IS 'Omnichat lastMessageTime.';
COMMENT ON COLUMN omnichat_contacts.tags              IS 'Tags on the contact in Omnichat at updated_at.';
COMMENT ON COLUMN omnichat_contacts.custom_attributes IS 'Custom attributes as a JSON array of {key, value, type, displayName}.';
COMMENT ON COLUMN omnichat_contacts.updated_at        IS 'Omnichat updatedAt of this version; when Omnichat sent none, the start of the pull window that returned the contact (the API matched it as updated at or after that time).';
COMMENT ON COLUMN omnichat_contacts.raw               IS 'The contact object as received.';
COMMENT ON COLUMN omnichat_contacts.first_pulled_at   IS 'When a pull first stored the contact.';
COMMENT ON COLUMN omnichat_contacts.last_changed_at   IS 'When a pull last changed the row (a re-read of the same version changes nothing).';

CREATE TABLE omnichat_tagging_logs (
    id          bigserial   PRIMARY KEY,
    platform    text        NOT NULL,
    channel_id  text        NOT NULL,
    user_id     text        NOT NULL,
    tag         text        NOT NULL,
    tagged_at   timestamptz NOT NULL,
    time_raw    text        NOT NULL,
    source      text        NOT NULL DEFAULT '',
    message_id  text        NOT NULL DEFAULT '',
    raw         jsonb       NOT NULL,
    pulled_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT omnichat_tagging_logs_key UNIQUE (platform, channel_id, user_id, tag, tagged_at, message_id)
);
CREATE INDEX omnichat_tagging_logs_identity_idx ON omnichat_tagging_logs (platform, channel_id, user_id, tag, tagged_at);
CREATE INDEX omnichat_tagging_logs_tagged_idx ON omnichat_tagging_logs (tagged_at);

COMMENT ON TABLE  omnichat_tagging_logs IS 'Tagging events (GET /v1/tagging-logs/records): a tag applied to a user, when, and by what. Deduplicated by (platform, channel_id, user_id, tag, tagged_at, message_id).';
COMMENT ON COLUMN omnichat_tagging_logs.id         IS 'Surrogate key.';
COMMENT ON COLUMN omnichat_tagging_logs.platform   IS 'Platform of the channel.';
COMMENT ON COLUMN omnichat_tagging_logs.channel_id IS 'Omnichat channel id.';
COMMENT ON COLUMN omnichat_tagging_logs.user_id    IS 'The tagged user''s id on that platform.';
COMMENT ON COLUMN omnichat_tagging_logs.tag        IS 'The tag applied.';
COMMENT ON COLUMN omnichat_tagging_logs.tagged_at  IS 'When the tag was applied: Omnichat sends a time without zone, read in the configured zone (default UTC).';
COMMENT ON COLUMN omnichat_tagging_logs.time_raw   IS 'The time string exactly as received, e.g. 2023-01-03T12:32:12.';
COMMENT ON COLUMN omnichat_tagging_logs.source     IS 'What applied the tag, lower-cased (e.g. bot, agent, broadcast); empty when absent.';
COMMENT ON COLUMN omnichat_tagging_logs.message_id IS 'The message that triggered the tag, empty when none.';
COMMENT ON COLUMN omnichat_tagging_logs.raw        IS 'The record as received.';
COMMENT ON COLUMN omnichat_tagging_logs.pulled_at  IS 'When a pull first stored the record.';

CREATE TABLE omnichat_messages (
    id               text        PRIMARY KEY,
    platform         text        NOT NULL,
    channel_id       text        NOT NULL,
    room_id          text        NOT NULL DEFAULT '',
    customer_user_id text        NOT NULL,
    sender_type      text        NOT NULL,
    sender_name      text        NOT NULL DEFAULT '',
    sender_user_id   text        NOT NULL DEFAULT '',
    sent_at          timestamptz NOT NULL,
    message_type     text        NOT NULL DEFAULT '',
    message_status   text        NOT NULL DEFAULT '',
    message          text,
    media_url        text,
    raw              jsonb       NOT NULL,
    pulled_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX omnichat_messages_identity_idx ON omnichat_messages (platform, channel_id, customer_user_id, sent_at);
CREATE INDEX omnichat_messages_sent_idx ON omnichat_messages (sent_at);

COMMENT ON TABLE  omnichat_messages IS 'Chat history (GET /v1/messages): one row per message id, customer, agent, bot and AI messages alike.';
COMMENT ON COLUMN omnichat_messages.id               IS 'Omnichat message id.';
COMMENT ON COLUMN omnichat_messages.platform         IS 'Platform of the channel.';
COMMENT ON COLUMN omnichat_messages.channel_id       IS 'Omnichat channel id.';
COMMENT ON COLUMN omnichat_messages.room_id          IS 'Conversation room id.';
COMMENT ON COLUMN omnichat_messages.customer_user_id IS 'The customer of the conversation (whoever sent the message): joins to omnichat_contacts.user_id.';
COMMENT ON COLUMN omnichat_messages.sender_type      IS 'customer, agent, bot or ai-chat.';
COMMENT ON COLUMN omnichat_messages.sender_name      IS 'Name of the sender.';
COMMENT ON COLUMN omnichat_messages.sender_user_id   IS 'Id of the sender (the customer, or the agent).';
COMMENT ON COLUMN omnichat_messages.sent_at          IS 'When the message was sent.';
COMMENT ON COLUMN omnichat_messages.message_type     IS 'text, photo, audio, video, document or chatbot.';
COMMENT ON COLUMN omnichat_messages.message_status   IS 'sent, delivered, read or error, as last pulled.';
COMMENT ON COLUMN omnichat_messages.message          IS 'Message text; NULL for media and some chatbot messages.';
COMMENT ON COLUMN omnichat_messages.media_url        IS 'URL of the media, when any.';
COMMENT ON COLUMN omnichat_messages.raw              IS 'The message object as received (sender phone and email stay here only).';
COMMENT ON COLUMN omnichat_messages.pulled_at        IS 'When a pull first stored the message.';

-- Incremental pulls start from the end of the last done window of each stream and scope.
CREATE INDEX sync_windows_done_end_idx ON sync_windows (stream, scope, window_end) WHERE status = 'done';

-- Identities whose raw rows changed since reconcile last ran. Pull adds to it in the same
-- transaction as the rows it writes; reconcile removes what it has processed.
CREATE TABLE reconcile_queue (
    platform   text        NOT NULL,
    channel_id text        NOT NULL,
    user_id    text        NOT NULL,
    queued_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (platform, channel_id, user_id)
);

COMMENT ON TABLE  reconcile_queue IS 'Identities changed by a pull and not yet reconciled (internal work queue; empty after a reconcile).';
COMMENT ON COLUMN reconcile_queue.platform   IS 'Platform of the changed identity.';
COMMENT ON COLUMN reconcile_queue.channel_id IS 'Channel of the changed identity.';
COMMENT ON COLUMN reconcile_queue.user_id    IS 'User id of the changed identity.';
COMMENT ON COLUMN reconcile_queue.queued_at  IS 'When the identity was first queued.';

-- +goose Down
DROP INDEX sync_windows_done_end_idx;
DROP TABLE reconcile_queue;
DROP TABLE omnichat_messages;
DROP TABLE omnichat_tagging_logs;
DROP TABLE omnichat_contacts;
DROP TABLE omnichat_channels;
