package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/time/rate"

	"crmsync/clients/apiclient"
	"crmsync/clients/lineapi"
	"crmsync/clients/oho"
	"crmsync/clients/okeybot"
	"crmsync/config"
	"crmsync/store"
	"crmsync/sync/push"
)

// pushFlags are the flags of crmsync push.
type pushFlags struct {
	dryRun      bool
	destination string
	limit       int
	full        bool
}

func pushCommand() *command {
	return &command{
		name: "push", summary: "Push master records to Oho and Okeybot (--dry-run shows what would change)",
		setFlags: func(fs *flag.FlagSet) any {
			f := &pushFlags{}
			fs.BoolVar(&f.dryRun, "dry-run", false, "print what would be created or changed, and write nothing anywhere")
			fs.StringVar(&f.destination, "destination", "", "oho or okeybot (default both; okeybot when okeybot.channels are configured)")
			fs.IntVar(&f.limit, "limit", 0, "at most this many contacts (0 = all)")
			fs.BoolVar(&f.full, "full", false, "examine every contact, not only those changed since their last push (unchanged ones still send nothing)")
			return f
		},
		run: func(ctx context.Context, e *env, fs *flag.FlagSet, opts any) error {
			f := opts.(*pushFlags)
			if fs.NArg() > 0 {
				return usagef("unexpected argument %q", fs.Arg(0))
			}
			if err := checkPushFlags(f.destination, f.limit); err != nil {
				return err
			}
			cfg, err := e.config()
			if err != nil {
				return err
			}
			st, err := e.openStore(ctx)
			if err != nil {
				return err
			}
			defer st.Close()
			steps := pushSteps(cfg, f.destination)
			if f.dryRun {
				return dryRunPush(ctx, e, cfg, st, steps, f)
			}
			// A real push is `crmsync run push_oho push_okeybot`: the same
			// Runner, step locks and sync_runs rows as the scheduler, each
			// destination a run of its own so one that fails does not keep
			// the next from running. It prints each destination's summary.
			if err := requireSchema(ctx, st); err != nil {
				return err
			}
			var werr error
			runner, err := newRunner(ctx, e, cfg, st, nil, stepOptions{
				full: f.full, limit: f.limit, extra: steps,
				pushResult: func(res push.Result) {
					if err := push.WriteSummary(e.stdout, res, false); err != nil && werr == nil {
						werr = err
					}
				},
			})
			if err != nil {
				return err
			}
			jobs := make([]config.Job, len(steps))
			for i, s := range steps {
				jobs[i] = config.Job{Name: s, Steps: []string{s}, Timeout: 30 * time.Minute}
			}
			if err := runJobs(ctx, runner, jobs); err != nil {
				return err
			}
			return werr
		},
	}
}

// checkPushFlags checks --destination and --limit of push and plan push.
func checkPushFlags(destination string, limit int) error {
	if limit < 0 {
		return usagef("--limit %d: must be 0 or more", limit)
	}
	switch destination {
	case "", store.DestinationOho, store.DestinationOkeybot:
		return nil
	}
	return usagef("--destination %q: want oho or okeybot", destination)
}

// pushSteps returns the push steps --destination names: oho, okeybot, or
// both ("": Okeybot only when okeybot.channels are configured).
func pushSteps(cfg *config.Config, destination string) []string {
	var steps []string
	if destination != store.DestinationOkeybot {
		steps = append(steps, config.StepPushOho)
	}
	if destination == store.DestinationOkeybot || destination == "" && len(cfg.Okeybot.Channels) > 0 {
		steps = append(steps, config.StepPushOkeybot)
	}
	return steps
}

// dryRunPush prints what a push would create or change, per contact, and
// writes nothing anywhere (push.Run reads through a read-only transaction).
func dryRunPush(ctx context.Context, e *env, cfg *config.Config, st *store.Store, steps []string, f *pushFlags) error {
	for _, step := range steps {
		var dest push.Destination
		var err error
		if step == config.StepPushOho {
			dest, err = newOhoDestination(cfg, e.log, true, nil)
		} else {
			dest, err = newOkeybotDestination(cfg, e.log, nil)
		}
		if err != nil {
			return err
		}
		var werr error
		res, err := push.Run(ctx, dest, push.Options{
			Store: st, Log: e.log, DryRun: true, Limit: f.limit, Full: f.full,
			ReportFunc: func(r push.ContactReport) {
				if werr == nil {
					werr = push.WriteReport(e.stdout, r)
				}
			},
		})
		if serr := push.WriteSummary(e.stdout, res, true); werr == nil {
			werr = serr
		}
		if err != nil {
			return fmt.Errorf("push %s dry run: %w", dest.Name(), err)
		}
		if werr != nil {
			return werr
		}
	}
	return nil
}

