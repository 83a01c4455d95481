package transport

import "syscall"

// socketReadable is called by syscall.RawConn.Read with the socket's
// descriptor: it reports whether a read would not block, peeking at one
// byte without taking it. false makes the runtime wait until the socket
// is readable and ask again.
func socketReadable(fd uintptr) bool {
	var b [1]byte
	_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	return err != syscall.EAGAIN
}
