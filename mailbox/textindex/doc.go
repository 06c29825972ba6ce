// Package textindex extracts the searchable text of a message and its byte
// trigrams, for the full-text index of the mailbox store and for the IMAP
// SEARCH matcher that verifies the index's candidates.
//
// IMAP SEARCH BODY and TEXT are case-insensitive substring matches on decoded
// text (RFC 9051 §6.4.4), which a word index cannot answer. The index instead
// keeps, per message, the set of byte trigrams of its lower-cased segments: a
// message that contains a needle of three bytes or more contains every trigram
// of the lower-cased needle inside one segment. So the messages whose trigram
// sets hold all of the needle's trigrams are a superset of the matches, and
// the matcher (Contains over Segments) decides. Both sides use Segments, so
// the index and the verifier can never disagree about what the text is.
//
// It imports only the standard library and go-message.
package textindex
