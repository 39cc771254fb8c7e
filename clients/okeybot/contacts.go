package okeybot

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strconv"
)

// ContactsService handles Okeybot contacts.
//
// Okeybot docs: api-docs/okeybot-contacts-api.es.txt, "API de Contactos".
type ContactsService service

// customFieldsRequest is the body of POST and PUT /v1/contact.
type customFieldsRequest struct {
	CustomFields []CustomField `json:"custom_fields"`
}

// Get returns one contact by its raw id.
//
// Okeybot docs: GET /v1/contact/{contact_id} ("Obtener contacto por ID").
func (s *ContactsService) Get(ctx context.Context, id string) (*Contact, error) {
	var resp struct {
		Data *Contact `json:"data"`
	}
	if err := s.ch.do(ctx, http.MethodGet, s.ch.contactPath(id, ""), nil, nil, &resp); err != nil {
		return nil, fmt.Errorf("get okeybot contact %s: %w", id, err)
	}
	if resp.Data == nil {
		return nil, fmt.Errorf("get okeybot contact %s: response has no data", id)
	}
	return resp.Data, nil
}

// ListByCustomField returns every contact whose custom field name equals
// value, following links.next to the last page. For a boolean field pass
// Bool(b) ("TRUE"/"FALSE"). See AllByCustomField to stream instead.
//
// Okeybot docs: GET /v1/contact/by_custom_field ("Obtener contacto por campo
// personalizado").
func (s *ContactsService) ListByCustomField(ctx context.Context, name, value string) ([]Contact, error) {
	var out []Contact
	for c, err := range s.AllByCustomField(ctx, name, value) {
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// byCustomFieldPage is one page of by_custom_field (Laravel paginator).
type byCustomFieldPage struct {
	Data  []Contact `json:"data"`
	Links struct {
		Next *string `json:"next"`
	} `json:"links"`
}

// AllByCustomField iterates over the contacts whose custom field name
// equals value, fetching pages as it goes.
//
// Only the page number is taken from links.next: the request is rebuilt on
// the configured base URL with name and value, because the document's
// links carry neither filter ("…/by_custom_field?page=1") and say "http://"
// where the API is https, and the channel token must not follow a link to
// another address. Paging stops at a null links.next or an empty page, and
// fails if links.next does not move forward. Errors never include value,
// which may be a phone number or an email.
//
// Okeybot docs: GET /v1/contact/by_custom_field.
func (s *ContactsService) AllByCustomField(ctx context.Context, name, value string) iter.Seq2[Contact, error] {
	return func(yield func(Contact, error) bool) {
		if name == "" {
			yield(Contact{}, errors.New("list okeybot contacts by custom field: empty field name"))
			return
		}
		q := url.Values{"name": {name}, "value": {value}}
		page := 1
		for {
			var resp byCustomFieldPage
			if err := s.ch.do(ctx, http.MethodGet, "/v1/contact/by_custom_field", q, nil, &resp); err != nil {
				yield(Contact{}, fmt.Errorf("list okeybot contacts by custom field %q, page %d: %w", name, page, err))
				return
			}
			for _, c := range resp.Data {
				if !yield(c, nil) {
					return
				}
			}
			if resp.Links.Next == nil || *resp.Links.Next == "" || len(resp.Data) == 0 {
				return
			}
			next, err := nextPage(*resp.Links.Next)
			if err != nil {
				yield(Contact{}, fmt.Errorf("list okeybot contacts by custom field %q, after page %d: %w", name, page, err))
				return
			}
			if next.page <= page {
				yield(Contact{}, fmt.Errorf("list okeybot contacts by custom field %q: links.next goes from page %d to %d", name, page, next.page))
				return
			}
			q = next.query
			q.Set("name", name)
			q.Set("value", value)
			q.Set("page", strconv.Itoa(next.page))
			page = next.page
		}
	}
}

// nextLink is what AllByCustomField keeps of a links.next URL.
type nextLink struct {
	page  int
	query url.Values
}

// nextPage reads the page number (and any other query parameter) from a
// links.next URL, absolute or relative.
func nextPage(link string) (nextLink, error) {
	u, err := url.Parse(link)
	if err != nil {
		return nextLink{}, fmt.Errorf("links.next is not a URL: %w", err)
	}
	q := u.Query()
	n, err := strconv.Atoi(q.Get("page"))
	if err != nil {
		return nextLink{}, errors.New("links.next has no page number")
	}
	return nextLink{page: n, query: q}, nil
}

// Create creates a contact with the given custom fields and returns its id.
// It sends fields as given: the vendor's limit of 30 fields per request is
// mapping's to keep. It is not retried after a failure the server may have
// acted on (POST /v1/contact is not idempotent: a repeat makes a duplicate).
//
// Okeybot docs: POST /v1/contact ("Crear contacto").
func (s *ContactsService) Create(ctx context.Context, fields []CustomField) (string, error) {
	if fields == nil {
		fields = []CustomField{}
	}
	var resp struct {
		Data struct {
			ID flexID `json:"id"`
		} `json:"data"`
	}
	if err := s.ch.do(ctx, http.MethodPost, "/v1/contact", nil, customFieldsRequest{CustomFields: fields}, &resp); err != nil {
		return "", fmt.Errorf("create okeybot contact: %w", err)
	}
	if resp.Data.ID == "" {
		return "", errors.New("create okeybot contact: response has no id")
	}
	return string(resp.Data.ID), nil
}

// Update sets the given custom fields of contact id; Okeybot merges them by
// name and leaves other fields alone. It sends fields as given (at most 30
// per request is mapping's to keep); with no fields it sends nothing.
//
// Okeybot docs: PUT /v1/contact/{contact_id} ("Actualizar contacto por ID").
func (s *ContactsService) Update(ctx context.Context, id string, fields []CustomField) error {
	if len(fields) == 0 {
		return nil
	}
	if err := s.ch.do(ctx, http.MethodPut, s.ch.contactPath(id, ""), nil, customFieldsRequest{CustomFields: fields}, nil); err != nil {
		return fmt.Errorf("update okeybot contact %s: %w", id, err)
	}
	return nil
}
