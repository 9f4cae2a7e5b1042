package spec

import (
	"reflect"
	"testing"
)

func TestGPURequest(t *testing.T) {
	tests := []struct {
		gpus    string
		all     bool
		count   int
		devices []string
	}{
		{"", false, 0, nil},
		{"all", true, 0, nil},
		{"3", false, 3, nil},
		{"device=1", false, 0, []string{"1"}},
		{"0,1", false, 0, []string{"0", "1"}},
		{"GPU-3a2c", false, 0, []string{"GPU-3a2c"}},
	}
	for _, tt := range tests {
		all, count, devices := Resources{GPUs: tt.gpus}.GPURequest()
		if all != tt.all || count != tt.count || !reflect.DeepEqual(devices, tt.devices) {
			t.Errorf("GPURequest(%q) = %v, %d, %q", tt.gpus, all, count, devices)
		}
		if msg := checkGPUs(tt.gpus); msg != "" {
			t.Errorf("checkGPUs(%q): %s", tt.gpus, msg)
		}
	}
}
