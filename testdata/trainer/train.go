package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"time"
)

// state is the model being trained, and the checkpoint's contents.
type state struct {
	Epoch   int       `json:"epoch"` // epochs completed
	Weights []float64 `json:"weights"`
	Bias    float64   `json:"bias"`
}

// epochMetrics are one epoch's results, as printed and in metrics.json.
type epochMetrics struct {
	Epoch    int     `json:"epoch"`
	Loss     float64 `json:"loss"`
	Accuracy float64 `json:"accuracy"`
}

// train runs the epochs from the checkpoint (if any) to p.epochs, then writes
// the model, metrics.json and the success file.
func (t *trainer) train(p params, c config) error {
	src, err := t.openChannel(p.channel, c)
	if err != nil {
		return err
	}
	ckpt := filepath.Join(t.checkpointDir(c), "checkpoint.json")
	st, err := loadCheckpoint(ckpt)
	if err != nil {
		return err
	}
	history, err := t.epochs(p, src, st, ckpt)
	if err != nil {
		return err
	}
	return t.finish(p, src, st, history)
}

func loadCheckpoint(path string) (*state, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		logf("no checkpoint at %s: starting from scratch", path)
		return &state{}, nil
	}
	if err != nil {
		return nil, err
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil || st.Epoch < 0 {
		return nil, badInput("checkpoint %s is not valid: %v", path, err)
	}
	fmt.Printf("resumed from epoch %d\n", st.Epoch)
	return &st, nil
}

// epochs trains up to p.epochs, checkpointing after each epoch. On SIGTERM
// it saves a checkpoint and returns an exit-143 error.
func (t *trainer) epochs(p params, src source, st *state, ckpt string) ([]epochMetrics, error) {
	var history []epochMetrics
	for pass := 0; st.Epoch < p.epochs; pass++ {
		if t.sleep(p.sleep) {
			return history, t.stop(st, ckpt)
		}
		data, stopped, err := t.await(func() (*dataset, error) { return src.pass(pass) })
		if stopped {
			return history, t.stop(st, ckpt)
		}
		if err != nil {
			return history, err
		}
		m, err := step(st, data, p.lr)
		if err != nil {
			return history, err
		}
		history = append(history, m)
		fmt.Printf("epoch=%d loss=%.6f accuracy=%.4f\n", m.Epoch, m.Loss, m.Accuracy)
		if err := writeJSONAtomic(ckpt, st); err != nil {
			return history, err
		}
		if t.terminated() {
			return history, t.stop(st, ckpt)
		}
	}
	return history, nil
}

// sleep waits d, or until SIGTERM; it reports whether SIGTERM came.
func (t *trainer) sleep(d time.Duration) bool {
	if d <= 0 {
		return t.terminated()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return false
	case <-t.sigs:
		return true
	}
}

// await runs load (which may block opening a FIFO) while watching for SIGTERM.
func (t *trainer) await(load func() (*dataset, error)) (*dataset, bool, error) {
	type result struct {
		data *dataset
		err  error
	}
	done := make(chan result, 1)
	go func() {
		d, err := load()
		done <- result{d, err}
	}()
	select {
	case r := <-done:
		return r.data, false, r.err
	case <-t.sigs:
		return nil, true, nil
	}
}

func (t *trainer) terminated() bool {
	select {
	case <-t.sigs:
		return true
	default:
		return false
	}
}

// stop saves a checkpoint of the epochs completed so far, for a SIGTERM.
func (t *trainer) stop(st *state, ckpt string) error {
	if err := writeJSONAtomic(ckpt, st); err != nil {
		return err
	}
	fmt.Printf("SIGTERM received, checkpoint saved at epoch %d\n", st.Epoch)
	return &exitError{code: exitSIGTERM, reason: fmt.Sprintf("stopped by SIGTERM after epoch %d", st.Epoch)}
}

// step does one epoch of batch gradient descent on the logistic loss.
func step(st *state, d *dataset, lr float64) (epochMetrics, error) {
	if st.Weights == nil {
		st.Weights = make([]float64, d.features())
	}
	if len(st.Weights) != d.features() {
		return epochMetrics{}, badInput("the checkpoint has %d weights but the data has %d features",
			len(st.Weights), d.features())
	}
	gw := make([]float64, len(st.Weights))
	gb := 0.0
	n := float64(len(d.y))
	for i, x := range d.x {
		e := predict(st, x) - d.y[i]
		for j, v := range x {
			gw[j] += e * v / n
		}
		gb += e / n
	}
	for j := range st.Weights {
		st.Weights[j] -= lr * gw[j]
	}
	st.Bias -= lr * gb
	st.Epoch++
	loss, acc := evaluate(st, d)
	return epochMetrics{Epoch: st.Epoch, Loss: loss, Accuracy: acc}, nil
}

func predict(st *state, x []float64) float64 {
	z := st.Bias
	for j, v := range x {
		z += st.Weights[j] * v
	}
	return 1 / (1 + math.Exp(-z))
}

// evaluate returns the mean cross-entropy loss and the accuracy.
func evaluate(st *state, d *dataset) (loss, accuracy float64) {
	const eps = 1e-12
	correct := 0
	for i, x := range d.x {
		p := math.Min(math.Max(predict(st, x), eps), 1-eps)
		loss -= d.y[i]*math.Log(p) + (1-d.y[i])*math.Log(1-p)
		if (p >= 0.5) == (d.y[i] == 1) {
			correct++
		}
	}
	n := float64(len(d.y))
	return loss / n, float64(correct) / n
}

// finish writes model.json, metrics.json and the empty success file that the
// SageMaker training toolkit writes on success.
func (t *trainer) finish(p params, src source, st *state, history []epochMetrics) error {
	final := lastMetrics(src, st, history)
	model := map[string]any{
		"weights": st.Weights, "bias": st.Bias, "features": len(st.Weights),
		"epochs": st.Epoch, "final_loss": final.Loss, "final_accuracy": final.Accuracy,
	}
	if err := writeJSONAtomic(filepath.Join(t.dirs.model(), "model.json"), model); err != nil {
		return err
	}
	metrics := map[string]any{
		"epochs": st.Epoch, "final_loss": final.Loss, "final_accuracy": final.Accuracy,
		"history": history, "hyperparameters": map[string]any{"epochs": p.epochs, "lr": p.lr},
	}
	if err := writeJSONAtomic(filepath.Join(t.dirs.outputData(), "metrics.json"), metrics); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(t.dirs.output(), "success"), nil, 0o644); err != nil {
		return err
	}
	logf("done: %d epochs, loss %.6f, accuracy %.4f; model in %s", st.Epoch, final.Loss, final.Accuracy, t.dirs.model())
	return nil
}

// lastMetrics are the last epoch's metrics, or, when the checkpoint already
// held every epoch, the model's metrics on File-mode data (zero for Pipe).
func lastMetrics(src source, st *state, history []epochMetrics) epochMetrics {
	if len(history) > 0 {
		return history[len(history)-1]
	}
	file, ok := src.(fileSource)
	if !ok || len(st.Weights) != file.data.features() {
		return epochMetrics{Epoch: st.Epoch}
	}
	loss, acc := evaluate(st, file.data)
	return epochMetrics{Epoch: st.Epoch, Loss: loss, Accuracy: acc}
}
