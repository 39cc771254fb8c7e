package omnichat

import (
	"context"
	"encoding/json"
	"iter"
	"net/url"
	"strconv"
	"time"
)

// BadRecord is a row of a page that could not be decoded or failed
// validation. The page it came in is still returned; the caller records the
// row (raw JSON and reason) and goes on.
type BadRecord struct {
	Raw    json.RawMessage // the row exactly as the API sent it
	Reason string          // why it was refused, e.g. "missing id"
}

// envelope is the paged response {"content": [...], "totalElements": N}.
type envelope struct {
	Content       []json.RawMessage `json:"content"`
	TotalElements *int              `json:"totalElements"`
}

// decodeRows decodes each raw row on its own, splitting good rows from bad.
// Raw rows are copied so they do not pin the response buffer.
func decodeRows[T any](rows []json.RawMessage, decode func(json.RawMessage) (T, error)) ([]T, []BadRecord) {
	good := make([]T, 0, len(rows))
	var bad []BadRecord
	for _, r := range rows {
		raw := json.RawMessage(append([]byte(nil), r...))
		v, err := decode(raw)
		if err != nil {
			bad = append(bad, BadRecord{Raw: raw, Reason: err.Error()})
			continue
		}
		good = append(good, v)
	}
	return good, bad
}

// pageInfo is what the paging loop needs to know about one fetched page.
type pageInfo struct {
	rows     int  // rows in content, good and bad
	total    int  // totalElements
	hasTotal bool // whether the response carried totalElements
}

// PageCursor follows Omnichat's page-number paging (page, pageSize) through
// one window. The API counts a page as rows (page−1)·pageSize onwards, and a
// server may serve fewer rows per page than asked without saying so (the
// tagging-log endpoint documents no maximum pageSize): a short page is then
// not the last page while rows are missing, and the next page must be asked
// at the size actually served, or page 2 at pageSize 100 would skip rows
// 20–99 of a server serving 20.
//
// The zero value is not usable; start with NewPageCursor.
type PageCursor struct {
	// Page is the page to ask for next (1-based).
	Page int
	// Size is the pageSize to ask for it with.
	Size int
	// full is set once a page at Size came full: a short page after it is
	// the end of the rows, not a server cap.
	full bool
}

// NewPageCursor returns a cursor at page (at least 1) asking size rows per
// page (DefaultPageSize when below 1). A cursor resumed past page 1 trusts
// its size: it was served before.
func NewPageCursor(page, size int) PageCursor {
	if page < 1 {
		page = 1
	}
	if size < 1 {
		size = DefaultPageSize
	}
	return PageCursor{Page: page, Size: size, full: page > 1}
}

// Offset returns how many rows come before Page at Size.
func (c PageCursor) Offset() int { return (c.Page - 1) * c.Size }

// Advance records what the page asked for (Page at Size) brought: received
// rows (good and bad), and totalElements when hasTotal (a total of 0 with
// rows is no usable total). It moves the cursor to the next page and
// reports whether there is one to ask for:
//
//   - an empty page, or a page reaching totalElements, is the last;
//   - a full page is followed by the next one;
//   - a short page is the last when there is no usable total, or after a
//     full page at this size (rows moved or went away: a count check tells);
//   - otherwise the server serves at most received rows per page: the
//     cursor goes on at that size from the row after this page.
//
// restarted reports the rare case where that row is not on a page boundary
// of the new size: the cursor is then back at page 1 and rows already read
// come again (harmless to an idempotent writer).
func (c *PageCursor) Advance(received, total int, hasTotal bool) (more, restarted bool) {
	if received <= 0 {
		return false, false
	}
	end := c.Offset() + received // rows up to the end of this page
	known := hasTotal && total > 0
	if known && end >= total {
		return false, false
	}
	if received >= c.Size {
		c.full = true
		c.Page++
		return true, false
	}
	if !known || c.full {
		return false, false
	}
	c.Size, c.full = received, false
	if end%received == 0 {
		c.Page = end/received + 1
		return true, false
	}
	c.Page = 1
	return true, true
}

// pages walks pages from first on, pageSize rows asked per page, calling
// fetch, and stops as PageCursor.Advance says, or at the first error
// (yielded last). A server serving fewer rows than asked is followed at the
// size it serves.
func pages[P any](ctx context.Context, first, pageSize int,
	fetch func(ctx context.Context, page, pageSize int) (P, pageInfo, error)) iter.Seq2[P, error] {
	return func(yield func(P, error) bool) {
		cur := NewPageCursor(first, pageSize)
		for {
			p, info, err := fetch(ctx, cur.Page, cur.Size)
			if err != nil {
				var zero P
				yield(zero, err)
				return
			}
			if info.rows == 0 {
				return
			}
			if !yield(p, nil) {
				return
			}
			if more, _ := cur.Advance(info.rows, info.total, info.hasTotal); !more {
				return
			}
		}
	}
}

// items flattens an iterator of pages into one of their good rows.
func items[P any, T any](ps iter.Seq2[P, error], rows func(P) []T) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		for p, err := range ps {
			if err != nil {
				var zero T
				yield(zero, err)
				return
			}
			for _, it := range rows(p) {
				if !yield(it, nil) {
					return
				}
			}
		}
	}
}

// setWindow adds a [after, before) pair of epoch-millisecond parameters,
// skipping zero times.
func setWindow(q url.Values, afterKey string, after time.Time, beforeKey string, before time.Time) {
	if !after.IsZero() {
		q.Set(afterKey, strconv.FormatInt(after.UnixMilli(), 10))
	}
	if !before.IsZero() {
		q.Set(beforeKey, strconv.FormatInt(before.UnixMilli(), 10))
	}
}

// setPage adds page (default 1) and pageSize (default DefaultPageSize):
// the contacts reference marks both required, so they are always sent.
func setPage(q url.Values, page, pageSize int) {
	if page < 1 {
		page = 1
	}
	if pageSize < 1 {
		pageSize = DefaultPageSize
	}
	q.Set("page", strconv.Itoa(page))
	q.Set("pageSize", strconv.Itoa(pageSize))
}

// total returns totalElements, 0 when absent.
func (e envelope) total() int {
	if e.TotalElements == nil {
		return 0
	}
	return *e.TotalElements
}

// info summarises the envelope for the paging loop.
func (e envelope) info() pageInfo {
	return pageInfo{rows: len(e.Content), total: e.total(), hasTotal: e.TotalElements != nil}
}