// newOhoDestination builds the Oho destination from the configuration: the
// Oho client under the account's rate limit (oho.rate_per_second), the LINE
// client under line.rate_per_second, and the LINE channel tokens. A dry run
// writes nothing to Oho; with an API key it reads each changed contact (GET)
// to show the merge with what Oho holds, without one it reads nothing and
// shows changes against the last push.
func newOhoDestination(cfg *config.Config, log logrus.FieldLogger, dryRun bool, observer func(apiclient.RequestInfo)) (*push.Oho, error) {
	key, offline := cfg.Oho.APIKey, false
	if key == "" {
		if !dryRun {
			return nil, usagef("no Oho API key: set OHO_API_KEY (or run with --dry-run)")
		}
		key, offline = "dry-run-reads-nothing", true
	}
	oc, err := oho.New(oho.Config{
		BaseURL:  cfg.Oho.BaseURL,
		APIKey:   key,
		Limiter:  rate.NewLimiter(rate.Limit(cfg.Oho.RatePerSecond), 1),
		Log:      log,
		Observer: observer,
	})
	if err != nil {
		return nil, err
	}
	lc, err := lineapi.New(lineapi.Config{
		BaseURL:  cfg.Line.BaseURL,
		Limiter:  rate.NewLimiter(rate.Limit(cfg.Line.RatePerSecond), 1),
		Log:      log,
		Observer: observer,
	})
	if err != nil {
		return nil, err
	}
	tokens := make(map[string]string, len(cfg.Line.Channels))
	for _, ch := range cfg.Line.Channels {
		tokens[ch.ChannelID] = ch.AccessToken
	}
	return push.NewOho(push.OhoConfig{Client: oc, Line: lc, LineTokens: tokens, Mapper: cfg.Mapper(), Offline: offline})
}

// newOkeybotDestination builds the Okeybot destination from the
// configuration: one client whose limiters pace at okeybot.rate_per_minute
// less okeybot.rate_headroom, one per channel token or, with
// okeybot.rate_scope account, one for all (handles of one token share it),
// and the channels with their sources, lookup fields and Viber flags;
// okeybot.detect_conflicts turns on the read before each changed contact. A
// dry run sends Okeybot nothing, not even a lookup.
func newOkeybotDestination(cfg *config.Config, log logrus.FieldLogger, observer func(apiclient.RequestInfo)) (*push.Okeybot, error) {
	if len(cfg.Okeybot.Channels) == 0 {
		return nil, usagef("no Okeybot channel: add okeybot.channels to %s", cfg.Path)
	}
	scope, err := okeybot.ParseRateScope(cfg.Okeybot.RateScope)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: okeybot.rate_scope: %w", cfg.Path, config.ErrInvalid, err)
	}
	oc, err := okeybot.New(okeybot.Config{
		BaseURL:       cfg.Okeybot.BaseURL,
		RatePerMinute: cfg.Okeybot.RatePerMinute,
		Headroom:      cfg.Okeybot.RateHeadroom,
		RateScope:     scope,
		Log:           log,
		Observer:      observer,
	})
	if err != nil {
		return nil, err
	}
	chans := make([]push.OkeybotChannel, len(cfg.Okeybot.Channels))
	for i, ch := range cfg.Okeybot.Channels {
		chans[i] = push.OkeybotChannel{Name: ch.Name, Token: ch.Token, Sources: ch.Sources, LookupField: ch.LookupField, Viber: ch.Viber}
	}
	d, err := push.NewOkeybot(push.OkeybotConfig{Client: oc, Channels: chans, Mapper: cfg.Mapper(), DetectConflicts: cfg.Okeybot.DetectConflicts})
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %w", cfg.Path, config.ErrInvalid, err)
	}
	return d, nil
}
