//go:build !race

package ike_test

const raceEnabled = false
