package audit

// keys.go builds the journal's keys; doc.go draws the layout.

import "encoding/binary"

// keyPrefix is the first byte of every key this package owns.
const keyPrefix = 'a'

const (
	famRecord byte = 0x01
	famCkpt   byte = 0x02
	famAnchor byte = 0x03
	famSecret byte = 0x04
)

func famKey(f byte) []byte { return []byte{keyPrefix, f} }

func recordKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(famKey(famRecord), seq) }
func ckptKey(seq uint64) []byte   { return binary.BigEndian.AppendUint64(famKey(famCkpt), seq) }
func anchorKey() []byte           { return famKey(famAnchor) }
func secretKey(name string) []byte {
	return append(famKey(famSecret), name...)
}

// seqOf returns the seq of a record or checkpoint key.
func seqOf(k []byte) (uint64, bool) {
	if len(k) != 10 || k[0] != keyPrefix {
		return 0, false
	}
	return binary.BigEndian.Uint64(k[2:]), true
}

// prefixEnd returns the smallest key above every key starting with p.
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		end[i]++
		if end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil
}
