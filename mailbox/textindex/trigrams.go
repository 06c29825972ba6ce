package textindex

import (
	"slices"
)

// Trigram is three consecutive bytes of lower-cased text, packed big-endian
// into the low 24 bits.
type Trigram uint32

func trigramAt(b []byte, i int) Trigram {
	return Trigram(b[i])<<16 | Trigram(b[i+1])<<8 | Trigram(b[i+2])
}

// Bytes is the trigram's three bytes.
func (t Trigram) Bytes() [3]byte { return [3]byte{byte(t >> 16), byte(t >> 8), byte(t)} }

// Parse reads a trigram from its three bytes.
func Parse(b [3]byte) Trigram { return trigramAt(b[:], 0) }

// NeedleTrigrams returns the distinct trigrams of the lower-cased needle,
// sorted. A needle shorter than three bytes has none: the index cannot narrow
// a search for it.
func NeedleTrigrams(needle string) []Trigram {
	return distinct(nil, Lower(needle))
}

// SegmentTrigrams returns the distinct trigrams of every segment, sorted;
// no trigram spans two segments (a match never does).
func SegmentTrigrams(segs []Segment) []Trigram {
	var out []Trigram
	for _, s := range segs {
		out = appendTrigrams(out, s.Text)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func distinct(out []Trigram, b []byte) []Trigram {
	out = appendTrigrams(out, b)
	slices.Sort(out)
	return slices.Compact(out)
}

// appendTrigrams appends every trigram of b, repeats included; a long run of
// one trigram (padding, a line of dashes) is appended once.
func appendTrigrams(out []Trigram, b []byte) []Trigram {
	last := Trigram(1 << 24) // no trigram
	for i := 0; i+3 <= len(b); i++ {
		if t := trigramAt(b, i); t != last {
			out = append(out, t)
			last = t
		}
	}
	return out
}
