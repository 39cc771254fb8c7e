package push_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"crmsync/clients/apiclient"
	"crmsync/clients/lineapi/lineapitest"
	"crmsync/clients/oho/ohotest"
	"crmsync/contact"
	"crmsync/mapping"
	"crmsync/store"
	"crmsync/sync/push"
)

func TestRun_Oho_createsWithLineBotInfoAndProfile(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOptions{})
	b.line.AddProfile(lineToken, lineapitest.Profile{UserID: lineUser(1), DisplayName: "ส้มโอ 🍊", PictureURL: "https://profile.line-scdn.net/abc"})
	ids := seedContacts(t, b.st,
		seedContact{Name: "Somchai Jaidee", Email: "somchai@example.com", Phone: "+66812345678",
			Identities: []contact.Identity{lineID(1)}, Tags: []string{"VIP"}, Attrs: map[string]string{"tier": "gold"}},
		seedContact{Name: "Page Fan", Identities: []contact.Identity{fbID("fb-user-1")}},
	)

	res, err := b.run(t)
	require.NoError(t, err)
	require.Equal(t, 2, res.Created)
	require.Equal(t, 2, res.Requests, "one POST per new contact")
	require.Equal(t, 1, res.HelperRequests, "one LINE profile GET, counted apart")
	require.Equal(t, 1, b.line.Count("/v2/bot/info"))
	require.Equal(t, 1, b.line.Count("/v2/bot/profile/"+lineUser(1)))
	require.Equal(t, []string{"POST", "POST"}, methods(b.oho))

	got, ok := b.oho.Contact(ohoLineKey(lineUser(1)))
	require.True(t, ok)
	require.Equal(t, ohotest.SocialProfile{Platform: "line", ID: lineUser(1), PlatformID: botUserID, PlatformName: botName, LineBasicID: botBasicID}, got.SocialProfile)
	require.Equal(t, "https://profile.line-scdn.net/abc", got.ProfilePictureURL)
	require.Equal(t, "ส้มโอ 🍊", got.PlatformDisplayName)
	require.Equal(t, "Somchai Jaidee", got.DisplayName)
	require.Equal(t, "0812345678", got.Phone)
	require.Equal(t, []string{"VIP"}, got.Tags)

	fb, ok := b.oho.Contact(ohotest.Key{Platform: "facebook", PlatformID: fbPage, UserID: "fb-user-1"})
	require.True(t, ok)
	require.Equal(t, fbPageName, fb.SocialProfile.PlatformName, "platform_name is the Omnichat channel name")
	require.Equal(t, defaultPhoto, fb.ProfilePictureURL)

	require.Equal(t, 2, count(t, b.st, `SELECT count(*) FROM push_state WHERE destination = 'oho'`))
	require.Equal(t, 1, count(t, b.st, `SELECT count(*) FROM push_state s JOIN contact_identities i ON i.id = s.identity_id
		WHERE s.target_key = $1 AND s.contact_id = $2 AND i.user_id = $3`, "line/"+botUserID+"/"+lineUser(1), int64(ids[0]), lineUser(1)))
	require.Equal(t, 2, count(t, b.st, `SELECT count(*) FROM v_push_status WHERE destination = 'oho' AND state = 'pushed'`))
}

