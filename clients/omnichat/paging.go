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

// pages walks pages first, first+1, … calling fetch, and stops after an
// empty page, a page shorter than pageSize, once the rows seen reach the
// latest totalElements, or at the first error (yielded last).
func pages[P any](ctx context.Context, first, pageSize int,
	fetch func(ctx context.Context, page int) (P, pageInfo, error)) iter.Seq2[P, error] {
	if first < 1 {
		first = 1
	}
	if pageSize < 1 {
		pageSize = DefaultPageSize
	}
	return func(yield func(P, error) bool) {
		seen := 0
		for page := first; ; page++ {
			p, info, err := fetch(ctx, page)
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
			seen += info.rows
			if info.rows < pageSize || info.hasTotal && seen >= info.total-(first-1)*pageSize {
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
