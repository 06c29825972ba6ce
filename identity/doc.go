// Package identity owns multimail's signed identity header (docs/oversight-model.md): the
// Multimail-Identity header field that names the sending mailbox, its oversight mode and how
// the message was released, and the second DKIM-Signature (a=ed25519-sha256, RFC 8463, its
// own selector, "mmid1" first) that binds that field to From, To, Subject, Date, Message-ID
// and the whole body, so that a recipient who does not trust the operator can check, offline,
// which mailbox sent a message and whether a person or a rule released it.
//
// It owns:
//   - the header's grammar (Header, Format, ParseHeader; docs/identity.md is the reference);
//   - the identity keys: generation (GenerateKey), parsing, their DKIM TXT record (TXT) and
//     the JSON key set served at /.well-known/multimail-identity (KeySet, Key);
//   - signing (Sign: removes any Multimail-Identity already present, adds ours and the
//     identity DKIM-Signature on top);
//   - verifying (Verify, with a key lookup from a KeySet or DNS), with typed failures
//     (ErrMissingHeader, ErrNoSignature, ErrUnknownKey, ErrRevokedKey, ErrBodyHash,
//     ErrBadSignature, ErrNotAligned, ErrMalformed).
//
// It is a leaf: it knows nothing of mailboxes or queues. submission signs at release, api
// publishes the keys, inbound removes forged fields, cmd/multimail verifies.
//
// The header never names an approver, a rule, a key id or a Bcc recipient: ref is the opaque
// approval id an auditor resolves in the audit journal.
package identity
