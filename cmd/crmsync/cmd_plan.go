package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"crmsync/config"
	"crmsync/store"
	"crmsync/sync/pull"
	"crmsync/sync/push"
)

func planCommand() *command {
	return &command{
		name: "plan", args: "push|backfill [flags]",
		summary: "Say what a push or a backfill will cost in API requests and time, per credential, before it starts",
		run: func(ctx context.Context, e *env, fs *flag.FlagSet, _ any) error {
			if fs.NArg() == 0 {
				return usagef("name what to plan: crmsync plan push [--destination oho|okeybot] or crmsync plan backfill --from --to")
			}
			switch fs.Arg(0) {
			case "push":
				return planPushCommand(ctx, e, fs.Args()[1:])
			case "backfill":
				return planBackfillCommand(ctx, e, fs.Args()[1:])
			}
			return usagef("unknown plan %q: want push or backfill", fs.Arg(0))
		},
	}
}

// parseSubFlags parses the flags of a plan subcommand; help is true when
// --help was asked (its usage is then printed on stdout).
func parseSubFlags(e *env, fs *flag.FlagSet, args []string) (help bool, err error) {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(e.stdout, "Usage: %s [flags]\n\nFlags:\n", fs.Name())
			fs.SetOutput(e.stdout)
			fs.PrintDefaults()
			return true, nil
		}
		return false, usagef("%v", err)
	}
	if fs.NArg() > 0 {
		return false, usagef("unexpected argument %q", fs.Arg(0))
	}
	return false, nil
}

// CredentialPlan is one credential's share of a plan: the requests by kind
// and the time its limit needs for them. The JSON of crmsync plan --json.
type CredentialPlan struct {
	Destination string `json:"destination"`
	// Credential names the quota (never its secret): oho, line/<channel
	// id>, okeybot/<channel name>, omnichat.
	Credential string `json:"credential"`
	Requests   int    `json:"requests"`
	// Seconds is Requests at RatePerSecond.
	Seconds       float64        `json:"seconds"`
	RatePerSecond float64        `json:"rate_per_second"`
	ByKind        map[string]int `json:"by_kind"`
	// Channels are the Okeybot channels whose requests wait on the
	// credential (one, or all under okeybot.rate_scope account).
	Channels []string `json:"channels,omitempty"`
	// Create, Update and Unchanged count the Okeybot contacts of the
	// credential's channels (the Oho ones are on the oho row).
	Create    *int `json:"create,omitempty"`
	Update    *int `json:"update,omitempty"`
	Unchanged *int `json:"unchanged,omitempty"`
	// Note says what the figure leaves out or shares.
	Note string `json:"note,omitempty"`
}

// DestinationPlan is the plan of one destination's push.
type DestinationPlan struct {
	Destination string `json:"destination"`
	Candidates  int    `json:"candidates"`
	Contacts    int    `json:"contacts"`
	Targets     int    `json:"targets"`
	Create      int    `json:"create"`
	Update      int    `json:"update"`
	Unchanged   int    `json:"unchanged"`
	Record      int    `json:"record"`
	Rejected    int    `json:"rejected"`
	Skipped     int    `json:"skipped"`
	Failed      int    `json:"failed"`
	Requests    int    `json:"requests"`
	// Seconds is the longest of its credentials' times: they are paced
	// apart and spent at once (Oho with LINE; Okeybot's tokens in lanes).
	Seconds float64 `json:"seconds"`
}

// PushPlan is crmsync plan push's result.
type PushPlan struct {
	Destinations []DestinationPlan `json:"destinations"`
	Credentials  []CredentialPlan  `json:"credentials"`
	// Seconds is the sum of the destinations' times: crmsync push pushes
	// them one after the other.
	Seconds float64 `json:"seconds"`
}

// planPushFlags are the flags of crmsync plan push.
type planPushFlags struct {
	destination string
	limit       int
	full, json  bool
}

