package imapserver

import "github.com/emersion/go-imap/v2"

// forkCaps are the capabilities of multimail's fork (sort.go, multiappend.go,
// compress.go, quota.go)
// that the session supports and the server's options enable; availableCaps
// appends them after authentication.
func (c *Conn) forkCaps(available imap.CapSet) []imap.Cap {
	var caps []imap.Cap
	if _, ok := c.session.(SessionSort); ok {
		addAvailableCaps(&caps, available, []imap.Cap{imap.CapSort, imap.CapSortDisplay, imap.CapESort})
	}
	if _, ok := c.session.(SessionThread); ok {
		addAvailableCaps(&caps, available, []imap.Cap{CapThreadOrderedSubject, CapThreadReferences})
	}
	if _, ok := c.session.(SessionContext); ok {
		addAvailableCaps(&caps, available, []imap.Cap{CapContextSearch, CapContextSort})
	}
	if _, ok := c.multiAppend(); ok {
		caps = append(caps, imap.CapMultiAppend)
	}
	if _, ok := c.quotaSession(); ok {
		addAvailableCaps(&caps, available, []imap.Cap{imap.CapQuota, CapQuotaResStorage, CapQuotaResMessage})
	}
	if !c.compressed {
		addAvailableCaps(&caps, available, []imap.Cap{CapCompressDeflate})
	}
	return caps
}
