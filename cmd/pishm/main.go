package main

import "github.com/pishm/pishm/cmd/internal/cli"

// pishm's plain run links only the engine and the shared-memory modes;
// cli.Run hands the rest to pishm-full.
func main() { cli.Main() }
