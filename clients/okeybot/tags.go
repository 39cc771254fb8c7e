package okeybot

import (
	"context"
	"fmt"
	"net/http"

	"crmsync/clients/apiclient"
)

// TagsService handles the tags of Okeybot contacts.
//
// Okeybot docs: api-docs/okeybot-contacts-api.es.txt, "Agregar etiqueta por
// ID" and "Eliminar etiqueta por ID".
type TagsService service

// tagsRequest is the body of POST and DELETE /v1/contact/{id}/tags.
type tagsRequest struct {
	Tags []string `json:"tags"`
}

// Add adds tags to contact id. It sends tags as given: the vendor's limit of
// 10 tags per request is mapping's to keep. With no tags it sends nothing.
// Adding a tag twice is harmless, so the POST is marked idempotent and
// retried like a PUT.
//
// Okeybot docs: POST /v1/contact/{contact_id}/tags.
func (s *TagsService) Add(ctx context.Context, id string, tags []string) error {
	if len(tags) == 0 {
		return nil
	}
	ctx = apiclient.WithIdempotent(ctx)
	if err := s.ch.do(ctx, http.MethodPost, s.ch.contactPath(id, "/tags"), nil, tagsRequest{Tags: tags}, nil); err != nil {
		return fmt.Errorf("add okeybot tags to contact %s: %w", id, err)
	}
	return nil
}

// Remove removes tags from contact id, with a DELETE that carries a JSON
// body as the document shows. It sends tags as given (at most 10 per request
// is mapping's to keep); with no tags it sends nothing.
//
// Okeybot docs: DELETE /v1/contact/{contact_id}/tags.
func (s *TagsService) Remove(ctx context.Context, id string, tags []string) error {
	if len(tags) == 0 {
		return nil
	}
	if err := s.ch.do(ctx, http.MethodDelete, s.ch.contactPath(id, "/tags"), nil, tagsRequest{Tags: tags}, nil); err != nil {
		return fmt.Errorf("remove okeybot tags from contact %s: %w", id, err)
	}
	return nil
}
