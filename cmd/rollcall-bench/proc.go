package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Linux's /proc gives the figures: peak memory, and CPU time of the server,
// of this process and of the whole machine, so a slow run shows whether the
// machine was busy with something else.

// clockTick is the unit of CPU times in /proc (USER_HZ, 100 on Linux).
const clockTick = 10 * time.Millisecond

// peakRSS is a process's peak resident set size (VmHWM), in bytes.
func peakRSS(pid int) (int64, error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmHWM in /proc/PID/status")
}

// processCPU is the CPU time (user + system) a process has used.
func processCPU(pid int) (time.Duration, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, field 2, is in parentheses and may hold spaces.
	end := bytes.LastIndexByte(stat, ')')
	if end < 0 {
		return 0, errors.New("malformed /proc/PID/stat")
	}
	f := strings.Fields(string(stat[end+1:])) // from field 3, the state
	if len(f) < 13 {
		return 0, errors.New("short /proc/PID/stat")
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(utime+stime) * clockTick, nil
}

// selfCPU is the CPU time this process has used.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuTimes is the machine's CPU time so far, busy and idle (iowait counted
// apart), summed over every CPU.
type cpuTimes struct {
	busy, idle, iowait time.Duration
	cpus               int
}

func machineCPU() (cpuTimes, error) {
	stat, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuTimes{}, err
	}
	var t cpuTimes
	for line := range strings.Lines(string(stat)) {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], "cpu") {
			continue
		}
		if f[0] != "cpu" {
			t.cpus++
			continue
		}
		// user nice system idle iowait irq softirq steal ...
		for i, v := range f[1:min(len(f), 9)] {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return cpuTimes{}, fmt.Errorf("/proc/stat: %w", err)
			}
			d := time.Duration(n) * clockTick
			switch i {
			case 3:
				t.idle += d
			case 4:
				t.iowait += d
			default:
				t.busy += d
			}
		}
	}
	return t, nil
}

// sub is the CPU time spent between u and t.
func (t cpuTimes) sub(u cpuTimes) cpuTimes {
	return cpuTimes{busy: t.busy - u.busy, idle: t.idle - u.idle, iowait: t.iowait - u.iowait, cpus: t.cpus}
}

// backendCPU samples, until the returned func is called, the CPU time of
// the PostgreSQL backends serving database db on this machine, and returns
// what they used meanwhile. A backend that exits loses at most its last
// interval.
func backendCPU(db string, every time.Duration) func() time.Duration {
	base, seen := map[int]time.Duration{}, map[int]time.Duration{}
	backend := map[int]bool{} // whether a pid serves db; a process keeps its command line
	look := func(first bool) {
		dirs, _ := os.ReadDir("/proc")
		for _, d := range dirs {
			pid, err := strconv.Atoi(d.Name())
			if err != nil {
				continue
			}
			is, known := backend[pid]
			if !known {
				// "postgres: USER DB HOST(PORT) STATE"
				cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
				is = err == nil && bytes.HasPrefix(cmdline, []byte("postgres: ")) && bytes.Contains(cmdline, []byte(" "+db+" "))
				backend[pid] = is
			}
			if !is {
				continue
			}
			if cpu, err := processCPU(pid); err == nil {
				seen[pid] = max(seen[pid], cpu)
				if first {
					base[pid] = cpu
				}
			}
		}
	}
	done, finished := make(chan struct{}), make(chan time.Duration)
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		look(true)
		for {
			select {
			case <-t.C:
				look(false)
			case <-done:
				look(false)
				var total time.Duration
				for pid, d := range seen {
					total += d - base[pid]
				}
				finished <- total
				return
			}
		}
	}()
	return func() time.Duration {
		close(done)
		return <-finished
	}
}
