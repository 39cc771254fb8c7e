package pull

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/sirupsen/logrus"

	"crmsync/clients/omnichat"
	"crmsync/store"
)

// SystemUsersCounts are what a SystemUsers call did.
type SystemUsersCounts struct {
	Counts
	// Missing is how many stored users the complete listing no longer
	// held, now marked missing (omnichat_system_users.missing_since).
	Missing int64
}

// Map returns the counts by snake_case name, for sync_runs.counts: those
// of a listing (it has no windows or scopes) and the users marked missing.
func (c SystemUsersCounts) Map() map[string]int64 {
	return map[string]int64{
		"page_requests": int64(c.Requests), "pages": int64(c.Pages), "rows": c.Rows,
		"inserted": c.Inserted, "updated": c.Updated, "rejections": c.Bad, "missing": c.Missing,
	}
}

// SystemUsers reads Omnichat's full listing of system users (the agents,
// GET /v1/system-users: no window, no checkpoint) into
// omnichat_system_users, one statement per page, bad rows to pull_errors
// with their reason. Once the listing is complete, users it no longer holds
// are marked missing (never deleted). A stop request ends the call after the
// page in hand with ErrStopped, marking no one.
func (p *Puller) SystemUsers(ctx context.Context, ro RunOptions) (SystemUsersCounts, error) {
	log := p.log.WithField("stream", store.StreamSystemUsers)
	if ro.RunID != 0 {
		log = log.WithField("run_id", ro.RunID)
	}
	var c SystemUsersCounts
	var listed []string
	for page, err := range p.c.SystemUsers.Pages(ctx) {
		c.Requests++
		if err != nil {
			return c, fmt.Errorf("pull system users: %w", err)
		}
		rows, bad, err := systemUserRows(page)
		if err != nil {
			return c, fmt.Errorf("pull system users: %w", err)
		}
		res, err := p.st.WriteSystemUsersPage(ctx, ro.RunID, rows, bad)
		if err != nil {
			return c, fmt.Errorf("pull system users: %w", err)
		}
		for _, u := range page.SystemUsers {
			listed = append(listed, u.Username)
		}
		c.Pages++
		c.Rows += int64(len(page.SystemUsers) + len(page.Bad))
		c.Inserted += res.Inserted
		c.Updated += res.Updated
		c.Bad += res.Bad
		if ro.StoppingFunc != nil && ro.StoppingFunc() {
			return c, ErrStopped
		}
	}
	c.Requests++ // the page that ended the listing (empty, or nothing new)
	missing, err := p.st.MarkSystemUsersMissing(ctx, listed)
	if err != nil {
		return c, fmt.Errorf("pull system users: %w", err)
	}
	c.Missing = missing
	log.WithFields(logrus.Fields{"pages": c.Pages, "users": len(listed), "inserted": c.Inserted, "updated": c.Updated,
		"bad": c.Bad, "missing": c.Missing}).Debug("pull: system users listed")
	return c, nil
}

// systemUserRows converts a page for the store.
func systemUserRows(p *omnichat.SystemUserPage) ([]store.SystemUserRow, []store.BadRecord, error) {
	rows := make([]store.SystemUserRow, 0, len(p.SystemUsers))
	for _, u := range p.SystemUsers {
		shops := []byte("[]")
		if len(u.Shops) > 0 {
			var err error
			if shops, err = json.Marshal(u.Shops); err != nil {
				return nil, nil, fmt.Errorf("encode shops of %s: %w", u.Username, err)
			}
		}
		rows = append(rows, store.SystemUserRow{
			Username: u.Username, Name: u.Name, Email: u.Email, Phone: u.Phone, EmployeeCode: u.EmployeeCode,
			Team: u.Team, ProfilePicture: u.ProfilePicture, Available: u.Available,
			Status: optInt64(u.Status), Role: optInt64(u.Role), Shops: shops, Raw: u.Raw,
		})
	}
	bad := make([]store.BadRecord, 0, len(p.Bad))
	for _, b := range p.Bad {
		bad = append(bad, store.BadRecord{Raw: b.Raw, Reason: b.Reason})
	}
	return rows, bad, nil
}

// optInt64 widens an optional int.
func optInt64(v *int) *int64 {
	if v == nil {
		return nil
	}
	n := int64(*v)
	return &n
}
