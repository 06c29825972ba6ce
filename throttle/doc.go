// Package throttle owns the throttling of failed logins: per client address and per account,
// shared by every door that checks a secret (IMAP LOGIN/AUTHENTICATE, SMTP AUTH, the HTTP API's
// bearer key). It knows nothing of protocols; each door asks Check before it looks at the
// secret, reports Failure or Success after, and maps ErrThrottled to its own reply.
//
// # Model
//
// A client is an IPv4 address or an IPv6 /64 (one customer's network). Each client has a
// failure count. Once it reaches Options.MaxFailures the client is refused, without its secret
// being checked, for Backoff; every further failure doubles that window, up to MaxBackoff
// (fail2ban's ban, with Dovecot's growing auth penalty as the schedule). A refused attempt
// costs no password hash and no store lookup, so an attacker cannot keep guessing; the server
// holds no goroutine for it (the backoff is a refusal window, not a delayed reply).
//
// Counts decay: after each quiet HalfLife (no failure, not inside a refusal window) a count
// halves, so a user who mistypes a few times a day never reaches the threshold. A success
// forgets the client's count when all its counted failures were on that same account; failures
// on other accounts stay, so a client cannot reset its count by logging in to an account it
// owns between guesses at another.
//
// Each account (the login name, lower-cased) has a failure count too, summed over every
// client. At AccountMaxFailures the account is under attack: a client that has failed before
// (any failure still counted) is then refused on that account for Backoff doubled per its own
// failures, even below MaxFailures. That slows a spray from many addresses to a few guesses per
// address. A client with no counted failure still gets through, and so does a (client,
// account) pair that logged in successfully within KnownFor: the owner is never locked out by
// someone else's failures. A known pair also passes its client's refusal window (the user's
// phone and an attacker behind the same NAT); its first failure forgets it.
//
// # Memory
//
// The client, account and known-pair tables are LRU caches of at most MaxEntries each: a
// flood of new addresses or names evicts the least recently seen entries (an evicted client
// starts again from zero, as a fresh address would) and never grows memory: an entry takes
// about 210 bytes (login names are kept as 64-bit hashes, whatever their length), so the
// default 50 000 a table is about 32 MiB with all three full, measured. Entries whose count has
// decayed to zero are dropped as they are met.
//
// A nil *Limiter is valid and throttles nothing.
package throttle
