package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"crmsync/contact"
)

// contactRow is one master record as the push query returns it. It never
// leaves package store.
type contactRow struct {
	ID         int64
	Name       string
	Email      string
	Phone      string
	MemberID   string
	UpdatedAt  time.Time
	Attributes []byte // JSON array, sorted by key
	Tags       []byte // JSON array, sorted by name
	Identities []byte // JSON array, sorted by platform, channel, user
	Facts      []byte // JSON object; null when the contact has no facts row
}

type attributeJSON struct {
	Key         string    `json:"k"`
	Value       string    `json:"v"`
	Type        string    `json:"t"`
	DisplayName string    `json:"d"`
	UpdatedAt   time.Time `json:"u"`
}

type tagJSON struct {
	Name      string    `json:"n"`
	AppliedAt time.Time `json:"a"`
	Source    string    `json:"s"`
}

type identityJSON struct {
	Platform   string    `json:"p"`
	ChannelID  string    `json:"c"`
	UserID     string    `json:"u"`
	Name       string    `json:"n"`
	Email      string    `json:"e"`
	Phone      string    `json:"ph"`
	MemberID   string    `json:"m"`
	Subscribed bool      `json:"s"`
	UpdatedAt  time.Time `json:"up"`
}

type factsJSON struct {
	FirstMessageAt        time.Time `json:"first_message_at"`
	LastMessageAt         time.Time `json:"last_message_at"`
	LastCustomerMessageAt time.Time `json:"last_customer_message_at"`
	LastAgentMessageAt    time.Time `json:"last_agent_message_at"`
	MessagesTotal         int       `json:"messages_total"`
	Messages7d            int       `json:"messages_7d"`
	Messages30d           int       `json:"messages_30d"`
	CustomerMessagesTotal int       `json:"customer_messages_total"`
	AgentMessagesTotal    int       `json:"agent_messages_total"`
	BotMessagesTotal      int       `json:"bot_messages_total"`
	Channels              []string  `json:"channels"`
}

// contactSelect loads whole master records with one statement: the
// attributes, tags, identities and facts of each contact come as JSON
// columns from correlated subqueries on indexed keys, so a batch costs one
// round trip whatever its size. Sorting uses the C collation, which is Go's
// string order.
const contactSelect = `
	SELECT c.id, c.name, c.email, c.phone, c.member_id, c.updated_at,
	       COALESCE((SELECT jsonb_agg(jsonb_build_object('k', a.key, 'v', a.value, 't', a.type, 'd', a.display_name, 'u', a.updated_at)
	                                  ORDER BY a.key COLLATE "C")
	                 FROM contact_attributes a WHERE a.contact_id = c.id), '[]') AS attributes,
	       COALESCE((SELECT jsonb_agg(jsonb_build_object('n', t.tag, 'a', t.applied_at, 's', t.source) ORDER BY t.tag COLLATE "C")
	                 FROM contact_tags t WHERE t.contact_id = c.id), '[]') AS tags,
	       COALESCE((SELECT jsonb_agg(jsonb_build_object('p', i.platform, 'c', i.channel_id, 'u', i.user_id,
	                                                     'n', COALESCE(oc.name, ''), 'e', COALESCE(oc.email, ''),
	                                                     'ph', COALESCE(oc.phone, ''), 'm', COALESCE(oc.member_id, ''),
	                                                     's', COALESCE(oc.subscribed, false), 'up', oc.updated_at)
	                                  ORDER BY i.platform COLLATE "C", i.channel_id COLLATE "C", i.user_id COLLATE "C")
	                 FROM contact_identities i
	                 LEFT JOIN omnichat_contacts oc ON oc.platform = i.platform AND oc.channel_id = i.channel_id AND oc.user_id = i.user_id
	                 WHERE i.contact_id = c.id), '[]') AS identities,
	       to_jsonb(f) AS facts
	FROM contacts c
	LEFT JOIN contact_facts f ON f.contact_id = c.id`

