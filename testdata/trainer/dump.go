package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// hostLookup is whether one name from resourceconfig.json resolves.
type hostLookup struct {
	Resolves bool     `json:"resolves"`
	Addrs    []string `json:"addrs,omitempty"`
	Error    string   `json:"error,omitempty"`
}

// dirListing says whether a directory exists and what it holds.
type dirListing struct {
	Exists bool        `json:"exists"`
	Files  []fileEntry `json:"files"`
}

type fileEntry struct {
	Path string `json:"path"` // relative, slash-separated
	Type string `json:"type"` // file, dir, symlink, fifo, other
	Size int64  `json:"size"`
}

type mount struct {
	MountPoint string `json:"mount_point"`
	Root       string `json:"root"`
	FSType     string `json:"fs_type"`
	Options    string `json:"options"`
}

// envDump is output/data/env.json: what the container saw.
type envDump struct {
	Argv            []string              `json:"argv"`
	Env             map[string]string     `json:"env"`
	Hostname        string                `json:"hostname"`
	UID             int                   `json:"uid"`
	GID             int                   `json:"gid"`
	PID             int                   `json:"pid"`
	Root            string                `json:"root"`
	Config          map[string]any        `json:"config"` // file name → JSON, or text if invalid
	Hosts           map[string]hostLookup `json:"hosts"`
	AllHostsResolve bool                  `json:"all_hosts_resolve"`
	Code            dirListing            `json:"code"`
	InputData       dirListing            `json:"input_data"`
	Mounts          []mount               `json:"mounts"`
}

// dumpEnv writes env.json; failing to is logged, not fatal.
func (t *trainer) dumpEnv(args []string, c config) {
	d := envDump{
		Argv: append([]string{os.Args[0]}, args...), Env: environ(),
		UID: os.Getuid(), GID: os.Getgid(), PID: os.Getpid(), Root: t.dirs.root,
		Config:    readConfigDir(t.dirs.configDir()),
		Code:      listDir(t.dirs.code()),
		InputData: listDir(filepath.Join(t.dirs.root, "input", "data")),
		Mounts:    mountsUnder(t.dirs.root),
	}
	d.Hostname, _ = os.Hostname()
	if c.resources != nil {
		d.Hosts, d.AllHostsResolve = lookupHosts(c.resources.Hosts)
	}
	path := filepath.Join(t.dirs.outputData(), "env.json")
	if err := writeJSONAtomic(path, d); err != nil {
		logf("dump_env: %v", err)
		return
	}
	logf("dump_env: wrote %s", path)
}

func environ() map[string]string {
	env := map[string]string{}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	return env
}

// readConfigDir returns every file in the config folder, as JSON if it parses.
func readConfigDir(dir string) map[string]any {
	out := map[string]any{}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		if json.Valid(b) {
			out[e.Name()] = json.RawMessage(b)
		} else {
			out[e.Name()] = string(b)
		}
	}
	return out
}

// lookupHosts resolves every host concurrently, as the toolkit requires.
func lookupHosts(hosts []string) (map[string]hostLookup, bool) {
	out := make(map[string]hostLookup, len(hosts))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, h := range hosts {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			addrs, err := net.DefaultResolver.LookupHost(ctx, h)
			r := hostLookup{Resolves: err == nil && len(addrs) > 0, Addrs: addrs}
			if err != nil {
				r.Error = err.Error()
			}
			mu.Lock()
			out[h] = r
			mu.Unlock()
		})
	}
	wg.Wait()
	all := true
	for _, r := range out {
		all = all && r.Resolves
	}
	return out, all
}

func listDir(dir string) dirListing {
	l := dirListing{Files: []fileEntry{}}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return l
	}
	l.Exists = true
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == dir {
			return nil
		}
		rel, _ := filepath.Rel(dir, path)
		e := fileEntry{Path: filepath.ToSlash(rel), Type: fileType(d.Type())}
		if info, err := d.Info(); err == nil && d.Type().IsRegular() {
			e.Size = info.Size()
		}
		l.Files = append(l.Files, e)
		return nil
	})
	return l
}

func fileType(m fs.FileMode) string {
	switch {
	case m.IsRegular():
		return "file"
	case m.IsDir():
		return "dir"
	case m&fs.ModeSymlink != 0:
		return "symlink"
	case m&fs.ModeNamedPipe != 0:
		return "fifo"
	default:
		return "other"
	}
}

// mountsUnder lists the mounts at or under root from /proc/self/mountinfo:
// "id parent maj:min root mountpoint options [optional...] - fstype source super".
func mountsUnder(root string) []mount {
	mounts := []mount{}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return mounts
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		sep := slices.Index(fields, "-")
		if len(fields) < 6 || sep < 0 || sep+1 >= len(fields) {
			continue
		}
		mp := fields[4]
		if mp == root || strings.HasPrefix(mp, root+"/") {
			mounts = append(mounts, mount{MountPoint: mp, Root: fields[3], FSType: fields[sep+1], Options: fields[5]})
		}
	}
	return mounts
}
