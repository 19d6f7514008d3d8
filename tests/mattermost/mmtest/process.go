package mmtest

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Process is a running process below the server (a plugin, or something a plugin started).
type Process struct {
	PID     int
	Cmdline []string
}

// Descendants lists the processes whose ancestor is the server process, read from /proc.
// Deactivating a plugin must leave none of its processes here.
func (s *Server) Descendants() ([]Process, error) {
	root := s.PID()
	if root == 0 {
		return nil, nil
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	parent := map[int]int{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // gone meanwhile
		}
		// Fields after the command name, which is in parentheses and may contain spaces.
		i := strings.LastIndexByte(string(stat), ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(string(stat[i+1:]))
		if len(fields) < 2 || fields[0] == "Z" { // zombies are not running
			continue
		}
		ppid, _ := strconv.Atoi(fields[1])
		parent[pid] = ppid
	}
	var out []Process
	for pid := range parent {
		for p, hops := parent[pid], 0; p != 0 && hops < 64; p, hops = parent[p], hops+1 {
			if p == root {
				cmd, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
				out = append(out, Process{PID: pid, Cmdline: strings.Split(strings.TrimRight(string(cmd), "\x00"), "\x00")})
				break
			}
		}
	}
	return out, nil
}
