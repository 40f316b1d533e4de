//go:build race

package extractor

// raceEnabled: the race detector's shadow memory makes the OOM step of
// TestPoolHostile blow the test machine's memory before the worker's limit.
const raceEnabled = true
