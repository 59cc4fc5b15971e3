// Package bench holds pishm's cross-mode benchmarks and the anchors they are
// compared with (the C OpenMP program in anchor/).
//
//	go test -run='^$' -bench=Reduce -count=6 ./bench | tee new.txt
//	benchstat -col /mode new.txt
package bench
