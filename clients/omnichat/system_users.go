package omnichat

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"iter"
	"net/url"
	"strconv"
	"strings"
)

// SystemUsersService lists the team's system users: the agents (and admins)
// who log in to Omnichat and answer chats.
type SystemUsersService service

// MaxSystemUserPages bounds how many pages SystemUsersService.Pages reads:
// a server that kept sending new rows past it would be misbehaving.
const MaxSystemUserPages = 1000

// SystemUser is one system user of the team. Every field but Username may be
// absent (the document's second example has null phone, picture, employee
// code and shops).
type SystemUser struct {
	Username       string // the user's Omnichat user id (a UUID): messages' senderUserId for agents
	Team           string
	Email          string // login email: messages' senderEmail for agents
	Phone          string // login phone, e.g. "+85212345678"
	ProfilePicture string
	Available      *bool // nil when absent or null
	Status         *int  // undocumented code (the example says 1); nil when absent
	Role           *int  // undocumented code (the example says 7); nil when absent
	Name           string
	EmployeeCode   string
	Shops          []Shop // nil when absent or null
	Raw            json.RawMessage
}

// Shop is one shop a system user belongs to (Omnichat's OMO stores).
type Shop struct {
	ID         string          `json:"id"`
	Code       string          `json:"code"`
	Name       string          `json:"name"`
	Categories json.RawMessage `json:"categories,omitempty"` // undocumented element type; kept as sent
}

// SystemUserListOptions selects one page of system users.
type SystemUserListOptions struct {
	// Page is 1-based; 0 and 1 send the request exactly as documented (no
	// parameter), later pages add page=N and let the server keep its own
	// page size (the document shows no paging at all).
	Page int
}

// SystemUserPage is one page of system users: good rows and bad ones.
type SystemUserPage struct {
	SystemUsers []SystemUser
	Bad         []BadRecord
}

// DecodeSystemUser decodes and validates one system-user row. username is
// required; every other field may be absent or null. A field of the wrong
// kind is an error naming the field and its value.
func DecodeSystemUser(raw json.RawMessage) (SystemUser, error) {
	if err := requireObject(raw); err != nil {
		return SystemUser{}, err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return SystemUser{}, fmt.Errorf("decode system user: %w", err)
	}
	u := SystemUser{Raw: raw}
	for _, f := range []struct {
		name string
		dst  *string
	}{
		{"username", &u.Username}, {"team", &u.Team}, {"email", &u.Email}, {"phone", &u.Phone},
		{"profilePicture", &u.ProfilePicture}, {"name", &u.Name}, {"employeeCode", &u.EmployeeCode},
	} {
		var s flexString
		if err := decodeField(fields, f.name, &s); err != nil {
			return SystemUser{}, err
		}
		*f.dst = strings.TrimSpace(string(s))
	}
	if u.Username == "" {
		return SystemUser{}, fmt.Errorf("missing username")
	}
	if v, ok := present(fields, "available"); ok {
		var b flexBool
		if err := decodeField(fields, "available", &b); err != nil {
			return SystemUser{}, err
		}
		if string(v) != "null" {
			bv := bool(b)
			u.Available = &bv
		}
	}
	var err error
	if u.Status, err = intField(fields, "status"); err != nil {
		return SystemUser{}, err
	}
	if u.Role, err = intField(fields, "role"); err != nil {
		return SystemUser{}, err
	}
	if u.Shops, err = shopsField(fields); err != nil {
		return SystemUser{}, err
	}
	return u, nil
}

// present returns a field's JSON when the row has it.
func present(fields map[string]json.RawMessage, name string) (json.RawMessage, bool) {
	v, ok := fields[name]
	return json.RawMessage(strings.TrimSpace(string(v))), ok
}

// decodeField decodes one field into dst; an absent field leaves dst alone.
// The error names the field and quotes its value.
func decodeField(fields map[string]json.RawMessage, name string, dst json.Unmarshaler) error {
	v, ok := present(fields, name)
	if !ok {
		return nil
	}
	if err := dst.UnmarshalJSON(v); err != nil {
		return fmt.Errorf("%s %s: %w", name, quoteValue(v), err)
	}
	return nil
}

// intField reads an optional integer field (a JSON number or numeric
// string); absent and null give nil.
func intField(fields map[string]json.RawMessage, name string) (*int, error) {
	v, ok := present(fields, name)
	if !ok || string(v) == "null" {
		return nil, nil
	}
	var s flexString
	if err := s.UnmarshalJSON(v); err != nil {
		return nil, fmt.Errorf("%s %s: want an integer", name, quoteValue(v))
	}
	text := strings.TrimSpace(string(s))
	if text == "" {
		return nil, nil
	}
	n, err := strconv.Atoi(text)
	if err != nil {
		f, ferr := strconv.ParseFloat(text, 64)
		if ferr != nil || f != float64(int(f)) {
			return nil, fmt.Errorf("%s %s: want an integer", name, quoteValue(v))
		}
		n = int(f)
	}
	return &n, nil
}

