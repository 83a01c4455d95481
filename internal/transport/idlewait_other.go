//go:build !linux

package transport

// socketReadable reports every socket readable where the poll(2) check
// is not implemented: the reader then waits inside gorilla's NextReader.
func socketReadable(fd uintptr) bool { return true }
