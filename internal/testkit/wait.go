package testkit

import (
	"fmt"
	"testing"
	"time"
)

// Eventually and WaitFor re-check a condition after minPoll at first, the
// pause doubling up to maxPoll: quick conditions are seen quickly, slow ones
// (a management API) are not hammered.
const (
	minPoll = 5 * time.Millisecond
	maxPoll = 100 * time.Millisecond
)

// WaitFor polls cond (see minPoll) until it returns true with a nil
// error, and returns nil; or returns an error once timeout has passed. An
// error from cond does not stop the polling (a server may not answer yet);
// the last one is wrapped in the timeout error. cond is evaluated at least
// once, and once more at the deadline.
func WaitFor(timeout time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	var lastErr error
	pause := minPoll
	for {
		ok, err := cond()
		if ok && err == nil {
			return nil
		}
		if err != nil {
			lastErr = err
		}
		if time.Now().After(deadline) {
			if lastErr != nil {
				return fmt.Errorf("condition not met within %v (last error: %w)", timeout, lastErr)
			}
			return fmt.Errorf("condition not met within %v", timeout)
		}
		time.Sleep(pause) // polling a condition with a deadline
		pause = min(2*pause, maxPoll)
	}
}

// Eventually waits up to timeout for cond to return true and fails the
// test with "timed out after TIMEOUT waiting for WHAT" when it does not.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if err := WaitFor(timeout, func() (bool, error) { return cond(), nil }); err != nil {
		t.Fatalf("timed out after %v waiting for %s", timeout, what)
	}
}
