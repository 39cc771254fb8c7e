package pull

import (
	"os"
	"testing"

	"crmsync/store/storetest"
)

// TestMain runs the tests against a throwaway PostgreSQL (storetest) and
// then checks that no goroutine outlived them.
func TestMain(m *testing.M) { os.Exit(storetest.RunCheckingLeaks(m)) }
