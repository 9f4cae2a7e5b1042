package runner

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jobrun/jobrun/spec"
)

func TestLogSinkExtractsMetricsAcrossChunks(t *testing.T) {
	var log, metrics, term bytes.Buffer
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	sink, err := newLogSink(&log, &metrics, []spec.Metric{
		{Name: "loss", Regex: `loss=([0-9.e+-]+)`},
		{Name: "acc", Regex: `acc=([0-9.]+)`},
	}, func() time.Time { return at })
	if err != nil {
		t.Fatal(err)
	}
	w := sink.stream(&term).(*streamWriter)
	for _, chunk := range []string{"epoch=1 lo", "ss=0.5 acc=0.9\nepoch=2 loss=NaN\n", "loss=1e-3"} {
		w.Write([]byte(chunk))
	}
	w.flush()
	if term.String() != log.String() || !strings.HasSuffix(log.String(), "loss=1e-3") {
		t.Errorf("terminal %q and log %q should both get every byte", term.String(), log.String())
	}
	var got []metricPoint
	for _, line := range strings.Split(strings.TrimSpace(metrics.String()), "\n") {
		var p metricPoint
		if err := json.Unmarshal([]byte(line), &p); err != nil {
			t.Fatal(err)
		}
		got = append(got, p)
	}
	want := []metricPoint{{at, "loss", 0.5}, {at, "acc", 0.9}, {at, "loss", 0.001}}
	if len(got) != len(want) {
		t.Fatalf("metrics = %+v, want %+v", got, want)
	}
	for i := range want {
		if !got[i].Timestamp.Equal(want[i].Timestamp) || got[i].Name != want[i].Name || got[i].Value != want[i].Value {
			t.Errorf("metric %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if sink.final["loss"] != 0.001 || sink.final["acc"] != 0.9 {
		t.Errorf("final = %v", sink.final)
	}
}

func TestNumGPUs(t *testing.T) {
	tests := []struct {
		g    GPUs
		host int
		want int
	}{
		{GPUs{}, 8, 0}, {GPUs{All: true}, 8, 8}, {GPUs{Count: 2}, 8, 2}, {GPUs{Devices: []string{"0", "3"}}, 8, 2},
	}
	for _, tt := range tests {
		if got := numGPUs(tt.g, tt.host); got != tt.want {
			t.Errorf("numGPUs(%+v, %d) = %d, want %d", tt.g, tt.host, got, tt.want)
		}
	}
}

func TestByteProgressOnlyOnATerminal(t *testing.T) {
	var buf bytes.Buffer
	if ByteProgress(&buf, "x") != nil {
		t.Error("progress drawn into a buffer")
	}
	f, err := os.CreateTemp(t.TempDir(), "log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if ByteProgress(f, "x") != nil {
		t.Error("progress drawn into a file")
	}
}
