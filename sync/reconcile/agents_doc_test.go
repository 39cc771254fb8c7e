package reconcile_test

import "time"

// seedAgentsDoc adds what the agent and conversation examples of
// docs/analysts.md look for: three system users (two in shops), and chat
// rooms of the seeded contacts with bot and agent answers, relative to now.
// An agent message links by user id (uuid-may, uuid-boss), one by email only
// (joy), one to no one (gone); a walk-in customer seen only in the chat
// history waits for an answer.
func seedAgentsDoc(s *seed, now time.Time) {
	s.add(`INSERT INTO omnichat_system_users (username, name, email, employee_code, team, shops, raw) VALUES
		('uuid-may', 'แอดมินเมย์', 'may@shop.example', 'E0001', 'Omnichat', '[{"id": "s1", "code": "A01", "name": "สาขาสยาม"}]', '{}'),
		('uuid-boss', 'Boss', 'boss@shop.example', 'E0002', 'Omnichat',
		 '[{"id": "s1", "code": "A01", "name": "สาขาสยาม"}, {"id": "s2", "code": "B02", "name": "Online"}]', '{}'),
		('uuid-joy', 'Admin Joy', 'JOY@shop.example', '', 'Omnichat', '[]', '{}')`)
	type msg struct {
		id, platform, channel, room, user, sender, senderUser, email string
		at                                                           time.Duration
	}
	for _, m := range []msg{
		{"ag-1", "line", "ch1", "room-somchai", "somchai", "customer", "somchai", "", -10 * 24 * time.Hour},
		{"ag-2", "line", "ch1", "room-somchai", "somchai", "bot", "bot", "", -10*24*time.Hour + 20*time.Second},
		{"ag-3", "line", "ch1", "room-somchai", "somchai", "agent", "uuid-may", "may@shop.example", -10*24*time.Hour + 14*time.Minute},
		{"ag-4", "line", "ch1", "room-somchai", "somchai", "customer", "somchai", "", -3 * 24 * time.Hour},
		{"ag-5", "line", "ch1", "room-somchai", "somchai", "agent", "uuid-boss", "boss@shop.example", -3*24*time.Hour + 40*time.Minute},
		{"ag-6", "line", "ch1", "room-walk-in", "walk-in", "customer", "walk-in", "", -5 * time.Hour},
		{"ag-7", "facebook", "fb", "room-fb", "somchai-fb", "customer", "somchai-fb", "", -6 * 24 * time.Hour},
		{"ag-8", "facebook", "fb", "room-fb", "somchai-fb", "agent", "old-id", "joy@shop.example", -6*24*time.Hour + 3*time.Minute},
		{"ag-9", "facebook", "fb", "room-fb", "somchai-fb", "customer", "somchai-fb", "", -2 * 24 * time.Hour},
		{"ag-10", "facebook", "fb", "room-fb", "somchai-fb", "agent", "gone-agent", "gone@shop.example", -2*24*time.Hour + 5*time.Minute},
	} {
		s.add(`INSERT INTO omnichat_messages (id, platform, channel_id, room_id, customer_user_id, sender_type, sender_name,
			sender_user_id, sent_at, raw)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, jsonb_build_object('senderEmail', NULLIF($10::text, '')))`,
			m.id, m.platform, m.channel, m.room, m.user, m.sender, m.senderUser, m.senderUser, now.Add(m.at), m.email)
		s.queue(m.platform, m.channel, m.user)
	}
}
