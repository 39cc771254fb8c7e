package main

// Commands whose stage is not built yet. Each says so plainly and exits 2;
// its flags are declared already so --help shows the contract.

func runCommand() *command {
	return &command{
		name: "run", args: "JOB...", summary: "Run the named jobs of jobs.yaml once, now",
		issue: "the pull, reconcile and push stages are being built",
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
