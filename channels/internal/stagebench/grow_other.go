//go:build !linux

package main

func growStdout() {}
