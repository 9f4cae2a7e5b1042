package sshconn_test

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"testing"

	"github.com/jobrun/jobrun/internal/sshtest"
	"github.com/jobrun/jobrun/runner/remote/sshconn"
)

// go test -run '^$' -bench . ./runner/remote/sshconn

func BenchmarkDial(b *testing.B) {
	srv := sshtest.Start(b)
	opts := benchOptions(b, srv)
	for b.Loop() {
		c, err := sshconn.Dial(context.Background(), srv.Target(), opts)
		if err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}

func BenchmarkRun(b *testing.B) {
	srv := sshtest.Start(b)
	c, err := sshconn.Dial(context.Background(), srv.Target(), benchOptions(b, srv))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	for b.Loop() {
		if code, err := c.Run(context.Background(), "true", nil, nil, nil); code != 0 || err != nil {
			b.Fatal(code, err)
		}
	}
}

func BenchmarkUpload20MiB(b *testing.B) {
	srv := sshtest.Start(b)
	c, err := sshconn.Dial(context.Background(), srv.Target(), benchOptions(b, srv))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	data := make([]byte, 20<<20)
	dst := b.TempDir() + "/f"
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if err := c.Upload(context.Background(), bytes.NewReader(data), dst, 0o600); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDockerPing is one Docker API request over a forwarded socket
// (a new channel per request, as without keep-alive).
func BenchmarkDockerPing(b *testing.B) {
	if _, err := os.Stat("/var/run/docker.sock"); err != nil {
		b.Skip("no Docker socket")
	}
	srv := sshtest.Start(b)
	c, err := sshconn.Dial(context.Background(), srv.Target(), benchOptions(b, srv))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	client := httpOver(c.DialUnix, "/var/run/docker.sock")
	client.Transport.(*http.Transport).DisableKeepAlives = true
	for b.Loop() {
		resp, err := client.Get("http://docker/_ping")
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
	}
}

func benchOptions(b *testing.B, srv *sshtest.Server) sshconn.DialOptions {
	kh := b.TempDir() + "/known_hosts"
	os.WriteFile(kh, []byte(srv.KnownHostsLine()+"\n"), 0o600)
	return sshconn.DialOptions{ConfigFile: "none", Home: b.TempDir(), KnownHostsFiles: []string{kh},
		IdentityFiles: []string{srv.ClientKeyPath}, DisableAgent: true}
}
