package artifacts

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// group runs functions in goroutines; the first error cancels the others'
// context and is what Wait returns (errgroup's contract, without the
// dependency).
type group struct {
	wg     sync.WaitGroup
	cancel context.CancelFunc
	once   sync.Once
	err    error
}

func newGroup(ctx context.Context) (*group, context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	return &group{cancel: cancel}, ctx
}

func (g *group) Go(f func() error) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		if err := f(); err != nil {
			g.once.Do(func() {
				g.err = err
				g.cancel()
			})
		}
	}()
}

func (g *group) Wait() error {
	g.wg.Wait()
	g.cancel()
	return g.err
}

// forEach calls f(i) for i in [0, n) on up to workers goroutines and
// returns each call's error. One failure does not stop the others: an
// upload should get as much across as it can, so a resume has less left.
func forEach(ctx context.Context, workers, n int, f func(ctx context.Context, i int) error) []error {
	errs := make([]error, n)
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				errs[i] = f(ctx, i)
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return errs
}

// summarize turns per-item errors into one: the first, and how many more.
func summarize(what string, errs []error) error {
	var first error
	failed := 0
	for _, err := range errs {
		if err == nil {
			continue
		}
		failed++
		// The error that stopped the others says more than their
		// "context canceled".
		if first == nil || errors.Is(first, context.Canceled) && !errors.Is(err, context.Canceled) {
			first = err
		}
	}
	switch {
	case failed == 0:
		return nil
	case failed == 1:
		return first
	}
	return fmt.Errorf("%d of %d %s failed; the first: %w", failed, len(errs), what, first)
}