func TestRun_Oho_updateSendsOnlyChangedFields(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOptions{})
	ids := seedContacts(t, b.st, seedContact{Name: "Anan", Email: "anan@example.com",
		Identities: []contact.Identity{fbID("u1")}, Tags: []string{"a"}})
	_, err := b.run(t)
	require.NoError(t, err)

	rename(t, b.st, ids[0], "Anan K.", t0.Add(time.Minute))
	exec(t, b.st, `INSERT INTO contact_tags (contact_id, tag) VALUES ($1, 'b')`, int64(ids[0]))
	res, err := b.run(t)
	require.NoError(t, err)
	require.Equal(t, 1, res.Updated)
	require.Equal(t, 2, res.Requests, "a GET (to merge with what Oho holds) and one PATCH for an update")
	require.Equal(t, []string{"POST", "GET", "PATCH"}, methods(b.oho))
	patches := b.sent.bodies("PATCH")
	require.Len(t, patches, 1)
	_, body, _ := strings.Cut(patches[0], " {")
	var sent map[string]any
	require.NoError(t, json.Unmarshal([]byte("{"+body), &sent))
	require.Equal(t, map[string]any{"display_name": "Anan K.", "first_name": "Anan K.", "tags": []any{"a", "b"}}, sent,
		"only the changed top-level fields, the tag list whole")
	got, _ := b.oho.Contact(ohotest.Key{Platform: "facebook", PlatformID: fbPage, UserID: "u1"})
	require.Equal(t, "anan@example.com", got.Email, "an unchanged field keeps its value")
	require.Equal(t, "Anan K.", got.DisplayName)
}

func TestRun_Oho_secondPushWithoutChangeSendsNothing(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOptions{})
	b.line.AddProfile(lineToken, lineapitest.Profile{UserID: lineUser(2), DisplayName: "Two"})
	seedContacts(t, b.st,
		seedContact{Name: "One", Identities: []contact.Identity{fbID("u1")}},
		seedContact{Name: "Two", Identities: []contact.Identity{lineID(2)}},
	)
	_, err := b.run(t)
	require.NoError(t, err)
	before := len(b.oho.Requests())
	lineBefore := len(b.line.Requests())

	t.Run("Incremental", func(t *testing.T) {
		res, err := b.run(t)
		require.NoError(t, err)
		require.Equal(t, 0, res.Contacts, "no contact changed since")
		require.Len(t, b.oho.Requests(), before)
	})
	t.Run("FullComparesAndSendsNothing", func(t *testing.T) {
		res, err := b.run(t, func(o *push.Options) { o.Full = true })
		require.NoError(t, err)
		require.Equal(t, 2, res.Contacts)
		require.Equal(t, 2, res.Unchanged)
		require.Equal(t, 0, res.Requests)
		require.Len(t, b.oho.Requests(), before, "zero requests to Oho")
		require.Len(t, b.line.Requests(), lineBefore, "bot info is cached; no profile is read for an existing contact")
	})
}

func TestRun_Oho_conflictFetchesAndUpdates(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOptions{})
	// Oho already holds the contact (its own Facebook link created it).
	b.oho.Seed(ohotest.Contact{
		SocialProfile:     ohotest.SocialProfile{Platform: "facebook", ID: "u9", PlatformID: fbPage, PlatformName: fbPageName},
		ProfilePictureURL: "https://x.example/p.png", PlatformDisplayName: "Old", DisplayName: "Old", FirstName: "Old",
		Tags: []string{"set in oho"},
	})
	seedContacts(t, b.st, seedContact{Name: "New Name", Identities: []contact.Identity{fbID("u9")}, Tags: []string{"vip"}})

	res, err := b.run(t)
	require.NoError(t, err)
	require.Equal(t, 1, res.Created)
	require.Equal(t, []string{"POST", "GET", "PATCH"}, methods(b.oho))
	require.Equal(t, 3, res.Requests)
	got, _ := b.oho.Contact(ohotest.Key{Platform: "facebook", PlatformID: fbPage, UserID: "u9"})
	require.Equal(t, "New Name", got.DisplayName)
	require.Equal(t, []string{"set in oho", "vip"}, got.Tags, "the tag set in Oho survives the 409 path")
	require.Equal(t, 2, res.Conflicts, "display_name and first_name were set in Oho; on_conflict source sent crmsync's")
	require.Equal(t, 2, count(t, b.st, `SELECT count(*) FROM v_push_conflicts WHERE destination = 'oho' AND target_key = $1
		AND destination_value = 'Old' AND crmsync_value = 'New Name' AND last_pushed_value IS NULL
		AND resolution = 'overwrote_destination' AND rule = 'source'`, "facebook/"+fbPage+"/u9"))

	res, err = b.run(t, func(o *push.Options) { o.Full = true })
	require.NoError(t, err)
	require.Equal(t, 1, res.Unchanged, "the state recorded after the conflict is the one Oho holds")
	require.Len(t, b.oho.Requests(), 3)
}

