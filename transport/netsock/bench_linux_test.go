package netsock

import "testing"

func BenchmarkCollectInProcess(b *testing.B) { suite.BenchmarkCollectInProcess(b) }
