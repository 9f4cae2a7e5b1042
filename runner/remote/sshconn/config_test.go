package sshconn

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseTarget(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want target
		err  string
	}{
		{in: "ssh://gpu-box", want: target{host: "gpu-box"}},
		{in: "ssh://alice@gpu-box:2222", want: target{host: "gpu-box", user: "alice", port: 2222}},
		{in: "ssh://alice@[::1]:22", want: target{host: "::1", user: "alice", port: 22}},
		{in: "ssh://10.0.0.1/", want: target{host: "10.0.0.1"}},
		{in: "gpu-box", want: target{host: "gpu-box"}},
		{in: "bob@gpu-box", want: target{host: "gpu-box", user: "bob"}},
		{in: "", err: "empty SSH target"},
		{in: "http://gpu-box", err: `scheme "http"`},
		{in: "ssh://gpu-box:99999", err: "bad port"},
		{in: "ssh://gpu-box/path", err: "unexpected path"},
		{in: "ssh://alice:secret@gpu-box", err: "passwords are not supported"},
		{in: "ssh://", err: "no host"},
		{in: "-oProxyCommand=x", err: "not a host name"},
		{in: "alice@", err: "no host"},
	} {
		got, err := parseTarget(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("parseTarget(%q) = %+v, %v; want error containing %q", tc.in, got, err, tc.err)
			}
			if err != nil && strings.Contains(err.Error(), "secret") {
				t.Errorf("parseTarget(%q): error shows the password: %v", tc.in, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("parseTarget(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

func writeFile(t *testing.T, path, text string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestResolveConfig(t *testing.T) {
	home := t.TempDir()
	writeFile(t, filepath.Join(home, ".ssh", "config"), `
Host gpu-box
  HostName %h.example.com
  Port 2200
  User alice
  IdentityFile ~/.ssh/gpu_%r
  IdentityFile "/keys/with space"
  IdentitiesOnly yes
  ProxyJump bastion,carol@inner:2022
  StrictHostKeyChecking accept-new
  UserKnownHostsFile ~/.ssh/kh_%n /dev/null
  HostKeyAlias gpu
  ConnectTimeout 7
  ServerAliveInterval 2

# A block the parser cannot evaluate is ignored, not fatal.
Match exec "test -f /nonexistent" user root
  HostName never.example.com

Match host *.lab,*.lab2
  User lab-user

Host bastion
  User jump
  ProxyJump none

Host *
  User default-user
  ServerAliveCountMax 5
`)
	opts := DialOptions{Home: home}
	cfg, err := loadConfig(&opts, home)
	if err != nil {
		t.Fatal(err)
	}
	ep, err := resolve(target{host: "gpu-box"}, &opts, cfg, home)
	if err != nil {
		t.Fatal(err)
	}
	want := &Endpoint{
		Alias:                 "gpu-box",
		HostName:              "gpu-box.example.com",
		Port:                  2200,
		User:                  "alice",
		IdentityFiles:         []string{home + "/.ssh/gpu_alice", "/keys/with space"},
		IdentitiesOnly:        true,
		IdentityAgent:         os.Getenv("SSH_AUTH_SOCK"),
		ProxyJump:             []string{"bastion", "carol@inner:2022"},
		StrictHostKeyChecking: "accept-new",
		UserKnownHostsFiles:   []string{home + "/.ssh/kh_gpu-box", "/dev/null"},
		GlobalKnownHostsFiles: []string{"/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2"},
		HostKeyAlias:          "gpu",
		ConnectTimeout:        7e9,
		ServerAliveInterval:   2e9,
		ServerAliveCountMax:   5,
	}
	// /etc/ssh/ssh_config may set HashKnownHosts (Debian does).
	want.HashKnownHosts = ep.HashKnownHosts
	if !reflect.DeepEqual(ep, want) {
		t.Errorf("resolve(gpu-box) =\n%+v\nwant\n%+v", ep, want)
	}
	if got := ep.knownHostsName(); got != "gpu" {
		t.Errorf("knownHostsName = %q; want the HostKeyAlias", got)
	}

	// The target's user and port win over the config's.
	ep, err = resolve(target{host: "gpu-box", user: "root", port: 22}, &opts, cfg, home)
	if err != nil || ep.User != "root" || ep.Port != 22 || ep.IdentityFiles[0] != home+"/.ssh/gpu_root" {
		t.Errorf("explicit user and port: %+v, %v", ep, err)
	}
	// Match host with a comma list.
	if ep, _ = resolve(target{host: "a.lab2"}, &opts, cfg, home); ep.User != "lab-user" {
		t.Errorf("Match host a.lab2: User = %q", ep.User)
	}
	// An unknown host gets the defaults, and the default identity files.
	ep, err = resolve(target{host: "other"}, &opts, cfg, home)
	if err != nil || ep.HostName != "other" || ep.Port != 22 || ep.User != "default-user" ||
		ep.StrictHostKeyChecking != "ask" || !ep.defaultIdentities ||
		ep.IdentityFiles[0] != home+"/.ssh/id_rsa" || ep.UserKnownHostsFiles[0] != home+"/.ssh/known_hosts" {
		t.Errorf("resolve(other) = %+v, %v", ep, err)
	}
	if got := ep.knownHostsName(); got != "other" {
		t.Errorf("knownHostsName = %q; want other (port 22)", got)
	}
	ep, _ = resolve(target{host: "10.0.0.1", port: 2222}, &opts, cfg, home)
	if got := ep.knownHostsName(); got != "[10.0.0.1]:2222" {
		t.Errorf("knownHostsName = %q", got)
	}
}

func TestResolveConfigErrors(t *testing.T) {
	dir := t.TempDir()
	cfgPath := writeFile(t, filepath.Join(dir, "config"), "Host pc\n  ProxyCommand nc %h %p\nHost badport\n  Port http\n")
	for _, tc := range []struct{ target, err string }{
		{"pc", "ProxyCommand is not supported"},
		{"badport", "bad port"},
	} {
		_, err := Resolve(tc.target, DialOptions{ConfigFile: cfgPath, Home: dir})
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("Resolve(%s) error = %v; want %q", tc.target, err, tc.err)
		}
		if _, ok := err.(*ConfigError); !ok {
			t.Errorf("Resolve(%s) error is %T; want *ConfigError", tc.target, err)
		}
	}
	if _, err := Resolve("x", DialOptions{ConfigFile: filepath.Join(dir, "missing")}); err == nil {
		t.Error("a missing explicit ConfigFile is not an error")
	}
	ep, err := Resolve("ssh://u@h:1", DialOptions{ConfigFile: "none", Home: dir})
	if err != nil || ep.String() != "u@h:1" || ep.Addr() != "h:1" {
		t.Errorf("ConfigFile none: %+v, %v", ep, err)
	}
}

func TestQuote(t *testing.T) {
	for _, s := range []string{"plain/path.txt", "with space", "it's", `"dq" $HOME ; rm -rf / $(x) ` + "`y`", "-dash", "", "a\nb"} {
		out, err := exec.Command("/bin/sh", "-c", "printf %s "+Quote(s)).Output()
		if err != nil || string(out) != s {
			t.Errorf("sh printf %s = %q, %v; want %q", Quote(s), out, err, s)
		}
	}
	home, _ := os.UserHomeDir()
	out, err := exec.Command("/bin/sh", "-c", "printf %s "+Quote("~/a b")).Output()
	if err != nil || string(out) != home+"/a b" {
		t.Errorf("~/a b = %q, %v", out, err)
	}
}

func TestGOARCH(t *testing.T) {
	for in, want := range map[string]string{"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386", "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"} {
		if got, err := GOARCH(in); got != want || err != nil {
			t.Errorf("GOARCH(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := GOARCH("vax"); err == nil {
		t.Error("GOARCH(vax) is not an error")
	}
}

func TestExpandTokens(t *testing.T) {
	tk := tokens{home: "/h", localUser: "me", alias: "box", host: "box.lan", user: "root", port: 2222}
	if got := tk.expand("~/.ssh/%r@%h:%p-%n-%u-%d-%%-%x"); got != "/h/.ssh/root@box.lan:2222-box-me-/h-%-%x" {
		t.Errorf("expand = %q", got)
	}
}
