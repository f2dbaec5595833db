package store

import (
	"context"
	"testing"
	"time"
)

// TestPostgresChannelsPerSchema: LISTEN/NOTIFY reaches a whole database,
// so a store's notifications carry its schema: a second process on the same
// schema hears them, a store on another schema of the same database (another
// studio, a parallel test) does not.
func TestPostgresChannelsPerSchema(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, b := openPostgres(t), openPostgres(t)
	a2, err := Open(ctx, Config{DB: a.dsn, Logger: testLogger()})
	ok(t, err)
	t.Cleanup(func() { a2.Close() })
	if a.Channel(ChannelFlow) == b.Channel(ChannelFlow) || a.Channel(ChannelFlow) != a2.Channel(ChannelFlow) {
		t.Fatalf("channels %q, %q, %q", a.Channel(ChannelFlow), b.Channel(ChannelFlow), a2.Channel(ChannelFlow))
	}
	heard := map[*Store]chan Notice{a2: make(chan Notice, 8), b: make(chan Notice, 8)}
	for s, ch := range heard {
		ready := make(chan struct{})
		go s.Listen(ctx, []string{ChannelFlow, ChannelCred}, func() { close(ready) }, func(n Notice) { ch <- n })
		<-ready
	}
	ok(t, a.Notify(ctx, ChannelFlow, "f_1"))
	select {
	case n := <-heard[a2]:
		if n.Channel != ChannelFlow || n.Payload != "f_1" {
			t.Fatalf("heard %+v; want %s f_1", n, ChannelFlow)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the store on the same schema did not hear the notification")
	}
	// b hears its own notification, and only that.
	ok(t, b.Notify(ctx, ChannelCred, "mine"))
	select {
	case n := <-heard[b]:
		if n.Channel != ChannelCred || n.Payload != "mine" {
			t.Fatalf("the store on another schema heard %+v", n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the other store did not hear its own notification")
	}
	if long := (&Store{schema: string(make([]byte, 80))}).Channel(ChannelPresence); len(long) > 63 {
		t.Fatalf("channel %q is longer than PostgreSQL takes", long)
	}
}
