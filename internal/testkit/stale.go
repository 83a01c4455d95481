package testkit

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ownerFile is the file in a harness's temporary directory that names the
// test process using it.
const ownerFile = "owner.pid"

// unownedAge is how old a directory without an owner file must be before
// StaleDirs counts it as garbage: younger ones may belong to a test that
// has just created it.
const unownedAge = 10 * time.Minute

// WriteOwner records the calling test process as the owner of dir, a
// harness's temporary directory, for StaleDirs.
func WriteOwner(dir string) error {
	return os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644)
}

// StaleDirs returns the directories in os.TempDir() matching pattern (a
// filepath.Glob pattern) that a test process left behind when it died
// without cleaning up (a SIGKILLed go test): their owner process is gone,
// or, without an owner file, they are older than ten minutes. The harness
// that made them stops what still runs there and removes them.
func StaleDirs(pattern string) []string {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), pattern))
	var stale []string
	for _, dir := range dirs {
		owner, err := ReadPid(filepath.Join(dir, ownerFile))
		if err != nil {
			if st, err := os.Stat(dir); err != nil || time.Since(st.ModTime()) < unownedAge {
				continue
			}
		} else if Alive(owner) {
			continue // its test still runs
		}
		stale = append(stale, dir)
	}
	return stale
}

// ReadPid reads the process id written in file.
func ReadPid(file string) (int, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// Alive reports whether a process with this pid exists.
func Alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || err == syscall.EPERM
}
