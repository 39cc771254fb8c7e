package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"crmsync/clients/oho/ohotest"
	"crmsync/clients/okeybot/okeybottest"
)

// stateVersion is the format of the state file; a file of another version
// is refused rather than misread.
const stateVersion = 1

// state is what the destination fakes hold, as the state file stores it.
// The fakes keep contacts in memory only; the state file lets a second
// `crmsync demo` find the contacts the first one created, as real
// destinations would.
type state struct {
	Version int               `json:"version"`
	Oho     []ohotest.Contact `json:"oho"`
	Okeybot []okeybotState    `json:"okeybot"`
}

// okeybotState is one Okeybot channel's contacts.
type okeybotState struct {
	Channel  string                `json:"channel"` // the channel's name in jobs.sandbox.yaml
	Contacts []okeybottest.Contact `json:"contacts"`
}

// ohoKeyOf reads the key of the contact a POST /contact body creates.
func ohoKeyOf(body []byte) (ohotest.Key, bool) {
	var b struct {
		SocialProfile struct {
			Platform   string `json:"platform"`
			ID         string `json:"id"`
			PlatformID string `json:"platform_id"`
		} `json:"social_profile"`
	}
	if json.Unmarshal(body, &b) != nil || b.SocialProfile.ID == "" {
		return ohotest.Key{}, false
	}
	sp := b.SocialProfile
	return ohotest.Key{Platform: sp.Platform, PlatformID: sp.PlatformID, UserID: sp.ID}, true
}

// State returns what Oho and Okeybot hold now, as the state file stores it.
func (s *Sandbox) State() ([]byte, error) {
	s.mu.Lock()
	keys := slices.SortedFunc(maps.Keys(s.ohoKeys), func(a, b ohotest.Key) int { return strings.Compare(a.String(), b.String()) })
	s.mu.Unlock()
	st := state{Version: stateVersion, Oho: []ohotest.Contact{}}
	for _, k := range keys {
		if c, ok := s.Oho.Contact(k); ok {
			st.Oho = append(st.Oho, c)
		}
	}
	for _, ch := range okeybotChannels {
		cs := s.Okeybot.Contacts(ch.token)
		if cs == nil {
			cs = []okeybottest.Contact{}
		}
		st.Okeybot = append(st.Okeybot, okeybotState{Channel: ch.name, Contacts: cs})
	}
	b, err := json.MarshalIndent(st, "", " ")
	if err != nil {
		return nil, fmt.Errorf("encode sandbox state: %w", err)
	}
	return b, nil
}

// SaveState writes State to path atomically (a temporary file renamed).
func (s *Sandbox) SaveState(path string) error {
	b, err := s.State()
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".sandbox-state-*")
	if err != nil {
		return fmt.Errorf("save sandbox state: %w", err)
	}
	_, werr := tmp.Write(b)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("save sandbox state %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("save sandbox state %s: %w", path, err)
	}
	return nil
}

// reserveToken is an Okeybot channel no configuration names: restore seeds
// placeholder contacts there to move the fake's id counter past the ids it
// restored (okeybottest.Seed keeps given ids but does not advance it).
const reserveToken = "sandbox-okeybot-reserved-ids"

// restore loads the state file at path into the fakes; a missing file is
// a first run and restores nothing.
func (s *Sandbox) restore(path string) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read sandbox state: %w", err)
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("read sandbox state %s: %w (remove it to start afresh)", path, err)
	}
	if st.Version != stateVersion {
		return fmt.Errorf("read sandbox state %s: version %d, want %d (remove it to start afresh)", path, st.Version, stateVersion)
	}
	s.Oho.Seed(st.Oho...)
	for _, c := range st.Oho {
		s.rememberOhoKey(c.Key())
	}
	var maxID int64
	for _, ch := range st.Okeybot {
		i := slices.IndexFunc(okeybotChannels, func(c struct{ name, token, env string }) bool { return c.name == ch.Channel })
		if i < 0 {
			return fmt.Errorf("read sandbox state %s: unknown Okeybot channel %q (remove it to start afresh)", path, ch.Channel)
		}
		s.Okeybot.Seed(okeybotChannels[i].token, ch.Contacts...)
		for _, c := range ch.Contacts {
			if id, err := strconv.ParseInt(c.ID, 10, 64); err == nil && id > maxID {
				maxID = id
			}
		}
	}
	if maxID > 0 {
		got := s.Okeybot.Seed(reserveToken, okeybottest.Contact{})
		id, err := strconv.ParseInt(got[0].ID, 10, 64)
		if err == nil && id < maxID {
			s.Okeybot.Seed(reserveToken, make([]okeybottest.Contact, maxID-id)...)
		}
	}
	return nil
}
