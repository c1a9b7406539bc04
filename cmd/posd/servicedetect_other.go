//go:build !windows

package main

// parentImage is only needed on Windows.
func parentImage() string { return "" }
