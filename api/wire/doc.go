// Package wire holds the JSON shapes multimail speaks over HTTP (docs/api.md) and in
// webhooks (§5): request and response bodies of the API, the error envelope and webhook events.
// The api, api/webhook and api/mcp packages and any Go client share them.
//
// Compatibility rule: a type may gain fields in later versions and a reader must ignore the ones
// it does not know, so these types are decoded without DisallowUnknownFields on the client side.
// Field names are snake_case exactly as the contract names them; optional fields are omitted
// when empty.
package wire
