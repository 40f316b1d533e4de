package extractor

import (
	"context"
	"fmt"
	"os"
	"testing"
)

// The test binary doubles as the worker: when started by a Pool with
// testWorkerEnv set, it serves the protocol (with the hostile test formats
// registered) instead of running tests, so no docvet binary is needed.
const testWorkerEnv = "DOCVET_EXTRACTOR_TEST_WORKER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(testWorkerEnv); mode != "" {
		opt := WorkerOptions{TestHooks: true, NoSelfLimit: mode == "nolimit"}
		if err := ServeWorker(context.Background(), os.Stdin, os.Stdout, opt); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// testPoolOptions returns options that spawn this test binary as worker.
func testPoolOptions(mode string) PoolOptions {
	return PoolOptions{
		Command: []string{os.Args[0], "-test.run=^$"},
		Env:     []string{testWorkerEnv + "=" + mode},
	}
}