func planPushCommand(ctx context.Context, e *env, args []string) error {
	f := &planPushFlags{}
	fs := flag.NewFlagSet("crmsync plan push", flag.ContinueOnError)
	fs.StringVar(&f.destination, "destination", "", "oho or okeybot (default both; okeybot when okeybot.channels are configured)")
	fs.IntVar(&f.limit, "limit", 0, "plan at most this many contacts, as push --limit (0 = all)")
	fs.BoolVar(&f.full, "full", false, "plan a push --full: every contact examined")
	fs.BoolVar(&f.json, "json", false, "print the plan as JSON")
	if help, err := parseSubFlags(e, fs, args); help || err != nil {
		return err
	}
	if err := checkPushFlags(f.destination, f.limit); err != nil {
		return err
	}
	cfg, err := e.config()
	if err != nil {
		return err
	}
	st, err := e.openMigratedStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	var plan PushPlan
	for _, step := range pushSteps(cfg, f.destination) {
		var d push.Destination
		if step == config.StepPushOho {
			d, err = newOhoDestination(cfg, e.log, true, nil)
		} else {
			d, err = newOkeybotDestination(cfg, e.log, nil)
		}
		if err != nil {
			return err
		}
		dp, cps, err := planPush(ctx, cfg, st, d, push.Options{Limit: f.limit, Full: f.full})
		if err != nil {
			return err
		}
		plan.Destinations = append(plan.Destinations, dp)
		plan.Credentials = append(plan.Credentials, cps...)
		plan.Seconds += dp.Seconds
	}
	if f.json {
		return writePlanJSON(e.stdout, plan)
	}
	return writePushPlan(e.stdout, plan)
}

// planPush runs d's push as a dry run (push.Run with DryRun: the same
// computation as crmsync push --dry-run; nothing sent, nothing written) and
// returns what the real push would do and the requests it would send, per
// credential, with the time each credential's limit needs for them.
func planPush(ctx context.Context, cfg *config.Config, st *store.Store, d push.Destination, o push.Options) (DestinationPlan, []CredentialPlan, error) {
	o.Store, o.DryRun = st, true
	// Okeybot: the contacts of each credential's channels, by action.
	type actions struct{ create, update, unchanged int }
	var okb *push.Okeybot
	byChannel := map[string]string{} // Okeybot channel → credential
	perCred := map[string]*actions{}
	if k, ok := d.(*push.Okeybot); ok {
		okb = k
		for _, c := range k.Credentials() {
			perCred[c.Credential] = &actions{}
			for _, ch := range c.Channels {
				byChannel[ch] = c.Credential
			}
		}
		o.ReportFunc = func(r push.ContactReport) {
			for _, t := range r.Targets {
				ch, _, _ := strings.Cut(t.Key, "/")
				a := perCred[byChannel[ch]]
				if a == nil {
					continue
				}
				switch t.Action {
				case push.Created:
					a.create++
				case push.Updated:
					a.update++
				case push.Unchanged, push.Recorded:
					a.unchanged++
				}
			}
		}
	}
	res, err := push.Run(ctx, d, o)
	if err != nil {
		return DestinationPlan{}, nil, fmt.Errorf("plan push %s: %w", d.Name(), err)
	}
	dp := DestinationPlan{
		Destination: d.Name(), Candidates: res.Candidates, Contacts: res.Contacts, Targets: res.Targets,
		Create: res.Created, Update: res.Updated, Unchanged: res.Unchanged, Record: res.Recorded,
		Rejected: res.Rejected, Skipped: res.Skipped, Failed: res.Failed,
	}
	var creds []string
	switch dd := d.(type) {
	case *push.Oho:
		creds = dd.Credentials()
	case *push.Okeybot:
		for _, c := range dd.Credentials() {
			creds = append(creds, c.Credential)
		}
	}
	for _, c := range res.Calls.Credentials() {
		if !slices.Contains(creds, c) {
			creds = append(creds, c)
		}
	}
	var cps []CredentialPlan
	var lineSeconds float64
	for _, c := range creds {
		cp := CredentialPlan{Destination: d.Name(), Credential: c, Requests: res.Calls.Total(c), ByKind: res.Calls.Kinds(c)}
		if okb != nil {
			cp.RatePerSecond = okeybotRate(okb)(c)
			for _, k := range okb.Credentials() {
				if k.Credential == c {
					cp.Channels = k.Channels
				}
			}
			if a := perCred[c]; a != nil {
				cp.Create, cp.Update, cp.Unchanged = &a.create, &a.update, &a.unchanged
			}
		} else {
			cp.RatePerSecond = credentialRate(cfg, c)
		}
		cp.Seconds = requestSeconds(cp.Requests, cp.RatePerSecond)
		switch {
		case c == "oho" && cfg.Oho.APIKey == "":
			cp.Note = "no OHO_API_KEY: every changed contact counted as a GET and a PATCH"
		case strings.HasPrefix(c, "line/"):
			cp.Note = "LINE channels share one limiter (line.rate_per_second)"
			lineSeconds += cp.Seconds
		}
		dp.Requests += cp.Requests
		dp.Seconds = math.Max(dp.Seconds, cp.Seconds)
		cps = append(cps, cp)
	}
	dp.Seconds = math.Max(dp.Seconds, lineSeconds)
	return dp, cps, nil
}

