package artifacts

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func finishedRecord() *Record {
	code := 1
	start := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	end := start.Add(95 * time.Second)
	return &Record{
		JobName: "iris-1", Status: StatusFailed, ExitCode: &code, FailureReason: "bad input\nline 2",
		CreatedAt: start, StartedAt: &start, EndedAt: &end, FinalMetrics: map[string]float64{"loss": 0.25, "acc": 0.9},
		Upload: &UploadRecord{URI: "s3://b/runs/iris-1/"},
	}
}

func TestNotifyPostsSlackTextAndFields(t *testing.T) {
	var got map[string]any
	var calls atomic.Int32
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			http.Error(w, "try again", http.StatusBadGateway) // one retry covers it
			return
		}
		if r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("Content-Type %q", r.Header.Get("Content-Type"))
		}
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &got); err != nil {
			t.Error(err)
		}
	}))
	defer hook.Close()
	if err := Notify(testCtx(t), hook.URL+"/services/T000/B000/secret", EventFor(finishedRecord(), "/runs/iris-1")); err != nil {
		t.Fatal(err)
	}
	text, _ := got["text"].(string)
	for _, want := range []string{"iris-1 failed after 1m35s", "exit code 1", "bad input line 2", "acc=0.9 loss=0.25", "s3://b/runs/iris-1/"} {
		if !strings.Contains(text, want) {
			t.Errorf("text %q lacks %q", text, want)
		}
	}
	if got["job_name"] != "iris-1" || got["status"] != "Failed" || got["exit_code"] != 1.0 ||
		got["duration_seconds"] != 95.0 || got["uri"] != "s3://b/runs/iris-1/" || got["run_dir"] != "/runs/iris-1" {
		t.Errorf("fields: %v", got)
	}
	if m, _ := got["final_metrics"].(map[string]any); m["loss"] != 0.25 {
		t.Errorf("final_metrics: %v", got["final_metrics"])
	}
}

func TestNotifyErrorsHideTheSecretAndDoNotRetry4xx(t *testing.T) {
	var calls atomic.Int32
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		http.Error(w, "no such hook", http.StatusNotFound)
	}))
	defer hook.Close()
	err := Notify(testCtx(t), hook.URL+"/hooks/secret-token?key=secret", EventFor(finishedRecord(), ""))
	if err == nil || strings.Contains(err.Error(), "secret") || !strings.Contains(err.Error(), "404") {
		t.Errorf("err = %v", err)
	}
	if calls.Load() != 1 {
		t.Errorf("a 404 was tried %d times", calls.Load())
	}
	hook.Close()
	err = Notify(testCtx(t), hook.URL+"/hooks/secret-token", EventFor(finishedRecord(), ""))
	if err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("unreachable hook: err = %v", err)
	}
	if err := Notify(testCtx(t), "http://%zz/secret", NotifyEvent{}); err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("bad URL: err = %v", err)
	}
}
