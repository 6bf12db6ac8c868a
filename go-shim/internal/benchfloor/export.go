package benchfloor

import "C"

import "sync/atomic"

// goNoops counts the C extension's calls, so the Go side does something
// the compiler cannot drop (as a real binding's function would).
var goNoops atomic.Uint64

//export benchfloorGoNoop
func benchfloorGoNoop() { goNoops.Add(1) }

// GoNoops is how many times the C extension has called Go.
func GoNoops() uint64 { return goNoops.Load() }