func TestRun_Oho_overLimitRecordIsCutAndAccepted(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOptions{})
	long := strings.Repeat("ชื่อยาว", 60) // 360 characters, 1080+ bytes
	var tags []string
	for i := range 25 {
		tags = append(tags, "tag"+string(rune('a'+i)))
	}
	seedContacts(t, b.st, seedContact{Name: long, Identities: []contact.Identity{fbID("u1")}, Tags: tags})

	res, err := b.run(t)
	require.NoError(t, err)
	require.Equal(t, 1, res.Created)
	for _, r := range b.oho.Requests() {
		require.Equal(t, http.StatusCreated, r.Status, "refused: %s", r.Reason)
	}
	got, _ := b.oho.Contact(ohotest.Key{Platform: "facebook", PlatformID: fbPage, UserID: "u1"})
	// Cuts fall on grapheme boundaries: Thai vowel marks stay with their consonant.
	require.LessOrEqual(t, len([]rune(got.DisplayName)), 255)
	require.Greater(t, len([]rune(got.DisplayName)), 250)
	require.LessOrEqual(t, len([]rune(got.FirstName)), 100)
	require.Greater(t, len([]rune(got.FirstName)), 95)
	require.True(t, strings.HasPrefix(long, got.FirstName))
	require.Len(t, got.Tags, 20)
	require.Positive(t, res.Adjustments["truncated: "+firstReason(t, b.st, "truncated")])
	require.Equal(t, 1, count(t, b.st, `SELECT count(*) FROM v_push_adjustments WHERE field = 'display_name' AND kind = 'truncated'`))
	require.Positive(t, count(t, b.st, `SELECT count(*) FROM v_push_reasons WHERE what = 'adjustment' AND kind = 'truncated'`))
}

// firstReason returns the reason of some adjustment of kind.
func firstReason(t *testing.T, st *store.Store, kind string) string {
	t.Helper()
	var r string
	require.NoError(t, st.SQL().QueryRowContext(t.Context(), `SELECT reason FROM v_push_adjustments WHERE kind = $1 LIMIT 1`, kind).Scan(&r))
	return r
}

func TestRun_Oho_refusedContactIsRecordedAndOthersPushed(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOptions{})
	ids := seedContacts(t, b.st,
		seedContact{Name: "Refused", Identities: []contact.Identity{fbID("u1")}},
		seedContact{Name: "Fine", Identities: []contact.Identity{fbID("u2")}},
		seedContact{Name: "No token", Identities: []contact.Identity{{Platform: contact.LINE, ChannelID: "999", UserID: lineUser(3)}}},
		seedContact{Name: "Fine too", Identities: []contact.Identity{fbID("u4")}},
	)
	b.oho.RejectNext(1, http.StatusBadRequest, 0) // the first request (contact 1, one worker) is refused

	res, err := b.run(t, func(o *push.Options) { o.Concurrency = 1 })
	require.NoError(t, err)
	require.Equal(t, 2, res.Created)
	require.Equal(t, 2, res.Rejected)
	require.Equal(t, map[string]int{"Bad request": 1, "no LINE token for channel 999": 1}, res.Rejections)
	require.Equal(t, 2, count(t, b.st, `SELECT count(*) FROM push_state`))

	var reason string
	var status int
	require.NoError(t, b.st.SQL().QueryRowContext(t.Context(),
		`SELECT reason, http_status FROM push_rejections WHERE contact_id = $1`, int64(ids[0])).Scan(&reason, &status))
	require.Equal(t, "Bad request", reason)
	require.Equal(t, http.StatusBadRequest, status)
	require.Equal(t, 1, count(t, b.st, `SELECT count(*) FROM push_rejections WHERE contact_id = $1 AND http_status IS NULL
		AND target_key = $2`, int64(ids[2]), "line/999/"+lineUser(3)))
	require.Equal(t, "rejected", stateOf(t, b.st, ids[0]))

	t.Run("RefusedPayloadIsNotSentAgain", func(t *testing.T) {
		n := len(b.oho.Requests())
		res, err := b.run(t, func(o *push.Options) { o.Full = true })
		require.NoError(t, err)
		require.Equal(t, 1, res.Skipped)
		require.Len(t, b.oho.Requests(), n)
		require.Equal(t, 1, count(t, b.st, `SELECT count(*) FROM push_rejections WHERE contact_id = $1`, int64(ids[2])),
			"the same refusal is recorded once")
	})
	t.Run("ChangedPayloadIsSent", func(t *testing.T) {
		rename(t, b.st, ids[0], "Refused no more", t0.Add(time.Hour))
		res, err := b.run(t)
		require.NoError(t, err)
		require.Equal(t, 1, res.Created)
		_, ok := b.oho.Contact(ohotest.Key{Platform: "facebook", PlatformID: fbPage, UserID: "u1"})
		require.True(t, ok)
	})
}

