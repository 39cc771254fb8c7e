package schedule_test

import (
	"os"
	"testing"

	"crmsync/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(storetest.RunCheckingLeaks(m)) }
