//go:build !race

package extractor

const raceEnabled = false