// stateOf returns v_push_status.state of a contact for Oho.
func stateOf(t *testing.T, st *store.Store, id contact.ID) string {
	t.Helper()
	var s string
	require.NoError(t, st.SQL().QueryRowContext(t.Context(),
		`SELECT state FROM v_push_status WHERE destination = 'oho' AND contact_id = $1`, int64(id)).Scan(&s))
	return s
}

func TestRun_Oho_crashBetweenContactsThenRerunCreatesNoDuplicate(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOptions{})
	var cs []seedContact
	for i := range 5 {
		cs = append(cs, seedContact{Name: "C" + string(rune('0'+i)), Identities: []contact.Identity{fbID("u" + string(rune('0'+i)))}})
	}
	seedContacts(t, b.st, cs...)

	// The "crash": stop after two contacts, then lose the batch's progress
	// marks as a killed process would (state rows were written per request).
	var done atomic.Int32
	res, err := b.run(t, func(o *push.Options) {
		o.Concurrency = 1
		o.ReportFunc = func(push.ContactReport) { done.Add(1) }
		o.Stopping = func() bool { return done.Load() >= 2 }
	})
	require.ErrorIs(t, err, push.ErrStopped)
	require.Equal(t, 2, res.Created)
	exec(t, b.st, `DELETE FROM push_contacts`)

	res, err = b.run(t)
	require.NoError(t, err)
	require.Equal(t, 5, res.Contacts)
	require.Equal(t, 3, res.Created)
	require.Equal(t, 2, res.Unchanged)
	require.Equal(t, 5, b.oho.Count("POST"), "one create per contact, none repeated")
	require.Equal(t, 5, b.oho.Len())
	for _, r := range b.oho.Requests() {
		require.Equal(t, http.StatusCreated, r.Status)
	}
}

func TestRun_Oho_excludedContactsAreNeverPushed(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOptions{})
	seedContacts(t, b.st,
		seedContact{Name: "Out", Identities: []contact.Identity{fbID("u1")}, Excluded: true},
		seedContact{Name: "In", Identities: []contact.Identity{fbID("u2")}},
	)
	res, err := b.run(t, func(o *push.Options) { o.Full = true })
	require.NoError(t, err)
	require.Equal(t, 1, res.Contacts)
	require.Equal(t, 1, b.oho.Len())
	_, ok := b.oho.Contact(ohotest.Key{Platform: "facebook", PlatformID: fbPage, UserID: "u1"})
	require.False(t, ok)
}

func TestRun_Oho_lineProfileNotFoundCreatesWithDefaultPicture(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOptions{})
	seedContacts(t, b.st, seedContact{Name: "Blocked the bot", Identities: []contact.Identity{lineID(7)}})
	res, err := b.run(t)
	require.NoError(t, err)
	require.Equal(t, 1, res.Created)
	got, ok := b.oho.Contact(ohoLineKey(lineUser(7)))
	require.True(t, ok)
	require.Equal(t, defaultPhoto, got.ProfilePictureURL)
	require.Equal(t, "Blocked the bot", got.PlatformDisplayName)
	require.Equal(t, 1, b.line.Count("/v2/bot/profile/"+lineUser(7)), "a 404 is final: not retried")
}

