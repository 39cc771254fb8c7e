package pull

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"

	"crmsync/store/storetest"
)

// TestMain runs the tests against a throwaway PostgreSQL (storetest) and
// then checks that no goroutine outlived them.
func TestMain(m *testing.M) {
	code := storetest.Run(m)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}
