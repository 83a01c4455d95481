package bench

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"time"
)

// clockTick is the unit of /proc/<pid>/stat's CPU times: USER_HZ, which
// Linux fixes at 100 for what it shows user space.
const clockTick = 10 * time.Millisecond

// ReadCPU returns the CPU time (user and system) a process has used so
// far, from /proc/<pid>/stat.
func ReadCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	return parseStatCPU(b)
}

// parseStatCPU reads utime and stime (fields 14 and 15) of a
// /proc/<pid>/stat line; the command name (field 2) may hold spaces and
// parentheses, so fields are counted after its last ')'.
func parseStatCPU(b []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc stat: no command name in %q", trim(b))
	}
	f := bytes.Fields(b[i+1:]) // f[0] is field 3, the state
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc stat: %d fields after the command name", len(f))
	}
	utime, err1 := strconv.ParseInt(string(f[11]), 10, 64)
	stime, err2 := strconv.ParseInt(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc stat: utime %q, stime %q", f[11], f[12])
	}
	return time.Duration(utime+stime) * clockTick, nil
}

// cpuSample is the CPU time of the run's server and broker processes,
// and of the load tool itself, at one moment; ok is false when a server
// or broker process could not be read.
type cpuSample struct {
	at                   time.Time
	server, broker, tool time.Duration
	ok                   bool
}

// cpuNow reads the CPU time of the -pid and -broker-pid processes and of
// this one; not ok when there are no servers or brokers or one could not
// be read.
func (r *runner) cpuNow() cpuSample {
	s := cpuSample{at: time.Now(), ok: len(r.cfg.Pids)+len(r.cfg.BrokerPids) > 0}
	s.tool, _ = ReadCPU(os.Getpid())
	for _, pid := range r.cfg.Pids {
		d, err := ReadCPU(pid)
		s.server += d
		s.ok = s.ok && err == nil
	}
	for _, pid := range r.cfg.BrokerPids {
		d, err := ReadCPU(pid)
		s.broker += d
		s.ok = s.ok && err == nil
	}
	return s
}

// cores is the CPU used between two samples in cores (CPU seconds per
// second): servers, brokers and the load tool; zeros when either sample
// is not ok.
func cores(a, b cpuSample) (server, broker, tool float64) {
	wall := b.at.Sub(a.at).Seconds()
	if !a.ok || !b.ok || wall <= 0 {
		return 0, 0, 0
	}
	per := func(d time.Duration) float64 { return d.Seconds() / wall }
	return per(b.server - a.server), per(b.broker - a.broker), per(b.tool - a.tool)
}