func TestRun_Oho_transientFailureIsRetriedByTheNextRun(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOptions{})
	seedContacts(t, b.st, seedContact{Name: "Unlucky", Identities: []contact.Identity{fbID("u1")}})
	b.oho.RejectNext(2, http.StatusServiceUnavailable, 0) // both attempts of the POST

	res, err := b.run(t)
	require.NoError(t, err)
	require.Equal(t, 1, res.Failed)
	require.Equal(t, 0, count(t, b.st, `SELECT count(*) FROM push_state`))
	require.Equal(t, 0, count(t, b.st, `SELECT count(*) FROM push_rejections`), "a failure is not a refusal")

	res, err = b.run(t)
	require.NoError(t, err)
	require.Equal(t, 1, res.Created)
}

func TestRun_Oho_badAPIKeyEndsTheRun(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOptions{apiKey: "wrong"})
	seedContacts(t, b.st,
		seedContact{Name: "A", Identities: []contact.Identity{fbID("u1")}},
		seedContact{Name: "B", Identities: []contact.Identity{fbID("u2")}},
	)
	_, err := b.run(t, func(o *push.Options) { o.Concurrency = 1 })
	require.ErrorIs(t, err, apiclient.ErrUnauthorized)
	require.Equal(t, 1, len(b.oho.Requests()), "no request after the 401")
	require.Equal(t, 0, count(t, b.st, `SELECT count(*) FROM push_contacts`))
}

func TestRun_Oho_mergedContactKeepsItsOhoRecord(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOptions{})
	ids := seedContacts(t, b.st,
		seedContact{Name: "Survivor", Identities: []contact.Identity{fbID("u1")}},
		seedContact{Name: "Merged", Identities: []contact.Identity{fbID("u2")}},
	)
	_, err := b.run(t)
	require.NoError(t, err)

	// Reconcile merges ids[1] into ids[0]: the identity moves, the old contact becomes a tombstone.
	at := t0.Add(time.Hour)
	exec(t, b.st, `UPDATE contact_identities SET contact_id = $1 WHERE contact_id = $2`, int64(ids[0]), int64(ids[1]))
	exec(t, b.st, `UPDATE contacts SET merged_into = $1, identities = 0, updated_at = $2 WHERE id = $3`, int64(ids[0]), at, int64(ids[1]))
	exec(t, b.st, `UPDATE contacts SET identities = 2, updated_at = $1 WHERE id = $2`, at, int64(ids[0]))

	res, err := b.run(t)
	require.NoError(t, err)
	require.Equal(t, 1, res.Contacts)
	require.Equal(t, 2, b.oho.Count("POST"), "no second create for the merged identity")
	require.Equal(t, 1, res.Updated, "the merged identity's Oho contact takes the survivor's data")
	got, _ := b.oho.Contact(ohotest.Key{Platform: "facebook", PlatformID: fbPage, UserID: "u2"})
	require.Equal(t, "Survivor", got.DisplayName)
	require.Equal(t, 2, count(t, b.st, `SELECT count(*) FROM push_state WHERE contact_id = $1`, int64(ids[0])),
		"both records are re-pointed at the survivor")
}

func TestRun_Oho_stoppingFinishesTheContactInHand(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOptions{})
	seedContacts(t, b.st,
		seedContact{Name: "A", Identities: []contact.Identity{fbID("u1")}},
		seedContact{Name: "B", Identities: []contact.Identity{fbID("u2")}},
	)
	var stop atomic.Bool
	res, err := b.run(t, func(o *push.Options) {
		o.Concurrency = 1
		o.Stopping = stop.Load
		o.ReportFunc = func(push.ContactReport) { stop.Store(true) }
	})
	require.True(t, errors.Is(err, push.ErrStopped))
	require.Equal(t, 1, res.Contacts)
	require.Equal(t, 1, count(t, b.st, `SELECT count(*) FROM push_contacts`), "the finished contact is recorded")
}

