// Package model holds the checked model of multimail's send state machine (gating.pml, in
// Promela) and the tests that check it with spin: the safety properties of oversight (no
// gated message reaches delivery without an approval record; a rejected or cancelled one
// never does; an approval is decided once; every acknowledged recipient gets exactly one
// terminal state, whatever crashes and lost leases happen; a second copy at the MX only from
// a commit that was lost), liveness under weak fairness, and deliberately broken variants
// that spin must catch. docs/oversight-model.md says what is proved and what is assumed.
//
// It also holds the model's transition rules in Go (trail.go), so that real event trails
// recorded by the queue can be replayed against them.
package model