// shopsField reads the optional shops array: each shop an object whose id,
// code and name are scalars.
func shopsField(fields map[string]json.RawMessage) ([]Shop, error) {
	v, ok := present(fields, "shops")
	if !ok || string(v) == "null" {
		return nil, nil
	}
	var items []json.RawMessage
	if len(v) == 0 || v[0] != '[' || json.Unmarshal(v, &items) != nil {
		return nil, fmt.Errorf("shops %s: want an array of shops", quoteValue(v))
	}
	shops := make([]Shop, 0, len(items))
	for i, it := range items {
		name := fmt.Sprintf("shops[%d]", i)
		if requireObject(it) != nil {
			return nil, fmt.Errorf("%s %s: want an object", name, quoteValue(it))
		}
		var sf map[string]json.RawMessage
		if err := json.Unmarshal(it, &sf); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		var id, code, sname flexString
		for _, f := range []struct {
			key string
			dst *flexString
		}{{"id", &id}, {"code", &code}, {"name", &sname}} {
			if err := decodeField(sf, f.key, f.dst); err != nil {
				return nil, fmt.Errorf("%s.%w", name, err)
			}
		}
		s := Shop{ID: trim(id), Code: trim(code), Name: strings.TrimSpace(string(sname))}
		if c, ok := present(sf, "categories"); ok && string(c) != "null" {
			s.Categories = append(json.RawMessage(nil), c...)
		}
		shops = append(shops, s)
	}
	return shops, nil
}

// quoteValue shows a field's JSON value in an error, cut to 60 characters.
func quoteValue(v json.RawMessage) string {
	return truncate(string(v), 60)
}

// MarshalJSON encodes u as the API does: absent values as null.
func (u SystemUser) MarshalJSON() ([]byte, error) {
	var shops []Shop
	if u.Shops != nil {
		shops = make([]Shop, len(u.Shops))
		for i, s := range u.Shops {
			if s.Categories == nil {
				s.Categories = json.RawMessage(`[]`)
			}
			shops[i] = s
		}
	}
	return json.Marshal(struct {
		Team           *string `json:"team"`
		Username       string  `json:"username"`
		Email          *string `json:"email"`
		Phone          *string `json:"phone"`
		ProfilePicture *string `json:"profilePicture"`
		Available      *bool   `json:"available"`
		Status         *int    `json:"status"`
		Role           *int    `json:"role"`
		Name           *string `json:"name"`
		EmployeeCode   *string `json:"employeeCode"`
		Shops          []Shop  `json:"shops"`
	}{
		Team: nullable(u.Team), Username: u.Username, Email: nullable(u.Email), Phone: nullable(u.Phone),
		ProfilePicture: nullable(u.ProfilePicture), Available: u.Available, Status: u.Status, Role: u.Role,
		Name: nullable(u.Name), EmployeeCode: nullable(u.EmployeeCode), Shops: shops,
	})
}

// List returns one page of system users. The document shows the request
// without parameters and the answer {"content": [...]} without
// totalElements.
//
// Omnichat docs: GET /v1/system-users ("System users | Get system users list").
func (s *SystemUsersService) List(ctx context.Context, opts SystemUserListOptions) (*SystemUserPage, error) {
	var q url.Values
	if opts.Page > 1 {
		q = url.Values{"page": {strconv.Itoa(opts.Page)}}
	}
	var env envelope
	if err := s.c.get(ctx, "/v1/system-users", q, &env); err != nil {
		return nil, fmt.Errorf("list omnichat system users page %d: %w", max(opts.Page, 1), err)
	}
	good, bad := decodeRows(env.Content, DecodeSystemUser)
	return &SystemUserPage{SystemUsers: good, Bad: bad}, nil
}

// Pages returns every page of the listing. The document shows no paging, so
// the server may answer the whole list on every page, or page it at a size
// of its own: Pages asks for page 1, 2, … and stops after a page that is
// empty or holds no row it has not seen yet (good rows by username, bad ones
// by their bytes). Ending without an error means the listing is complete. A
// listing still growing after MaxSystemUserPages pages is an error.
func (s *SystemUsersService) Pages(ctx context.Context) iter.Seq2[*SystemUserPage, error] {
	return func(yield func(*SystemUserPage, error) bool) {
		seen := map[string]bool{}
		for page := 1; ; page++ {
			if page > MaxSystemUserPages {
				yield(nil, fmt.Errorf("list omnichat system users: still new rows after %d pages", MaxSystemUserPages))
				return
			}
			p, err := s.List(ctx, SystemUserListOptions{Page: page})
			if err != nil {
				yield(nil, err)
				return
			}
			fresh := false
			for _, u := range p.SystemUsers {
				if k := "u:" + u.Username; !seen[k] {
					seen[k], fresh = true, true
				}
			}
			for _, b := range p.Bad {
				sum := sha256.Sum256(b.Raw)
				if k := "b:" + string(sum[:]); !seen[k] {
					seen[k], fresh = true, true
				}
			}
			if !fresh {
				return
			}
			if !yield(p, nil) {
				return
			}
		}
	}
}

// All returns every good system user once (the first time its username is
// seen). Bad rows are skipped: use Pages to record them.
func (s *SystemUsersService) All(ctx context.Context) iter.Seq2[SystemUser, error] {
	return func(yield func(SystemUser, error) bool) {
		seen := map[string]bool{}
		for p, err := range s.Pages(ctx) {
			if err != nil {
				yield(SystemUser{}, err)
				return
			}
			for _, u := range p.SystemUsers {
				if seen[u.Username] {
					continue
				}
				seen[u.Username] = true
				if !yield(u, nil) {
					return
				}
			}
		}
	}
}
