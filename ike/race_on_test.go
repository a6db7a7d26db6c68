//go:build race

package ike_test

// raceEnabled shortens the single-goroutine lossy simulation under the race
// detector, which it slows tenfold without adding concurrency to check.
const raceEnabled = true