func (r contactRow) toDomain() (contact.Contact, error) {
	c := contact.Contact{
		ID:        contact.ID(r.ID),
		Name:      r.Name,
		Email:     r.Email,
		Phone:     r.Phone,
		MemberID:  r.MemberID,
		UpdatedAt: r.UpdatedAt,
	}
	var attrs []attributeJSON
	var tags []tagJSON
	var idents []identityJSON
	if err := json.Unmarshal(r.Attributes, &attrs); err != nil {
		return c, fmt.Errorf("decode attributes of contact %d: %w", r.ID, err)
	}
	if err := json.Unmarshal(r.Tags, &tags); err != nil {
		return c, fmt.Errorf("decode tags of contact %d: %w", r.ID, err)
	}
	if err := json.Unmarshal(r.Identities, &idents); err != nil {
		return c, fmt.Errorf("decode identities of contact %d: %w", r.ID, err)
	}
	for _, a := range attrs {
		c.Attributes = append(c.Attributes, contact.Attribute{
			Key: a.Key, Value: a.Value, Type: contact.AttrType(a.Type), DisplayName: a.DisplayName, UpdatedAt: a.UpdatedAt,
		})
	}
	for _, t := range tags {
		c.Tags = append(c.Tags, contact.Tag{Name: t.Name, AppliedAt: t.AppliedAt, Source: t.Source})
	}
	for _, i := range idents {
		c.Identities = append(c.Identities, contact.Profile{
			Identity: contact.Identity{Platform: contact.Platform(i.Platform), ChannelID: i.ChannelID, UserID: i.UserID},
			Name:     i.Name, Email: i.Email, Phone: i.Phone, MemberID: i.MemberID, Subscribed: i.Subscribed, UpdatedAt: i.UpdatedAt,
		})
	}
	if len(r.Facts) > 0 && string(r.Facts) != "null" {
		var f factsJSON
		if err := json.Unmarshal(r.Facts, &f); err != nil {
			return c, fmt.Errorf("decode facts of contact %d: %w", r.ID, err)
		}
		c.Facts = contact.Facts(f)
	}
	return c, nil
}

func (s *Store) queryContacts(ctx context.Context, what, where string, args ...any) ([]contact.Contact, error) {
	var rows []contactRow
	if err := s.db.WithContext(ctx).Raw(contactSelect+" "+where, args...).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	out := make([]contact.Contact, 0, len(rows))
	for _, r := range rows {
		c, err := r.toDomain()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		out = append(out, c)
	}
	return out, nil
}

// ContactsForPush returns up to limit live master records with id > afterID,
// in id order, each complete (identities with their profile, attributes,
// tags, facts). Contacts merged into another and contacts excluded by
// contact_overrides are left out. Page with the last id returned; one query
// per page.
func (s *Store) ContactsForPush(ctx context.Context, afterID contact.ID, limit int) ([]contact.Contact, error) {
	return s.queryContacts(ctx, "load contacts for push", `
		WHERE c.id > ? AND c.merged_into IS NULL AND NOT c.excluded_from_push
		ORDER BY c.id LIMIT ?`, int64(afterID), limit)
}

// Contact returns one master record by id, in one query. The id of a
// contact merged into another returns the surviving contact. Excluded
// contacts are returned too.
func (s *Store) Contact(ctx context.Context, id contact.ID) (contact.Contact, error) {
	cs, err := s.queryContacts(ctx, fmt.Sprintf("get contact %d", id),
		`WHERE c.id = (SELECT COALESCE(m.merged_into, m.id) FROM contacts m WHERE m.id = ?)`, int64(id))
	if err != nil {
		return contact.Contact{}, err
	}
	if len(cs) == 0 {
		return contact.Contact{}, ErrNotFound
	}
	return cs[0], nil
}

// ExcludedContactIDs returns the live contacts excluded from pushing by
// contact_overrides (as of the last reconcile), in id order.
func (s *Store) ExcludedContactIDs(ctx context.Context) ([]contact.ID, error) {
	var ids []int64
	err := s.db.WithContext(ctx).Raw(`SELECT id FROM contacts
		WHERE excluded_from_push AND merged_into IS NULL ORDER BY id`).Scan(&ids).Error
	if err != nil {
		return nil, fmt.Errorf("list excluded contacts: %w", err)
	}
	out := make([]contact.ID, len(ids))
	for i, id := range ids {
		out[i] = contact.ID(id)
	}
	return out, nil
}
