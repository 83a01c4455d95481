package transport

import "golang.org/x/sys/unix"

// socketReadable is called by syscall.RawConn.Read with the socket's
// descriptor: it reports whether a read would not block — data, the end
// of input or an error pending — asking poll(2) without waiting, which
// takes nothing from the socket (a MSG_PEEK read would consume a pending
// error such as ECONNRESET). false makes the runtime wait until the
// socket is readable and ask again.
func socketReadable(fd uintptr) bool {
	fds := [1]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	n, err := unix.Poll(fds[:], 0)
	return err != nil || n > 0
}
