package testkit

import (
	"fmt"
	"io"
	"net/http"
	"time"
)

// okClient bounds each request WaitOK makes.
var okClient = &http.Client{Timeout: 2 * time.Second}

// WaitOK polls url (see WaitFor) until it answers 200 and returns nil, or
// returns an error once timeout has passed. alive, when not nil, is
// checked before each request: its error (the server's process exited)
// ends the wait at once.
func WaitOK(url string, timeout time.Duration, alive func() error) error {
	var dead error
	err := WaitFor(timeout, func() (bool, error) {
		if alive != nil {
			if dead = alive(); dead != nil {
				return true, nil
			}
		}
		resp, err := okClient.Get(url)
		if err != nil {
			return false, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return false, fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		return true, nil
	})
	if dead != nil {
		return dead
	}
	return err
}
