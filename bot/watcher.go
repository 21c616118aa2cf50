package bot

import (
	"container/heap"
	"context"
	"sync"
	"time"
)

// watcher runs a check for each payment when it is due. It holds one entry
// per watched payment in a min-heap ordered by due time and sleeps on a single
// timer set to the earliest: with nothing due it spends no CPU, and 10,000
// watched payments cost a few hundred kilobytes. A due payment is checked by
// one of a fixed number of workers; the check reschedules it or not.
type watcher struct {
	check   func(ctx context.Context, id string)
	workers int

	mu    sync.Mutex
	queue dueHeap
	index map[string]*dueItem
	wake  chan struct{}
}

type dueItem struct {
	id  string
	at  time.Time
	pos int
}

type dueHeap []*dueItem

func (h dueHeap) Len() int           { return len(h) }
func (h dueHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h dueHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].pos = i
	h[j].pos = j
}
func (h *dueHeap) Push(x any) {
	it := x.(*dueItem)
	it.pos = len(*h)
	*h = append(*h, it)
}
func (h *dueHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	it.pos = -1
	return it
}

func newWatcher(check func(context.Context, string), workers int) *watcher {
	return &watcher{check: check, workers: workers, index: make(map[string]*dueItem), wake: make(chan struct{}, 1)}
}

// schedule (re)sets when id is next checked.
func (w *watcher) schedule(id string, at time.Time) {
	w.mu.Lock()
	if it, ok := w.index[id]; ok {
		it.at = at
		if it.pos >= 0 {
			heap.Fix(&w.queue, it.pos)
		} else {
			heap.Push(&w.queue, it) // being checked right now: due again at `at`
		}
	} else {
		it := &dueItem{id: id, at: at}
		w.index[id] = it
		heap.Push(&w.queue, it)
	}
	w.mu.Unlock()
	w.poke()
}

// remove stops watching id.
func (w *watcher) remove(id string) {
	w.mu.Lock()
	if it, ok := w.index[id]; ok {
		if it.pos >= 0 {
			heap.Remove(&w.queue, it.pos)
		}
		delete(w.index, id)
	}
	w.mu.Unlock()
}

// len is how many payments are watched.
func (w *watcher) len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.index)
}

func (w *watcher) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// run dispatches due payments until ctx ends.
func (w *watcher) run(ctx context.Context) {
	due := make(chan string)
	var wg sync.WaitGroup
	for range w.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range due {
				w.check(ctx, id)
				w.done(id)
			}
		}()
	}
	defer func() {
		close(due)
		wg.Wait()
	}()

	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		id, wait := w.next(time.Now())
		if id != "" {
			select {
			case due <- id:
				continue
			case <-ctx.Done():
				return
			}
		}
		timer.Reset(wait)
		select {
		case <-timer.C:
		case <-w.wake:
		case <-ctx.Done():
			return
		}
	}
}

// next pops a due payment, or says how long until one is due. A popped entry
// stays in the index (pos -1) so a schedule during its check re-queues it.
func (w *watcher) next(now time.Time) (string, time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.queue) == 0 {
		return "", time.Hour
	}
	if d := w.queue[0].at.Sub(now); d > 0 {
		return "", d
	}
	it := heap.Pop(&w.queue).(*dueItem)
	return it.id, 0
}

// done forgets a checked payment unless its check scheduled it again.
func (w *watcher) done(id string) {
	w.mu.Lock()
	if it, ok := w.index[id]; ok && it.pos < 0 {
		delete(w.index, id)
	}
	w.mu.Unlock()
}
