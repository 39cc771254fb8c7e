package omnichattest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"

	"crmsync/clients/omnichat"
)

// StreamSystemUsers names the system-user listing (GET /v1/system-users).
const StreamSystemUsers Stream = "system_users"

// systemUsers is the server's system-user listing and how it pages.
//
// The document shows GET /v1/system-users with no parameter and an answer
// {"content": [...]} with no totalElements, and says nothing of paging. The
// fake takes the least convenient readings: by default it pages silently at
// the API's default page size (20, or the pageSize asked, at most 100),
// 1-based, never says how many rows there are, and answers an empty content
// past the end; with IgnorePaging it answers the whole list to every
// request, whatever page is asked. Absent fields are served as seeded (the
// document's second example is mostly null).
type systemUsers struct {
	rows   [][]byte // served in this order
	keys   []string // username of each row, "" when unreadable
	ignore bool
	size   int // rows per page when the request gives no pageSize; 0 = 20
}

// SeedSystemUsers adds system users as the API encodes them (empty fields
// as null); a user with the same username replaces the earlier one in place.
func (s *Server) SeedSystemUsers(us ...omnichat.SystemUser) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range us {
		raw, _ := json.Marshal(u) // plain fields; cannot fail
		s.agents.put(u.Username, raw)
	}
}

// SeedSystemUsersJSON adds rows served verbatim (they may be malformed); a
// row whose username can be read replaces an earlier row with the same one.
func (s *Server) SeedSystemUsersJSON(rows ...json.RawMessage) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range rows {
		var l struct {
			Username any `json:"username"`
		}
		_ = json.Unmarshal(r, &l)
		s.agents.put(text(l.Username), append([]byte(nil), r...))
	}
}

// RemoveSystemUser takes a user out of the listing (an agent deleted in
// Omnichat). It reports whether the user was listed.
func (s *Server) RemoveSystemUser(username string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.Index(s.agents.keys, username)
	if username == "" || i < 0 {
		return false
	}
	s.agents.rows = slices.Delete(s.agents.rows, i, i+1)
	s.agents.keys = slices.Delete(s.agents.keys, i, i+1)
	return true
}

// SetSystemUsersPaging changes how the listing pages: ignore answers the
// whole list to every request; otherwise pageSize (0 = 20, the API's
// default) is the page size used when the request gives none.
func (s *Server) SetSystemUsersPaging(ignore bool, pageSize int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.agents.ignore, s.agents.size = ignore, pageSize
}

// put adds or replaces one row; s.mu must be held.
func (a *systemUsers) put(key string, raw []byte) {
	if i := slices.Index(a.keys, key); key != "" && i >= 0 {
		a.rows[i] = raw
		return
	}
	a.rows = append(a.rows, raw)
	a.keys = append(a.keys, key)
}

// handleSystemUsers serves GET /v1/system-users.
func (s *Server) handleSystemUsers(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	page, size, err := pageParams(q)
	if err != nil {
		writeError(w, http.StatusBadRequest, invalid, err.Error())
		return
	}
	s.mu.Lock()
	rows := s.agents.rows
	if !s.agents.ignore {
		if q.Get("pageSize") == "" && s.agents.size > 0 {
			size = s.agents.size
		}
		lo := min(len(rows), (page-1)*size)
		rows = rows[lo:min(len(rows), lo+size)]
	}
	rows = slices.Clone(rows)
	s.mu.Unlock()

	var buf bytes.Buffer
	buf.WriteString(`{"content":[`)
	buf.Write(bytes.Join(rows, []byte(",")))
	buf.WriteString(`]}`)
	writeJSON(w, buf.Bytes())
}

// SystemUsers returns n system users of team "Omnichat" in the document's
// shape: agent-0001 … with emails agent0001@example.com, employee codes
// E0001 …, every third in shop A01 and every fifth in shops A01 and B02, and
// every seventh with no phone, picture, employee code or shops (null).
func SystemUsers(n int) []omnichat.SystemUser {
	out := make([]omnichat.SystemUser, n)
	for i := range n {
		yes, one, seven := true, 1, 7
		u := omnichat.SystemUser{
			Username: fmt.Sprintf("agent-%04d", i+1), Team: "Omnichat",
			Email: fmt.Sprintf("agent%04d@example.com", i+1), Name: fmt.Sprintf("Agent %d", i+1),
			Available: &yes, Status: &one, Role: &seven,
		}
		if i%7 != 6 {
			u.Phone = fmt.Sprintf("+8521234%04d", i+1)
			u.ProfilePicture = "https://media-cdn.omnichat.ai/upload/photos/user-upload-photo/" + u.Username + ".png"
			u.EmployeeCode = fmt.Sprintf("E%04d", i+1)
			u.Shops = []omnichat.Shop{}
			switch {
			case i%5 == 0:
				u.Shops = []omnichat.Shop{{ID: "shop-a01", Code: "A01", Name: "Shop A01"}, {ID: "shop-b02", Code: "B02", Name: "Shop B02"}}
			case i%3 == 0:
				u.Shops = []omnichat.Shop{{ID: "shop-a01", Code: "A01", Name: "Shop A01"}}
			}
		}
		out[i] = u
	}
	return out
}

// SeedSystemUsersFixture adds the rows of a testdata fixture
// ("system_users.json" is the document's example) verbatim.
func (s *Server) SeedSystemUsersFixture(name string) error {
	b := Fixture(name)
	if b == nil {
		return fmt.Errorf("seed system users fixture %s: no such fixture", name)
	}
	rows, err := splitRows(b)
	if err != nil {
		return fmt.Errorf("seed system users fixture %s: %w", name, err)
	}
	s.SeedSystemUsersJSON(rows...)
	return nil
}
