package server

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/collab"
)

// BenchmarkCollabEditors: 20 editors each make 10 edits a second in one
// cell for 5 s, over loopback WebSockets. Reported: from the push that was
// accepted to the change applied in each other editor (p50, p99), and to it
// applied in every other editor (the slowest receiver; p50, p99).
// Goal: p99 under 30 ms.
func BenchmarkCollabEditors(b *testing.B) {
	for _, dialect := range []string{"sqlite", "postgres"} {
		b.Run(dialect, func(b *testing.B) {
			for b.Loop() {
				benchEditors(b, dialect, 20, 10, 5*time.Second)
			}
		})
	}
}

func benchEditors(b *testing.B, dialect string, editors, perSecond int, dur time.Duration) {
	f := setupB(b, dialect)
	cell := firstCellB(b, f)
	url := f.wsURL("/w/acme/flows/hello/ws")
	var mu sync.Mutex
	recv := map[string][]time.Time{} // update key → when each other editor applied it
	eds := make([]*editor, editors)
	for i := range eds {
		e := newEditor(b, url, f.cookies["editor"], cell, fmt.Sprintf("b%02d", i))
		e.onRemote = func(key string, at time.Time) {
			mu.Lock()
			recv[key] = append(recv[key], at)
			mu.Unlock()
		}
		if err := e.connect(); err != nil {
			b.Fatal(err)
		}
		eds[i] = e
	}
	var wg sync.WaitGroup
	interval := time.Second / time.Duration(perSecond)
	for i, e := range eds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(i), 1))
			time.Sleep(time.Duration(r.IntN(int(interval))))
			tick := time.NewTicker(interval)
			defer tick.Stop()
			end := time.Now().Add(dur)
			for now := range tick.C {
				if now.After(end) {
					return
				}
				e.edit(r)
			}
		}()
	}
	wg.Wait()
	deadline := time.Now().Add(30 * time.Second)
	ctx := context.Background()
	for {
		v, _, _ := f.srv.collab.Doc(ctx, f.flow.ID, cell)
		done := true
		for _, e := range eds {
			if !e.settled(v) {
				done = false
			}
		}
		if done || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	var each, all []time.Duration
	for _, e := range eds {
		e.mu.Lock()
		for key, sent := range e.sent {
			mu.Lock()
			got := recv[key]
			mu.Unlock()
			if len(got) != editors-1 {
				continue // superseded by a rebased push
			}
			worst := time.Duration(0)
			for _, at := range got {
				d := at.Sub(sent)
				each = append(each, d)
				worst = max(worst, d)
			}
			all = append(all, worst)
		}
		e.mu.Unlock()
		e.drop()
	}
	v, _, _ := f.srv.collab.Doc(ctx, f.flow.ID, cell)
	pct := func(ds []time.Duration, p float64) float64 {
		if len(ds) == 0 {
			return 0
		}
		slices.Sort(ds)
		return float64(ds[int(float64(len(ds)-1)*p)].Microseconds()) / 1000
	}
	b.ReportMetric(pct(each, 0.5), "p50-ms")
	b.ReportMetric(pct(each, 0.99), "p99-ms")
	b.ReportMetric(pct(all, 0.5), "p50-all-ms")
	b.ReportMetric(pct(all, 0.99), "p99-all-ms")
	b.ReportMetric(float64(v), "changes")
	b.ReportMetric(float64(len(all)), "measured")
}

// BenchmarkCollabMemory: heap per open document (1 KiB of text, 100
// changes) and per connected, idle editor.
func BenchmarkCollabMemory(b *testing.B) {
	for b.Loop() {
		f := setupB(b, testDB)
		ctx := context.Background()
		heap := func() uint64 {
			runtime.GC()
			runtime.GC()
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			return m.HeapAlloc
		}
		const docs = 500
		ids := make([]string, docs)
		for i := range ids {
			id, err := f.st.InsertCell(ctx, f.flow.ID, 0, cellNamed(fmt.Sprintf("m%d", i), 1024), "")
			if err != nil {
				b.Fatal(err)
			}
			ids[i] = id
		}
		a := collab.NewAuthority(f.st, collab.Options{})
		before := heap()
		for _, id := range ids {
			v, text, err := a.Doc(ctx, f.flow.ID, id)
			if err != nil {
				b.Fatal(err)
			}
			for k := range 100 {
				cs, _ := collab.Replace(len(collab.TextOf(text)), k, k, collab.TextOf("x"))
				text += "x"
				if _, err := a.Push(ctx, f.flow.ID, id, "", v+k, []collab.Update{{Changes: cs, ClientID: "k"}}); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(heap()-before)/docs/1024, "KiB/doc")
		runtime.KeepAlive(a)

		cell := firstCellB(b, f)
		url := f.wsURL("/w/acme/flows/hello/ws")
		const n = 100
		eds := make([]*editor, n)
		before = heap()
		for i := range eds {
			eds[i] = newEditor(b, url, f.cookies["editor"], cell, fmt.Sprint("m", i))
			if err := eds[i].connect(); err != nil {
				b.Fatal(err)
			}
		}
		// The heap holds both ends here; the client side is small (one
		// text, one connection), so this bounds the server's share.
		b.ReportMetric(float64(heap()-before)/n/1024, "KiB/editor")
		for _, e := range eds {
			e.drop()
		}
	}
}

func setupB(b *testing.B, dialect string) *fixture { return setup(b, dialect) }

func firstCellB(b *testing.B, f *fixture) string { return firstCell(b, f) }

func cellNamed(name string, size int) engine.Cell {
	src := make([]byte, size)
	for i := range src {
		src[i] = 'a' + byte(i%26)
	}
	return engine.Cell{Name: name, Kind: engine.KindShell, File: name + ".sh", Source: string(src)}
}
