package redis

import "testing"

func BenchmarkCollectInProcess(b *testing.B) { suite(b).BenchmarkCollectInProcess(b) }