func TestRun_Oho_rejectedByMappingIsRecorded(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOptions{})
	// A Facebook user id over Oho's 40-character limit cannot be cut: it is a key.
	ids := seedContacts(t, b.st, seedContact{Name: "Long id", Identities: []contact.Identity{fbID(strings.Repeat("9", 41))}})
	res, err := b.run(t)
	require.NoError(t, err)
	require.Equal(t, 1, res.Rejected)
	require.Empty(t, b.oho.Requests())
	var field string
	require.NoError(t, b.st.SQL().QueryRowContext(t.Context(),
		`SELECT field FROM push_rejections WHERE contact_id = $1 AND http_status IS NULL`, int64(ids[0])).Scan(&field))
	require.Equal(t, "social_profile.id", field)
}

func TestOho_Start_fingerprintFollowsMapping(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOptions{})
	seedContacts(t, b.st, seedContact{Name: "A", Identities: []contact.Identity{fbID("u1")}, Tags: []string{"x"}})
	_, err := b.run(t)
	require.NoError(t, err)

	mp, err := mapping.New(mapping.Options{Oho: mapping.OhoOptions{DefaultPictureURL: defaultPhoto, Tags: mapping.TagRules{Exclude: []string{"x"}}}})
	require.NoError(t, err)
	other, err := push.NewOho(push.OhoConfig{Client: b.client, Mapper: mp, NowFunc: b.clock.Now})
	require.NoError(t, err)
	res, err := push.Run(t.Context(), other, b.opts)
	require.NoError(t, err)
	require.Equal(t, 1, res.Contacts, "new mapping rules: every contact is examined again")
	require.Equal(t, 1, res.Updated)
	got, _ := b.oho.Contact(ohotest.Key{Platform: "facebook", PlatformID: fbPage, UserID: "u1"})
	require.Empty(t, got.Tags)
}

func TestRun_Oho_badLineTokenFailsItsChannelOnly(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOptions{tokens: map[string]string{"777": "revoked-token"}})
	var cs []seedContact
	for i := range 3 {
		cs = append(cs, seedContact{Name: "Bad channel", Identities: []contact.Identity{{Platform: contact.LINE, ChannelID: "777", UserID: lineUser(10 + i)}}})
	}
	cs = append(cs, seedContact{Name: "Page fan", Identities: []contact.Identity{fbID("u1")}})
	seedContacts(t, b.st, cs...)

	res, err := b.run(t, func(o *push.Options) { o.MaxFailures = 2 })
	require.NoError(t, err, "a LINE channel's bad token does not end the run")
	require.Equal(t, 3, res.Failed)
	require.Equal(t, 1, res.Created)
	require.Equal(t, 1, b.line.Count("/v2/bot/info"), "the refusal is remembered for the run")
	require.Equal(t, 1, count(t, b.st, `SELECT count(*) FROM push_contacts`), "failed contacts are retried by the next run")
}

func TestRun_Oho_updateOfAContactGoneFromOhoCreatesIt(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOptions{})
	ids := seedContacts(t, b.st, seedContact{Name: "Before", Identities: []contact.Identity{fbID("u1")}})
	_, err := b.run(t)
	require.NoError(t, err)

	rename(t, b.st, ids[0], "After", t0.Add(time.Minute))
	b.oho.RejectNext(1, http.StatusNotFound, 0) // the GET: "deleted in Oho"
	res, err := b.run(t)
	require.NoError(t, err)
	require.Equal(t, 1, res.Created, "counted as a create: the contact had to be created again")
	require.Equal(t, []string{"POST", "GET", "POST", "GET", "PATCH"}, methods(b.oho),
		"GET 404 → POST (here 409, the fake still holds it) → GET → PATCH")
	require.Zero(t, res.Conflicts, "what Oho holds is what crmsync last pushed: no conflict")
	got, _ := b.oho.Contact(ohotest.Key{Platform: "facebook", PlatformID: fbPage, UserID: "u1"})
	require.Equal(t, "After", got.DisplayName)
}
