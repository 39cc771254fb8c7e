package main

import "flag"

// Commands whose stage is not built yet. Each says so plainly and exits 2;
// its flags are declared already so --help shows the contract.

func runCommand() *command {
	return &command{
		name: "run", args: "JOB...", summary: "Run the named jobs of jobs.yaml once, now",
		issue: "the pull, reconcile and push stages are being built",
	}
}

func backfillCommand() *command {
	return &command{
		name: "backfill", summary: "Pull a date range from Omnichat in windows of at most 7 days (resumable)",
		issue: "the pull stage is being built",
		setFlags: func(fs *flag.FlagSet) any {
			fs.String("from", "", "first day to pull, YYYY-MM-DD (inclusive)")
			fs.String("to", "", "last day to pull, YYYY-MM-DD (inclusive)")
			fs.String("streams", "contacts,tagging_logs,messages", "comma-separated streams to pull")
			return nil
		},
	}
}

func scheduleCommand() *command {
	return &command{
		name: "schedule", summary: "Run the jobs of jobs.yaml on their cron schedules until stopped",
		issue: "the scheduler is being built",
	}
}

func statusCommand() *command {
	return &command{
		name: "status", summary: "Show each job's last run, pending windows and recent rejections",
		issue: "the scheduler and operations views are being built",
	}
}
