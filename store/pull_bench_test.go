package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"crmsync/store"
	"crmsync/store/storetest"
)

// benchMessages returns n messages like the fake server generates, ids
// starting at offset.
func benchMessages(offset, n int) []store.MessageRow {
	rows := make([]store.MessageRow, n)
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range rows {
		k := offset + i
		user := fmt.Sprintf("user-%04d", k%1000)
		text := fmt.Sprintf("message %d", k)
		id := fmt.Sprintf("gen-1657703186-%d", k)
		raw := fmt.Sprintf(`{"channel":{"platform":"line","channelId":"1657703186"},"id":%q,"time":%d,"senderName":"Customer %s","senderUserId":%q,"senderPhone":null,"senderEmail":null,"senderType":"customer","messageType":"text","messageStatus":"read","message":%q,"mediaUrl":null,"roomId":"room-%s","customerUserId":%q}`,
			id, at.UnixMilli()+int64(k), user, user, text, user, user)
		rows[i] = store.MessageRow{
			ID: id, Platform: "line", ChannelID: "1657703186", RoomID: "room-" + user, CustomerUserID: user,
			SenderType: "customer", SenderName: "Customer " + user, SenderUserID: user, SentAt: at.Add(time.Duration(k) * time.Millisecond),
			MessageType: "text", MessageStatus: "read", Message: &text, Raw: []byte(raw),
		}
	}
	return rows
}

// BenchmarkWriteMessagesPage compares the production page writer (one
// statement with unnest'ed array parameters) with COPY into a staging table
// plus the same merge, for API-sized pages (100 rows) and bulk pages
// (10,000 rows). Each iteration writes a page of new rows.
//
//	go test -run '^$' -bench WriteMessagesPage -benchtime 3s ./store/
func BenchmarkWriteMessagesPage(b *testing.B) {
	writers := []struct {
		name  string
		write func(*store.Store, context.Context, store.PageMeta, []store.MessageRow, []store.BadRecord) (store.PageResult, error)
	}{
		{"Unnest", (*store.Store).WriteMessagesPage},
		{"Copy", (*store.Store).WriteMessagesPageCopy},
	}
	for _, size := range []int{100, 10000} {
		for _, w := range writers {
			b.Run(fmt.Sprintf("%s/%d", w.name, size), func(b *testing.B) {
				s := storetest.New(b)
				ctx := context.Background()
				ws, err := s.CreateWindows(ctx, store.StreamMessages, "line/1657703186",
					[]store.Span{{Start: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2025, 1, 2, 0, 0, 0, 0, time.UTC)}}, 0)
				require.NoError(b, err)
				meta := store.PageMeta{Stream: store.StreamMessages, Scope: "line/1657703186", WindowID: ws[0].ID, Page: 1, Received: size, TotalElements: -1}
				b.ReportAllocs()
				b.ResetTimer()
				for i := range b.N {
					b.StopTimer()
					page := benchMessages(i*size, size)
					b.StartTimer()
					res, err := w.write(s, ctx, meta, page, nil)
					if err != nil || res.Inserted != int64(size) {
						b.Fatalf("write: %v (%+v)", err, res)
					}
				}
				b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "rows/s")
			})
		}
	}
}
