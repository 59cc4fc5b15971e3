module github.com/pishm/pishm

go 1.26.8

require (
	github.com/edsrzf/mmap-go v1.2.0
	github.com/klauspost/cpuid/v2 v2.4.2
)

require golang.org/x/sys v0.49.0
