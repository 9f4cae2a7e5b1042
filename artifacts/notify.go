package artifacts

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

const (
	notifyTimeout = 10 * time.Second // per attempt
	notifyRetry   = time.Second      // before the one retry
)

// NotifyEvent is the JSON a webhook receives when a run ends: Slack's (and
// Mattermost's, Teams' incoming webhooks') "text", plus the run's facts for
// anything that reads fields.
type NotifyEvent struct {
	Text            string             `json:"text"`
	JobName         string             `json:"job_name"`
	Status          string             `json:"status"`
	ExitCode        *int               `json:"exit_code"`
	FailureReason   string             `json:"failure_reason,omitempty"`
	StopReason      string             `json:"stop_reason,omitempty"`
	RunDir          string             `json:"run_dir,omitempty"`
	URI             string             `json:"uri,omitempty"`
	DurationSeconds float64            `json:"duration_seconds"`
	FinalMetrics    map[string]float64 `json:"final_metrics,omitempty"`
}

// EventFor describes a finished run; runDir is its local directory ("" if
// none). Text is filled in by Notify when empty.
func EventFor(rec *Record, runDir string) NotifyEvent {
	ev := NotifyEvent{
		JobName: rec.JobName, Status: rec.Status, ExitCode: rec.ExitCode,
		FailureReason: rec.FailureReason, StopReason: rec.StopReason, RunDir: runDir,
		DurationSeconds: rec.Duration(time.Now()).Seconds(), FinalMetrics: rec.FinalMetrics,
	}
	if rec.Upload != nil {
		ev.URI = rec.Upload.URI
	}
	return ev
}

// Notify posts ev to a webhook, retrying once after a network error, a
// 5xx or a 429. Each attempt has 10 s. Errors never name the webhook's
// path or query, which hold its secret (Slack's hooks do): callers log
// them and carry on; a failed notification never fails a job.
func Notify(ctx context.Context, webhook string, ev NotifyEvent) error {
	if ev.Text == "" {
		ev.Text = ev.summary()
	}
	body, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	err = postOnce(ctx, webhook, body)
	if err != nil && retryable(err) {
		select {
		case <-time.After(notifyRetry):
			err = postOnce(ctx, webhook, body)
		case <-ctx.Done():
		}
	}
	if err != nil {
		return fmt.Errorf("notifying %s: %w", redactURL(webhook), err)
	}
	return nil
}

// statusError is a webhook's answer other than 2xx.
type statusError struct{ code int }

func (e statusError) Error() string {
	return fmt.Sprintf("the webhook answered %d %s", e.code, http.StatusText(e.code))
}

func retryable(err error) bool {
	var se statusError
	if errors.As(err, &se) {
		return se.code >= 500 || se.code == http.StatusTooManyRequests
	}
	return true // network errors and timeouts
}

func postOnce(ctx context.Context, webhook string, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, notifyTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, webhook, bytes.NewReader(body))
	if err != nil {
		return errors.New("not a valid URL") // the parse error would quote the URL
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			return ue.Err // without the URL
		}
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return statusError{resp.StatusCode}
	}
	return nil
}

// redactURL keeps a URL's scheme and host only.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "the webhook"
	}
	return u.Scheme + "://" + u.Host + "/…"
}

// summary is the one-line text a chat shows.
func (ev NotifyEvent) summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "jobrun: %s %s after %s", ev.JobName, strings.ToLower(ev.Status),
		(time.Duration(ev.DurationSeconds) * time.Second).String())
	if ev.ExitCode != nil {
		fmt.Fprintf(&b, " (exit code %d)", *ev.ExitCode)
	}
	if ev.FailureReason != "" {
		fmt.Fprintf(&b, ": %s", oneLine(ev.FailureReason, 300))
	}
	if len(ev.FinalMetrics) > 0 {
		b.WriteString(" — " + metricsText(ev.FinalMetrics))
	}
	if where := ev.URI; where != "" || ev.RunDir != "" {
		if where == "" {
			where = ev.RunDir
		}
		b.WriteString(" — " + where)
	}
	return b.String()
}

func metricsText(m map[string]float64) string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s=%g", n, m[n])
	}
	return strings.Join(parts, " ")
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