// credentialRate returns the paced rate, requests per second, of an Oho,
// LINE or Omnichat credential's limiter as cmd builds it.
func credentialRate(cfg *config.Config, credential string) float64 {
	switch {
	case credential == "oho":
		return cfg.Oho.RatePerSecond
	case strings.HasPrefix(credential, "line/"):
		return cfg.Line.RatePerSecond
	case credential == omnichatCredential:
		return float64(time.Second) / float64(omnichatSpacing(cfg.Omnichat))
	}
	return 0
}

// omnichatCredential names the Omnichat account's quota in plans and progress.
const omnichatCredential = "omnichat"

// requestSeconds is how long n requests take at perSecond (0 when no rate is known).
func requestSeconds(n int, perSecond float64) float64 {
	if perSecond <= 0 || math.IsInf(perSecond, 1) {
		return 0
	}
	return math.Round(float64(n)/perSecond*10) / 10
}

// fmtDuration writes seconds as people read them: "16h40m", "2m05s", "4.2s".
func fmtDuration(seconds float64) string {
	if seconds < 60 {
		return fmt.Sprintf("%.1fs", seconds)
	}
	d := time.Duration(seconds * float64(time.Second)).Round(time.Second)
	h, m, s := int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60
	if h > 0 {
		return fmt.Sprintf("%dh%02dm", h, m)
	}
	return fmt.Sprintf("%dm%02ds", m, s)
}

func writePlanJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode plan: %w", err)
	}
	if _, err := fmt.Fprintf(w, "%s\n", b); err != nil {
		return fmt.Errorf("write plan: %w", err)
	}
	return nil
}

// kindsText lists requests by kind: "12 get, 3 update".
func kindsText(m map[string]int) string {
	var parts []string
	for _, k := range push.SortKinds(m) {
		if m[k] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", m[k], k))
		}
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}

// writePushPlan prints a push plan as tables.
func writePushPlan(w io.Writer, p PushPlan) error {
	var b strings.Builder
	b.WriteString("Push plan (a dry run: nothing sent, nothing written)\n\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DESTINATION\tCANDIDATES\tTARGETS\tCREATE\tUPDATE\tLEAVE\tRECORD\tREJECTED\tSKIPPED\tREQUESTS\tTIME")
	for _, d := range p.Destinations {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n", d.Destination, d.Candidates, d.Targets, d.Create, d.Update,
			d.Unchanged, d.Record, d.Rejected, d.Skipped, d.Requests, fmtDuration(d.Seconds))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write plan: %w", err)
	}
	b.WriteString("\n")
	tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CREDENTIAL\tCONTACTS (create/update/leave)\tREQUESTS\tBY KIND\tLIMIT\tTIME AT LIMIT")
	var notes []string
	for _, c := range p.Credentials {
		contacts := "-"
		if c.Create != nil {
			contacts = fmt.Sprintf("%d/%d/%d", *c.Create, *c.Update, *c.Unchanged)
		} else if c.Credential == "oho" {
			for _, d := range p.Destinations {
				if d.Destination == store.DestinationOho {
					contacts = fmt.Sprintf("%d/%d/%d", d.Create, d.Update, d.Unchanged+d.Record)
				}
			}
		}
		name := c.Credential
		if len(c.Channels) > 1 {
			name += " (" + strings.Join(c.Channels, ", ") + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", name, contacts, c.Requests, kindsText(c.ByKind), fmtRate(c.RatePerSecond), fmtDuration(c.Seconds))
		if c.Note != "" && !slices.Contains(notes, c.Note) {
			notes = append(notes, c.Note)
		}
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write plan: %w", err)
	}
	for _, n := range notes {
		fmt.Fprintf(&b, "  note: %s\n", n)
	}
	fmt.Fprintf(&b, "\nThe push needs at least %s at these limits (destinations one after the other; within one, its credentials at once).\n",
		fmtDuration(p.Seconds))
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write plan: %w", err)
	}
	return nil
}

