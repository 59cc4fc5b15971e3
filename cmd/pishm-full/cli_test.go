package main

import "github.com/pishm/pishm/cmd/internal/cli"

// The command line lives in package cli; the tests here run it in
// process, as main does.
var (
	run         = cli.Run
	exitCode    = cli.ExitCode
	asFlagError = cli.AsFlagError
	kernelNames = cli.KernelNames
)

type usageError = cli.UsageError
