// Command vetting measures workbook export and import: wall time and peak
// RSS (VmHWM) for generated results of the given sizes. Each phase runs in
// its own child process so the peaks do not mix.
//
//	go run ./bench/vetting -rows 10000,100000
package main