// fmtRate writes a rate: "1.62/s (97.5/min)" below 10 a second, else "39.0/s".
func fmtRate(perSecond float64) string {
	switch {
	case perSecond <= 0:
		return "-"
	case perSecond < 10:
		return fmt.Sprintf("%.2f/s (%.1f/min)", perSecond, perSecond*60)
	}
	return fmt.Sprintf("%.1f/s", perSecond)
}

// StreamPlan is one stream's part of a backfill plan.
type StreamPlan struct {
	Stream  string `json:"stream"`
	Scopes  int    `json:"scopes"`
	Windows int    `json:"windows"`
	// Done windows are done already (or given up): read for free, that is not at all.
	Done   int   `json:"done"`
	ToRead int   `json:"to_read"`
	Rows   int64 `json:"rows"`
	// Requests are the backfill's (pages, splits, the channel list);
	// ProbeRequests those the plan made itself.
	Requests      int     `json:"requests"`
	ProbeRequests int     `json:"probe_requests"`
	Unknown       int     `json:"unknown_windows,omitempty"`
	Seconds       float64 `json:"seconds"`
}

// BackfillPlan is crmsync plan backfill's result.
type BackfillPlan struct {
	From    string       `json:"from"`
	To      string       `json:"to"`
	Probe   bool         `json:"probe"`
	Streams []StreamPlan `json:"streams"`
	// Credentials holds the one Omnichat account every stream's requests
	// share (one quota per team).
	Credentials []CredentialPlan `json:"credentials"`
}

// planBackfillFlags are the flags of crmsync plan backfill.
type planBackfillFlags struct {
	backfillFlags
	noProbe, json bool
}

