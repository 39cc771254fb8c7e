package main

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
)

// errDirtyTree is returned for a tree with changes no commit holds when the
// run is not marked unofficial.
var errDirtyTree = errors.New("the tree has changes no commit holds")

// checkTree decides whether a run on the tree in dir may go on, from `git
// status --porcelain` (untracked files count: they can change a build). A
// clean tree gives an official run. A dirty one is refused unless unofficial
// is set, in which case the run goes on and is marked unofficial. A tree
// whose state git cannot tell is treated as dirty.
func checkTree(ctx context.Context, dir string, unofficial bool) (official bool, err error) {
	cmd := exec.CommandContext(ctx, "git", "status", "--porcelain")
	cmd.Dir = dir
	out, err := cmd.Output()
	var changes []string
	switch {
	case err != nil:
		changes = []string{"(git status --porcelain failed: " + strings.TrimSpace(err.Error()) + ")"}
	default:
		changes = strings.Split(strings.TrimRight(string(out), "\n"), "\n")
		if len(out) == 0 {
			return true, nil
		}
	}
	if unofficial {
		return false, nil
	}
	const show = 5
	more := ""
	if len(changes) > show {
		more = fmt.Sprintf(" and %d more", len(changes)-show)
		changes = changes[:show]
	}
	return false, fmt.Errorf("%w (%s%s): commit them and run again, or set BENCH_UNOFFICIAL=1 to mark the report unofficial",
		errDirtyTree, strings.Join(changes, "; "), more)
}
