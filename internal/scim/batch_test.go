package scim

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestGrouperWritesWaitingTogether: a lone request is written at once; the
// requests arriving while a group is written form the next group, written
// by one of them; every request is answered.
func TestGrouperWritesWaitingTogether(t *testing.T) {
	t.Parallel()
	g := newGrouper()
	k := groupKey{key: 1}
	queued := make(chan struct{})
	g.queued = func(_ groupKey, waiting int) {
		if waiting == 3 {
			close(queued)
		}
	}
	var mu sync.Mutex
	var groups [][]string
	release := make(chan struct{})
	writing := make(chan struct{}, 10)
	write := func(_ context.Context, jobs []*provisionJob) {
		var names []string
		for _, j := range jobs {
			names = append(names, j.st.UserName)
		}
		mu.Lock()
		groups = append(groups, names)
		mu.Unlock()
		writing <- struct{}{}
		<-release
		for _, j := range jobs {
			j.err = nil
			close(j.done)
		}
	}
	job := func(name string) *provisionJob {
		return &provisionJob{ctx: context.Background(), st: userState{UserName: name}, done: make(chan struct{}), lead: make(chan struct{}, 1)}
	}
	var wg sync.WaitGroup
	first := job("first")
	wg.Go(func() { g.submit(k, first, write) })
	<-writing // the first is written alone, at once
	rest := []*provisionJob{job("a"), job("b"), job("c")}
	for _, j := range rest {
		wg.Go(func() { g.submit(k, j, write) })
	}
	<-queued // all three wait behind the first group
	close(release)
	wg.Wait()
	require.Len(t, groups, 2)
	require.Equal(t, []string{"first"}, groups[0])
	require.ElementsMatch(t, []string{"a", "b", "c"}, groups[1])
	for _, j := range append(rest, first) {
		select {
		case <-j.done:
		default:
			t.Fatalf("%s not answered", j.st.UserName)
		}
	}
	require.Empty(t, g.busy, "the key is idle again")
}
