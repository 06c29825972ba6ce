package mta

// pacing_state.go keeps what pacing and warm-up learnt across a restart, in
// Options.PacingStateFile (data_dir/pacing.json): each slowed or paused destination's rate
// factor, pause, strikes and tokens, and each warm-up pool's counts for the running UTC day.
// It is read once by New and rewritten atomically (writeFileAtomic) by Run every
// stateSaveEvery when it changed, at once after a throttling reply, and at shutdown. A
// restart honours the time that passed: a pause ends at its saved instant, tokens refill
// from the saved moment, a day's counts apply only on that same UTC day.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"time"
)

// stateSaveEvery is how often Run writes the pacing state when it changed; a crash loses at
// most this much (a throttling reply is written at once).
const stateSaveEvery = 5 * time.Second

// pacingStateVersion is the version of the file's layout.
const pacingStateVersion = 1

// pacingFile is the layout of Options.PacingStateFile.
type pacingFile struct {
	Version      int                    `json:"version"`
	Saved        time.Time              `json:"saved"`
	Destinations map[string]destState   `json:"destinations,omitempty"` // by destination key
	Warmup       map[string]warmupState `json:"warmup,omitempty"`       // by IP pool name
}

// destState is a destination that is not at its configured rate: slowed down or paused.
type destState struct {
	Factor      float64   `json:"factor"`
	Tokens      float64   `json:"tokens"`
	Last        time.Time `json:"last"` // when Tokens were counted
	PausedUntil time.Time `json:"paused_until,omitzero"`
	Strikes     int       `json:"strikes,omitempty"`
}

// warmupState is a warm-up pool's messages per address on one UTC day.
type warmupState struct {
	Day  string         `json:"day"`
	Sent map[string]int `json:"sent"`
}

// snapshot returns the destinations that differ from a fresh one.
func (p *pacer) snapshot(now time.Time) map[string]destState {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]destState{}
	for k, b := range p.dests {
		if b.factor < 1 || b.strikes > 0 || b.paused.After(now) {
			out[k] = destState{Factor: b.factor, Tokens: b.tokens, Last: b.last, PausedUntil: b.paused, Strikes: b.strikes}
		}
	}
	return out
}

// restore puts saved destinations back, at the configured rate of today's config.
func (p *pacer) restore(saved map[string]destState, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, s := range saved {
		if len(p.dests) >= maxPacerDests {
			return
		}
		b := p.bucketLocked(k, now)
		b.factor = math.Min(1, math.Max(minRateFactor, s.Factor))
		if math.IsNaN(b.factor) {
			b.factor = 1
		}
		b.tokens = math.Min(float64(p.opts.Burst), math.Max(0, s.Tokens))
		if s.Last.Before(now) {
			b.last = s.Last // refilled from then at the next use
		}
		// A pause never outlasts the longest one the config gives, whatever the file says.
		if limit := now.Add(p.opts.MaxThrottleBackoff); s.PausedUntil.After(limit) {
			s.PausedUntil = limit
		}
		b.paused, b.strikes = s.PausedUntil, min(max(0, s.Strikes), 64)
	}
}

// snapshot returns the running day's counts of the pools with a warm-up schedule.
func (s *sources) snapshot(now time.Time) map[string]warmupState {
	out := map[string]warmupState{}
	for name, p := range s.pools {
		if len(p.Warmup) == 0 {
			continue
		}
		p.mu.Lock()
		p.roll(now)
		if len(p.sent) > 0 {
			out[name] = warmupState{Day: p.day, Sent: maps.Clone(p.sent)}
		}
		p.mu.Unlock()
	}
	return out
}

// restore puts back the counts saved on the running UTC day, for addresses the pool still has.
func (s *sources) restore(saved map[string]warmupState, now time.Time) {
	for name, w := range saved {
		p := s.pools[name]
		if p == nil || len(p.Warmup) == 0 {
			continue
		}
		p.mu.Lock()
		p.roll(now)
		if w.Day == p.day {
			for _, ip := range p.Addrs {
				if n, ok := w.Sent[ip.String()]; ok && n > 0 {
					p.sent[ip.String()] = n
				}
			}
		}
		p.mu.Unlock()
	}
}

// readPacingState loads the state file into the pacer and the sources. A missing file is a
// first start; an unreadable or corrupt one is moved aside (".corrupt") and reported, and
// the node starts from the configured rates.
func (d *Deliverer) readPacingState() error {
	path := d.opts.PacingStateFile
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("mta: pacing state: %w", err)
	}
	f, err := parsePacingState(b)
	if err != nil {
		_ = os.Rename(path, path+".corrupt")
		return fmt.Errorf("mta: pacing state %s (moved to .corrupt; starting from the configured rates): %w", path, err)
	}
	now := d.opts.Clock.Now()
	d.pacer.restore(f.Destinations, now)
	d.sources.restore(f.Warmup, now)
	return nil
}

// parsePacingState decodes a state file of this version.
func parsePacingState(b []byte) (pacingFile, error) {
	var f pacingFile
	if err := json.Unmarshal(b, &f); err != nil {
		return f, err
	}
	if f.Version != pacingStateVersion {
		return f, fmt.Errorf("version %d, want %d", f.Version, pacingStateVersion)
	}
	return f, nil
}

// pacingSaver writes the pacing state when it changed.
type pacingSaver struct {
	d    *Deliverer
	last []byte // the last state written, without its Saved time
}

// save writes the state file when its content changed since the last write.
func (s *pacingSaver) save() error {
	now := s.d.opts.Clock.Now()
	f := pacingFile{Version: pacingStateVersion, Destinations: s.d.pacer.snapshot(now),
		Warmup: s.d.sources.snapshot(now)}
	body, err := json.Marshal(f)
	if err != nil {
		return err
	}
	if bytes.Equal(body, s.last) {
		return nil
	}
	f.Saved = now.UTC()
	out, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileAtomic(s.d.opts.PacingStateFile, out); err != nil {
		return fmt.Errorf("mta: pacing state: %w", err)
	}
	s.last = body
	return nil
}

// runPacingState saves the state every stateSaveEvery, at once when the pacer says a
// destination was throttled, and a last time when ctx ends.
func (d *Deliverer) runPacingState(ctx context.Context) {
	s := &pacingSaver{d: d}
	tick := time.NewTicker(stateSaveEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			if err := s.save(); err != nil {
				d.log.Error("pacing state not saved", "err", err)
			}
			return
		case <-tick.C:
		case <-d.pacer.changed:
		}
		if err := s.save(); err != nil {
			d.log.Error("pacing state not saved", "err", err)
		}
	}
}
