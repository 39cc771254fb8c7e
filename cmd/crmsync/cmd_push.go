package main

import (
	"context"
	"errors"
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
	"crmsync/mapping"
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

// pushGrace is how long an interrupted push may take to finish the
// contacts in hand before their requests are cancelled too.
const pushGrace = 30 * time.Second

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
			if f.limit < 0 {
				return usagef("--limit %d: must be 0 or more", f.limit)
			}
			switch f.destination {
			case "", store.DestinationOho, store.DestinationOkeybot:
			default:
				return usagef("--destination %q: want oho or okeybot", f.destination)
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
			var dests []pushDestination
			if f.destination != store.DestinationOkeybot {
				dest, err := newOhoDestination(cfg, e.log, f.dryRun, nil)
				if err != nil {
					return err
				}
				dests = append(dests, pushDestination{dest, cfg.Oho.Concurrency})
			}
			if f.destination == store.DestinationOkeybot || f.destination == "" && len(cfg.Okeybot.Channels) > 0 {
				dest, err := newOkeybotDestination(cfg, e.log, nil)
				if err != nil {
					return err
				}
				dests = append(dests, pushDestination{dest, push.DefaultOkeybotConcurrency})
			}

			// A signal stops the run between contacts; the contacts in hand
			// get pushGrace to finish before their requests are cancelled.
			runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
			defer cancel()
			stopTimer := context.AfterFunc(ctx, func() { time.AfterFunc(pushGrace, cancel) })
			defer stopTimer()

			// Destinations are pushed one after the other; one that fails
			// does not keep the next from running (they are separate services).
			var first error
			for _, pd := range dests {
				dest := pd.dest
				o := push.Options{
					Store:       st,
					Log:         e.log,
					DryRun:      f.dryRun,
					Limit:       f.limit,
					Full:        f.full,
					Concurrency: pd.concurrency,
					Stopping:    func() bool { return ctx.Err() != nil },
				}
				var werr error
				if f.dryRun {
					o.ReportFunc = func(r push.ContactReport) {
						if werr == nil {
							werr = push.WriteReport(e.stdout, r)
						}
					}
				}
				res, err := push.Run(runCtx, dest, o)
				if serr := push.WriteSummary(e.stdout, res, f.dryRun); werr == nil {
					werr = serr
				}
				switch {
				case errors.Is(err, push.ErrStopped):
					return fmt.Errorf("push %s: %w", dest.Name(), context.Canceled)
				case err != nil:
				case werr != nil:
					err = werr
				case res.Failed > 0:
					err = failedRunError{fmt.Sprintf("push %s: %d targets failed and will be retried by the next run", dest.Name(), res.Failed)}
				}
				if err != nil && first == nil {
					first = err
				}
			}
			return first
		},
	}
}

// pushDestination is one destination crmsync push runs, with the number of
// contacts it pushes at once.
type pushDestination struct {
	dest        push.Destination
	concurrency int
}

// newOhoDestination builds the Oho destination from the configuration: the
// Oho client under the account's rate limit (oho.rate_per_second), the LINE
// client under line.rate_per_second, and the LINE channel tokens. A dry run
// needs no Oho API key: it sends Oho nothing.
func newOhoDestination(cfg *config.Config, log logrus.FieldLogger, dryRun bool, observer func(apiclient.RequestInfo)) (*push.Oho, error) {
	key := cfg.Oho.APIKey
	if key == "" {
		if !dryRun {
			return nil, usagef("no Oho API key: set OHO_API_KEY (or run with --dry-run)")
		}
		key = "dry-run-sends-nothing"
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
	mp, err := mapping.New(mappingOptions(cfg))
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %w", cfg.Path, config.ErrInvalid, err)
	}
	return push.NewOho(push.OhoConfig{Client: oc, Line: lc, LineTokens: tokens, Mapper: mp})
}

// mappingOptions returns the mapping settings of the configuration
// (jobs.yaml "mapping:", validated when the file was loaded).
func mappingOptions(cfg *config.Config) mapping.Options {
	return cfg.Mapping
}

// newOkeybotDestination builds the Okeybot destination from the
// configuration: one client whose limiter per channel token paces at
// okeybot.rate_per_minute (handles of one token share it), and the channels
// with their sources, lookup fields and Viber flags. A dry run sends Okeybot
// nothing, not even a lookup.
func newOkeybotDestination(cfg *config.Config, log logrus.FieldLogger, observer func(apiclient.RequestInfo)) (*push.Okeybot, error) {
	if len(cfg.Okeybot.Channels) == 0 {
		return nil, usagef("no Okeybot channel: add okeybot.channels to %s", cfg.Path)
	}
	oc, err := okeybot.New(okeybot.Config{
		BaseURL:       cfg.Okeybot.BaseURL,
		RatePerMinute: cfg.Okeybot.RatePerMinute,
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
	mp, err := mapping.New(mappingOptions(cfg))
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %w", cfg.Path, config.ErrInvalid, err)
	}
	d, err := push.NewOkeybot(push.OkeybotConfig{Client: oc, Channels: chans, Mapper: mp})
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %w", cfg.Path, config.ErrInvalid, err)
	}
	return d, nil
}