func planBackfillCommand(ctx context.Context, e *env, args []string) error {
	f := &planBackfillFlags{}
	fs := flag.NewFlagSet("crmsync plan backfill", flag.ContinueOnError)
	fs.StringVar(&f.from, "from", "", "first day, YYYY-MM-DD in the configured timezone (inclusive), as backfill --from")
	fs.StringVar(&f.to, "to", "", "last day, YYYY-MM-DD (inclusive), as backfill --to")
	fs.StringVar(&f.streams, "streams", "contacts,tagging_logs,messages", "comma-separated streams, as backfill --streams")
	fs.BoolVar(&f.retryGaveUp, "retry-gave-up", false, "count the windows given up too, as backfill --retry-gave-up")
	fs.BoolVar(&f.rereadGaps, "reread-gaps", false, "count the windows done with a data gap too, as backfill --reread-gaps")
	fs.BoolVar(&f.noProbe, "no-probe", false, "send Omnichat nothing: estimate each window from the rows the done windows of its scope hold")
	fs.BoolVar(&f.json, "json", false, "print the plan as JSON")
	if help, err := parseSubFlags(e, fs, args); help || err != nil {
		return err
	}
	streams, err := parseStreams(f.streams)
	if err != nil {
		return err
	}
	steps := make([]string, len(streams))
	for i, s := range streams {
		steps[i] = pullStepName(s)
	}
	opt := config.ForRun(steps...) // the Omnichat token, for the probe
	if f.noProbe {
		opt = config.WithoutSecrets() // nothing is sent
	}
	cfg, err := e.config(opt)
	if err != nil {
		return err
	}
	from, to, err := parseDateRange(f.from, f.to, cfg.Location())
	if err != nil {
		return err
	}
	if cfg.Omnichat.Token == "" {
		if !f.noProbe {
			return usagef("no Omnichat token: set OMNICHAT_TOKEN (or plan with --no-probe, which sends nothing)")
		}
		cfg.Omnichat.Token = "plan-no-probe-sends-nothing"
	}
	st, err := e.openMigratedStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	p, err := newPuller(cfg, st, e.log, nil)
	if err != nil {
		return err
	}
	rate := credentialRate(cfg, omnichatCredential)
	bp := BackfillPlan{From: from.Format(time.RFC3339), To: to.Format(time.RFC3339), Probe: !f.noProbe}
	cred := CredentialPlan{Destination: "omnichat", Credential: omnichatCredential, RatePerSecond: rate, ByKind: map[string]int{}}
	if !f.json && !f.noProbe {
		fmt.Fprintln(e.stderr, "plan backfill: reading page 1 of every window to read (one request each, on the account's quota); --no-probe sends nothing")
	}
	for _, s := range streams {
		est, err := p.Estimate(ctx, s, from, to, pull.EstimateOptions{Probe: !f.noProbe, RetryGaveUp: f.retryGaveUp, RereadGaps: f.rereadGaps})
		if err != nil {
			return fmt.Errorf("plan backfill: %w", err)
		}
		sp := StreamPlan{Stream: string(s), Scopes: est.Scopes, Windows: est.Windows, Done: est.Done, ToRead: est.ToRead, Rows: est.Rows,
			Requests: est.Requests, ProbeRequests: est.ProbeRequests, Unknown: est.Unknown, Seconds: requestSeconds(est.Requests, rate)}
		bp.Streams = append(bp.Streams, sp)
		cred.Requests += est.Requests
		cred.ByKind[string(s)] += est.Requests
	}
	cred.Seconds = requestSeconds(cred.Requests, rate)
	bp.Credentials = []CredentialPlan{cred}
	if f.json {
		return writePlanJSON(e.stdout, bp)
	}
	return writeBackfillPlan(e.stdout, bp, cfg.Location())
}

// writeBackfillPlan prints a backfill plan as a table.
func writeBackfillPlan(w io.Writer, p BackfillPlan, loc *time.Location) error {
	var b strings.Builder
	how := "pages from page 1 of each window to read (read now)"
	if !p.Probe {
		how = "pages from the rows the done windows of each scope hold (nothing sent)"
	}
	from, _ := time.Parse(time.RFC3339, p.From)
	to, _ := time.Parse(time.RFC3339, p.To)
	fmt.Fprintf(&b, "Backfill plan %s → %s (%s): %s\n\n", from.In(loc).Format(time.DateOnly), to.In(loc).AddDate(0, 0, -1).Format(time.DateOnly), loc, how)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STREAM\tSCOPES\tWINDOWS\tDONE (free)\tTO READ\tROWS (est.)\tREQUESTS\tPROBE REQUESTS\tTIME AT LIMIT")
	unknown := 0
	for _, s := range p.Streams {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n", s.Stream, s.Scopes, s.Windows, s.Done, s.ToRead, s.Rows, s.Requests,
			s.ProbeRequests, fmtDuration(s.Seconds))
		unknown += s.Unknown
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write plan: %w", err)
	}
	for _, c := range p.Credentials {
		fmt.Fprintf(&b, "\n%s: %d requests at %s: %s (every stream shares the account's quota)\n", c.Credential, c.Requests,
			fmtRate(c.RatePerSecond), fmtDuration(c.Seconds))
	}
	if unknown > 0 {
		fmt.Fprintf(&b, "  note: %d windows have no done window of their scope or stream to estimate from: counted as one page each\n", unknown)
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write plan: %w", err)
	}
	return nil
}
