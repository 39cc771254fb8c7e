package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"crmsync/sandbox"
)

// sandboxFlags are the flags of crmsync sandbox.
type sandboxFlags struct {
	host        string
	ports       string
	seed        int64
	people      int
	faults      bool
	okeybotRate int
	writeConfig string
	state       string
}

func sandboxCommand() *command {
	return &command{
		name: "sandbox", summary: "Serve the sandbox APIs on loopback and print the environment to use them",
		setFlags: func(fs *flag.FlagSet) any {
			f := &sandboxFlags{}
			fp := sandbox.FixedPorts
			fs.StringVar(&f.host, "host", "127.0.0.1", "address to listen on")
			fs.StringVar(&f.ports, "ports", fmt.Sprintf("%d,%d,%d,%d", fp.Omnichat, fp.Oho, fp.Line, fp.Okeybot),
				"ports of Omnichat, Oho, LINE and Okeybot, comma-separated (0 picks a free port)")
			fs.Int64Var(&f.seed, "seed", sandbox.DefaultSeed, "seed of the generated dataset")
			fs.IntVar(&f.people, "people", sandbox.DefaultPeople, "people in the generated dataset")
			fs.BoolVar(&f.faults, "faults", true, "inject an occasional 5xx and a burst of 429s, as real APIs do")
			fs.IntVar(&f.okeybotRate, "okeybot-rate", 100, "Okeybot calls per minute per channel token (the vendor allows 100)")
			fs.StringVar(&f.writeConfig, "write-config", "", "write the sandbox's jobs.yaml to this file and go on")
			fs.StringVar(&f.state, "state", "", "keep what Oho and Okeybot hold in this file across restarts (default: forget)")
			return f
		},
		run: func(ctx context.Context, e *env, fs *flag.FlagSet, opts any) error {
			f := opts.(*sandboxFlags)
			if fs.NArg() > 0 {
				return usagef("unexpected argument %q", fs.Arg(0))
			}
			ports, err := parsePorts(f.ports)
			if err != nil {
				return err
			}
			if f.people <= 0 || f.okeybotRate <= 0 {
				return usagef("--people and --okeybot-rate must be positive")
			}
			if f.writeConfig != "" {
				if err := os.WriteFile(f.writeConfig, sandbox.ConfigYAML(), 0o644); err != nil {
					return fmt.Errorf("write config: %w", err)
				}
			}
			o := sandbox.StartOptions{Host: f.host, Ports: ports, OkeybotRatePerMinute: f.okeybotRate, StateFile: f.state, Log: e.log}
			if f.faults {
				o.Faults = sandbox.DefaultFaults
			}
			// The history ends before now by more than the pull's safety lag,
			// so a first run pulls all of it.
			end := time.Now().Add(-demoLag).Truncate(time.Minute)
			ds := sandbox.Generate(sandbox.Options{Seed: f.seed, People: f.people, End: end})
			sb, err := sandbox.Start(ctx, ds, o)
			if err != nil {
				return fmt.Errorf("%w (another sandbox running? pick other ports with --ports)", err)
			}
			printSandbox(e.stdout, sb, f)
			<-ctx.Done()
			err = sb.Close(context.WithoutCancel(ctx))
			fmt.Fprintln(e.stdout, "\nsandbox stopped; requests served:")
			for _, c := range sb.Counts() {
				fmt.Fprintf(e.stdout, "  %-9s %7s requests   %3d × 429   %3d × 5xx   %3d refused\n",
					c.API, commas(int64(c.Requests)), c.RateLimited(), c.ServerErrors(), c.Refused())
			}
			return err
		},
	}
}

// parsePorts reads "omnichat,oho,line,okeybot".
func parsePorts(s string) (sandbox.Ports, error) {
	parts := strings.Split(s, ",")
	if len(parts) != 4 {
		return sandbox.Ports{}, usagef("--ports %q: want four ports (Omnichat, Oho, LINE, Okeybot), e.g. 18081,18082,18083,18084", s)
	}
	var n [4]int
	for i, p := range parts {
		v, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || v < 0 || v > 65535 {
			return sandbox.Ports{}, usagef("--ports: %q is not a port", p)
		}
		n[i] = v
	}
	return sandbox.Ports{Omnichat: n[0], Oho: n[1], Line: n[2], Okeybot: n[3]}, nil
}

// printSandbox tells the user what runs and how to point crmsync at it.
func printSandbox(w io.Writer, sb *sandbox.Sandbox, f *sandboxFlags) {
	st := sb.Dataset.Stats()
	fmt.Fprintf(w, "Sandbox APIs (Omnichat, Oho, LINE, Okeybot) on %s, seeded with %s people, %s identities on %d channels and %s messages (seed %d).\n",
		f.host, commas(int64(st.People)), commas(int64(st.Identities)), len(sb.Dataset.Channels), commas(int64(st.Messages)), f.seed)
	faults := "no faults injected"
	if f.faults {
		faults = "an occasional 5xx and one burst of 429s are injected (--faults=false to stop them)"
	}
	fmt.Fprintf(w, "Okeybot allows %d calls/min per token here; %s.\n\n", f.okeybotRate, faults)
	fmt.Fprintln(w, "Point crmsync at them (these credentials open nothing but the sandbox):")
	fmt.Fprintln(w)
	env := sb.Env()
	for _, k := range sb.EnvNames() {
		fmt.Fprintf(w, "export %s=%s\n", k, env[k])
	}
	cfg := f.writeConfig
	if cfg == "" {
		cfg = sandbox.ConfigName
		fmt.Fprintf(w, "\nThe sandbox's own configuration is written by --write-config %s.", cfg)
	} else {
		fmt.Fprintf(w, "\nWrote the sandbox's configuration to %s.", cfg)
	}
	fmt.Fprintf(w, " Then, in another shell with those variables and DATABASE_URL set:\n\n  crmsync migrate && crmsync --config %s run demo\n\n", cfg)
	fmt.Fprintln(w, "Your own jobs.yaml works too: its LINE and Okeybot tokens are among the variables above.")
	fmt.Fprintln(w, "Press Ctrl-C to stop.")
}
