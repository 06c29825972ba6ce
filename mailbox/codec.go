package mailbox

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
)

// Values: every record value is one version byte (valueV1) followed by JSON.
// Index values are raw (see doc.go). A value that does not decode is corrupt:
// scans skip and log it, point reads return ErrCorrupt.
const (
	valueV1       byte = 1
	schemaVersion byte = 1
)

func encodeValue(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("mailbox: encode %T: %v", v, err)) // our own types always encode
	}
	return append([]byte{valueV1}, b...)
}

func decodeValue(b []byte, v any) error {
	if len(b) == 0 || b[0] != valueV1 {
		return fmt.Errorf("%w: unknown value version", ErrCorrupt)
	}
	if err := json.Unmarshal(b[1:], v); err != nil {
		return fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return nil
}

// folderRecord is the value of m 06 <fid>.
type folderRecord struct {
	Mailbox       string `json:"mailbox"`
	Name          string `json:"name"`
	SpecialUse    string `json:"special_use,omitempty"`
	UIDValidity   uint32 `json:"uid_validity"`
	UIDNext       uint32 `json:"uid_next"`
	HighestModSeq uint64 `json:"highest_modseq"`
	Messages      uint32 `json:"messages"`
	Unseen        uint32 `json:"unseen"`
	Subscribed    bool   `json:"subscribed"`
	// Tombstones counts the folder's m 12 keys; VanishedFloor is the highest modseq of a
	// pruned one (changes.go).
	Tombstones    int    `json:"tombstones,omitempty"`
	VanishedFloor uint64 `json:"vanished_floor,omitempty"`
}

func (r folderRecord) view() Folder {
	return Folder{Name: r.Name, SpecialUse: r.SpecialUse, UIDValidity: r.UIDValidity, UIDNext: r.UIDNext,
		Messages: r.Messages, Unseen: r.Unseen, HighestModSeq: r.HighestModSeq, Subscribed: r.Subscribed}
}

// fidValue encodes a folder ID as an index value (time and keyword indexes).
func fidValue(fid uint64) []byte { return binary.BigEndian.AppendUint64(nil, fid) }

func decodeFID(b []byte) (uint64, error) {
	if len(b) != folderIDLen {
		return 0, fmt.Errorf("%w: folder id of %d bytes", ErrCorrupt, len(b))
	}
	return binary.BigEndian.Uint64(b), nil
}

func decodeULID(b []byte) (ulid, error) {
	var id ulid
	if len(b) != ulidLen {
		return id, fmt.Errorf("%w: id of %d bytes", ErrCorrupt, len(b))
	}
	copy(id[:], b)
	return id, nil
}
