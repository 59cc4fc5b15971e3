package transport_test

import "testing"

func BenchmarkCollectInProcess(b *testing.B) { suite.BenchmarkCollectInProcess(b) }
